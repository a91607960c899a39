"""Boundary-error estimation from a window around each boundary (the default error head; docs/model.md).

The paper's error head reads the proposal's own columns (heads.py). A proposal that lies inside an
action looks the same whether the action goes on for one more snippet or twenty, so its offsets are
not identifiable from those columns. This head keeps the paper's 3D input, temporal attention and
two-dimensional sequential network, but stacks, for each proposal, the features *around* each of its
boundaries: a window of ±h snippets centred on the start and one centred on the end, h = `context` x
the proposal's length (at least one snippet), each resampled to `points` positions. The end window is
read backwards, so both windows run from outside the proposal to inside it and one network serves
both boundaries. Its tanh output is the boundary's offset in units of h: refined start = s + h·o_s,
refined end = e − h·o_e, so the offsets are relative to the proposal's length and continuous
(finer than the T grid).
"""

from __future__ import annotations

import torch
from torch import nn

from .heads import SequentialHead, interpolate


def boundary_windows(features: torch.Tensor, batch_index: torch.Tensor, bounds: torch.Tensor, context: float,
                     points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features around both boundaries of each proposal.

    features: Tensor[B, F, T]; batch_index: long Tensor[P]; bounds: Tensor[P, 2] (start, end) in snippets,
    on the grid or between its lines (a refined proposal).
    Returns X: Tensor[2P, points, F] (time-major; the P start windows, then the P end windows read backwards) and
    half_width: Tensor[P], h in snippets. Position u (snippet units, column t centred on t + 0.5) is
    read by linear interpolation between columns; positions outside the video take the edge column.
    """
    B, Fdim, T = features.shape
    start, end = bounds.to(features.dtype).unbind(1)
    half = (context * (end - start)).clamp(min=1.0)  # (P,)
    steps = (torch.arange(points, device=features.device, dtype=features.dtype) + 0.5) / points * 2 - 1  # (points,) in (-1, 1)
    at_start = start[:, None] + half[:, None] * steps[None, :]  # (P, points): outside -> inside
    at_end = end[:, None] - half[:, None] * steps[None, :]
    pos = torch.cat([at_start, at_end]) - 0.5  # (2P, points) in column units
    lo = pos.floor().clamp(0, T - 1)
    frac = (pos - lo).clamp(0, 1)  # (2P, points)
    lo = lo.long()
    hi = (lo + 1).clamp(max=T - 1)
    rows = features.transpose(1, 2).reshape(B * T, Fdim)  # (B*T, F)
    base = (batch_index * T).repeat(2)[:, None]  # (2P, 1)
    return interpolate(rows, base + lo, base + hi, frac), half  # (2P, points, F), (P,)


class BoundaryErrorHead(nn.Module):
    """(δs, δe) of each proposal from the windows around its boundaries; one network for both boundaries.

    forward(features, proposals, steps) -> offsets: Tensor[P, 2] in units of the video (refined u = u + δ,
    as the paper's head) and scale: Tensor[P, 1], h / T of the first step, the largest offset one step can
    give (the loss's unit). With steps > 1 each step reads the windows around the boundaries the last one
    refined (inference only; training runs one step).
    """

    def __init__(self, feature_dim: int, temporal_scale: int, *, points: int = 16, context: float = 0.25,
                 attention: str = "softmax"):
        super().__init__()
        self.temporal_scale, self.points, self.context = temporal_scale, points, context
        self.net = SequentialHead(points, feature_dim, 1, attention)  # attention Linear(points, points)

    def forward(self, features: torch.Tensor, proposals: torch.Tensor,
                steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """features: Tensor[B, F, T]; proposals: long Tensor[P, 3] -> offsets Tensor[P, 2], scale Tensor[P, 1]."""
        grid = proposals[:, 1:].to(features.dtype)  # (P, 2) snippets
        bounds, scale = grid, None
        for _ in range(steps):
            x, half = boundary_windows(features, proposals[:, 0], bounds, self.context, self.points)  # (2P, points, F)
            valid = torch.ones(x.shape[0], self.points, dtype=torch.bool, device=x.device)
            out = torch.tanh(self.net(x, valid)).view(2, -1).t()  # (P, 2): towards the inside, in units of h
            bounds = bounds + out * torch.stack([half, -half], dim=1)
            scale = (half / self.temporal_scale)[:, None] if scale is None else scale  # (P, 1)
        return (bounds - grid) / self.temporal_scale, scale
