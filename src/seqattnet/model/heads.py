"""3D input amassment (3.2), temporal attention (3.3) and the two-dimensional sequential network (3.4)."""

from __future__ import annotations

import torch
from torch import nn


def amass(features: torch.Tensor, proposals: torch.Tensor, mode: str = "pad",
          context: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack each proposal's own feature columns into the 3D input X (paper Fig. 1).

    features: Tensor[B, F, T]; proposals: long Tensor[P, 3] rows (batch index, start_idx, end_idx)
    covering snippets start_idx .. end_idx - 1 (end exclusive, 1 <= length <= T).
    mode "pad": columns left-aligned and zero-padded to T; "resample": linearly resampled to T points.
    context > 0 widens each proposal by context x its length on both sides (clipped to the video), so
    the heads also see what lies just outside it; 0 (the paper) takes the proposal's columns only.
    Returns X: Tensor[P, F, T] and valid: bool Tensor[P, T].
    """
    B, F, T = features.shape
    b, start, end = proposals.unbind(1)
    if context > 0:
        margin = torch.ceil(context * (end - start).to(features.dtype)).long()
        start, end = (start - margin).clamp(min=0), (end + margin).clamp(max=T)
    length = (end - start).clamp(min=1)
    steps = torch.arange(T, device=features.device)
    zero_row = B * T
    rows = torch.cat([features.transpose(1, 2).reshape(B * T, F), features.new_zeros(1, F)])  # (B*T + 1, F)
    if mode == "pad":
        valid = steps[None, :] < length[:, None]  # (P, T)
        index = torch.where(valid, (b * T + start)[:, None] + steps[None, :], zero_row)  # (P, T)
        return rows[index].transpose(1, 2).contiguous(), valid  # (P, F, T): zero past the proposal's end
    if mode == "resample":
        # sample the proposal's snippets start .. end - 1 at T evenly spaced points
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
        """x: Tensor[P, F, T], valid: bool Tensor[P, T] -> AX: Tensor[P, F, T]."""
        if self.linear is None:
            return x
        logits = self.linear(x)  # (P, F, T): the same W over time for every channel
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
        """x: Tensor[P, F, T], valid: bool Tensor[P, T] -> Tensor[P, out_dim] (before activation)."""
        ax = self.attention(x, valid)  # (P, F, T)
        h = torch.relu(self.time(ax).squeeze(-1))  # Eq. 1: (P, F)
        return self.content(h)  # (P, out)
