"""3D input amassment (3.2), temporal attention (3.3) and the two-dimensional sequential network (3.4).

The heads' invariant, which every operation over time here must keep: with zero padding ("pad", the
paper's 3D input) a proposal of L snippets has zeros in steps L .. T-1 and its attention there is
masked, so every layer below gives exactly the same numbers when X is cut to any width >= L and the
T x T weights to their leading width x width block (`weight[:n, :n]`). `SeqAttNet.heads` uses that to
run proposals in groups of similar length: the cost follows the proposals' lengths, not T. A new
attention mode or layer that mixes steps (a convolution over time, a normalisation over the whole
width, padding that is not masked) breaks it; tests/model/test_heads_invariant.py
(`test_heads_do_not_depend_on_the_padded_width`, every attention mode and error head) then fails.
"resample" stretches each proposal to T points: no padding, one group of width T.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def widen(proposals: torch.Tensor, temporal_scale: int, context: float) -> torch.Tensor:
    """Widen each proposal by `context` x its length on both sides, clipped to [0, T].

    proposals: long Tensor[P, 3] (batch index, start_idx, end_idx) -> the same layout.
    context 0 (the paper) returns them unchanged: the heads see the proposal's own columns only.
    """
    if context <= 0:
        return proposals
    b, start, end = proposals.unbind(1)
    margin = torch.ceil(context * (end - start).double()).long()
    return torch.stack([b, (start - margin).clamp(min=0), (end + margin).clamp(max=temporal_scale)], dim=1)


def interpolate(rows: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """rows[lo] * (1 - frac) + rows[hi] * frac, gathered and weighted in one pass (an embedding bag of two).

    rows: Tensor[N, F]; lo, hi: long Tensor[P, W]; frac: Tensor[P, W] -> Tensor[P, W, F]. The unfused
    form writes five (P, W, F) tensors; this reads each row once and writes the result once.
    """
    index = torch.stack([lo, hi], dim=-1).flatten(0, 1)  # (P*W, 2)
    weight = torch.stack([1 - frac, frac], dim=-1).flatten(0, 1)  # (P*W, 2)
    x = F.embedding_bag(index, rows, per_sample_weights=weight, mode="sum")  # (P*W, F)
    return x.view(*lo.shape, rows.shape[1])  # (P, W, F)


def amass(features: torch.Tensor, proposals: torch.Tensor, mode: str = "pad",
          width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack each proposal's own feature columns into the 3D input X (paper Fig. 1), time-major.

    features: Tensor[B, F, T]; proposals: long Tensor[P, 3] rows (batch index, start_idx, end_idx)
    covering snippets start_idx .. end_idx - 1 (end exclusive, 1 <= length <= T).
    mode "pad": columns left-aligned and zero-padded (the paper); "resample": linearly resampled to T points.
    width: steps kept (default T; in "pad" mode any width >= the longest proposal gives the same model outputs).
    Returns X: Tensor[P, width, F] (step j of proposal p is X[p, j]: the gather's own layout, no transpose)
    and valid: bool Tensor[P, width].
    """
    B, Fdim, T = features.shape
    b, start, end = proposals.unbind(1)
    length = (end - start).clamp(min=1)
    rows = torch.cat([features.transpose(1, 2).reshape(B * T, Fdim), features.new_zeros(1, Fdim)])  # (B*T + 1, F)
    if mode == "pad":
        steps = torch.arange(width or T, device=features.device)
        valid = steps[None, :] < length[:, None]  # (P, width)
        index = torch.where(valid, (b * T + start)[:, None] + steps[None, :], B * T)  # (P, width); B*T: zero row
        return rows[index], valid  # (P, width, F)
    if mode == "resample":
        steps = torch.arange(T, device=features.device)
        # the proposal's snippets start .. end - 1 sampled at T evenly spaced points
        pos = start[:, None] + (length - 1)[:, None].to(features.dtype) * steps[None, :] / max(T - 1, 1)  # (P, T)
        lo = pos.floor().long().clamp(0, T - 1)
        hi = torch.minimum(lo + 1, (end - 1)[:, None])
        x = interpolate(rows, (b * T)[:, None] + lo, (b * T)[:, None] + hi, pos - lo)  # (P, T, F)
        return x, torch.ones_like(lo, dtype=torch.bool)
    raise ValueError(f"amassment mode must be 'pad' or 'resample', got {mode!r}")


class TemporalAttention(nn.Module):
    """One Linear(T, T) along time, shared by all F channels (Table 2): A = softmax_t(W x + b), AX = A * X.

    mode "softmax" (paper), "sigmoid" (a gate per step) or "uniform" (no attention: A = 1, the ablation).
    It returns A as weights E and a divisor S, A = E / S, so that the head can divide after contracting
    time: by a (P, F) tensor instead of the (P, W, F) one.
    """

    def __init__(self, temporal_scale: int, mode: str = "softmax"):
        super().__init__()
        if mode not in ("softmax", "sigmoid", "uniform"):
            raise ValueError(f"attention must be softmax, sigmoid or uniform, got {mode!r}")
        self.mode = mode
        self.linear = nn.Linear(temporal_scale, temporal_scale) if mode != "uniform" else None

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """x: Tensor[P, W, F], valid: bool Tensor[P, W], W <= T -> E: Tensor[P, W, F] (a new tensor: the
        caller may overwrite it) and S: Tensor[P, F] with A = E / S[:, None] (S None: A = E; both None: A = 1)."""
        if self.linear is None:
            return None, None
        P, n = x.shape[:2]
        bias = self.linear.bias[:n, None]  # (W, 1): one W x + b for all channels
        if self.mode == "softmax":  # padded steps get -inf logits through the bias: no separate masking pass
            bias = bias + torch.zeros_like(valid, dtype=x.dtype).masked_fill(~valid, float("-inf"))[:, :, None]
        logits = torch.baddbmm(bias, self.linear.weight[:n, :n].expand(P, n, n), x)  # (P, W, F)
        # in place below: baddbmm's backward does not read its output; sigmoid_ and exp_ save theirs, so the
        # head writes into E only when no graph keeps it
        if self.mode == "sigmoid":
            return logits.sigmoid_(), None  # x is already zero on padded steps
        # softmax over time in pieces: the max only steadies exp (A does not depend on it: no gradient)
        e = logits.sub_(logits.detach().amax(dim=1, keepdim=True)).exp_()  # (P, W, F); 0 on padded steps
        return e, e.sum(dim=1)  # (P, W, F), (P, F)


class SequentialHead(nn.Module):
    """Two-dimensional sequential network (Eq. 1): time first, shared by all channels, then content.

    Stage 1: H_f = ReLU(sum_j w_j AX[j, f] + b), one Linear(T, 1) -> H: (P, F).
    Stage 2: Linear(F, out) -> (P, out); the activation (tanh, log-softmax) is the caller's.
    """

    def __init__(self, temporal_scale: int, feature_dim: int, out_dim: int, attention: str = "softmax"):
        super().__init__()
        self.attention = TemporalAttention(temporal_scale, attention)
        self.time = nn.Linear(temporal_scale, 1)
        self.content = nn.Linear(feature_dim, out_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x: Tensor[P, W, F], valid: bool Tensor[P, W], W <= T -> Tensor[P, out_dim] (before activation)."""
        e, s = self.attention(x, valid)  # A = e / s
        if e is not None:
            # e * x is A * X up to the divisor; without a graph to keep e for, it is written into e
            x = e * x if e.requires_grad else e.mul_(x)  # (P, W, F)
        P, n = x.shape[:2]
        h = torch.bmm(self.time.weight[:, :n].expand(P, 1, n), x).squeeze(1)  # Eq. 1, sum over time: (P, F)
        h = torch.relu((h if s is None else h / s) + self.time.bias)  # (P, F)
        return self.content(h)  # (P, out)
