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


def amass(features: torch.Tensor, proposals: torch.Tensor, mode: str = "pad",
          width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack each proposal's own feature columns into the 3D input X (paper Fig. 1).

    features: Tensor[B, F, T]; proposals: long Tensor[P, 3] rows (batch index, start_idx, end_idx)
    covering snippets start_idx .. end_idx - 1 (end exclusive, 1 <= length <= T).
    mode "pad": columns left-aligned and zero-padded (the paper); "resample": linearly resampled to T points.
    width: steps kept (default T; in "pad" mode any width >= the longest proposal gives the same model outputs).
    Returns X: Tensor[P, F, width] and valid: bool Tensor[P, width].
    """
    B, Fdim, T = features.shape
    b, start, end = proposals.unbind(1)
    length = (end - start).clamp(min=1)
    rows = torch.cat([features.transpose(1, 2).reshape(B * T, Fdim), features.new_zeros(1, Fdim)])  # (B*T + 1, F)
    if mode == "pad":
        steps = torch.arange(width or T, device=features.device)
        valid = steps[None, :] < length[:, None]  # (P, width)
        index = torch.where(valid, (b * T + start)[:, None] + steps[None, :], B * T)  # (P, width); B*T: zero row
        return rows[index].transpose(1, 2).contiguous(), valid  # (P, F, width)
    if mode == "resample":
        steps = torch.arange(T, device=features.device)
        # the proposal's snippets start .. end - 1 sampled at T evenly spaced points
        pos = start[:, None] + (length - 1)[:, None].to(features.dtype) * steps[None, :] / max(T - 1, 1)  # (P, T)
        lo = pos.floor().long().clamp(0, T - 1)
        hi = torch.minimum(lo + 1, (end - 1)[:, None])
        frac = (pos - lo).unsqueeze(-1)  # (P, T, 1)
        x = rows[(b * T)[:, None] + lo] * (1 - frac) + rows[(b * T)[:, None] + hi] * frac  # (P, T, F)
        return x.transpose(1, 2).contiguous(), torch.ones_like(lo, dtype=torch.bool)  # (P, F, T)
    raise ValueError(f"amassment mode must be 'pad' or 'resample', got {mode!r}")


class TemporalAttention(nn.Module):
    """One Linear(T, T) along time, shared by all F channels (Table 2): A = softmax_t(W x + b), AX = A * X.

    mode "softmax" (paper), "sigmoid" (a gate per step) or "uniform" (no attention: A = 1, the ablation).
    """

    def __init__(self, temporal_scale: int, mode: str = "softmax"):
        super().__init__()
        if mode not in ("softmax", "sigmoid", "uniform"):
            raise ValueError(f"attention must be softmax, sigmoid or uniform, got {mode!r}")
        self.mode = mode
        self.linear = nn.Linear(temporal_scale, temporal_scale) if mode != "uniform" else None

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x: Tensor[P, F, W], valid: bool Tensor[P, W], W <= T -> AX: Tensor[P, F, W]."""
        if self.linear is None:
            return x
        n = x.shape[-1]
        logits = F.linear(x, self.linear.weight[:n, :n], self.linear.bias[:n])  # (P, F, W): one W for all channels
        if self.mode == "sigmoid":
            return torch.sigmoid(logits) * x  # x is already zero on padded steps
        logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
        return torch.softmax(logits, dim=-1) * x


class SequentialHead(nn.Module):
    """Two-dimensional sequential network (Eq. 1): time first, shared by all channels, then content.

    Stage 1: H_f = ReLU(sum_j w_j AX[f, j] + b), one Linear(T, 1) -> H: (P, F).
    Stage 2: Linear(F, out) -> (P, out); the activation (tanh, log-softmax) is the caller's.
    """

    def __init__(self, temporal_scale: int, feature_dim: int, out_dim: int, attention: str = "softmax"):
        super().__init__()
        self.attention = TemporalAttention(temporal_scale, attention)
        self.time = nn.Linear(temporal_scale, 1)
        self.content = nn.Linear(feature_dim, out_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x: Tensor[P, F, W], valid: bool Tensor[P, W], W <= T -> Tensor[P, out_dim] (before activation)."""
        ax = self.attention(x, valid)  # (P, F, W)
        n = x.shape[-1]
        h = torch.relu(F.linear(ax, self.time.weight[:, :n], self.time.bias).squeeze(-1))  # Eq. 1: (P, F)
        return self.content(h)  # (P, out)
