"""Proposal generation (paper Table 1): base module, temporal evaluation, proposal evaluation."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from .boundary_matching import BoundaryMatching


class ProposalMaps(NamedTuple):
    start: torch.Tensor  # (B, T) start probability of each snippet boundary
    end: torch.Tensor  # (B, T)
    confidence: torch.Tensor  # (B, 2, D, T): channel 0 the regression map M_CR, 1 the classification map M_CC


class ProposalGenerator(nn.Module):
    """BMN's proposal stage: features (B, F, T) -> start/end probabilities and two confidence maps."""

    def __init__(self, feature_dim: int, temporal_scale: int, max_duration: int, *, base_channels: int = 256,
                 bm_channels: int = 512, map_channels: int = 128, num_samples: int = 32,
                 samples_per_bin: int = 3, boundary_ratio: float = 0.5, conv_groups: int = 4,
                 bm_impl: str = "auto"):
        super().__init__()
        c = base_channels

        def conv1d(cin: int, cout: int, k: int, groups: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, groups=groups), nn.ReLU(inplace=True))

        # Table 1. BMN groups the base and temporal-evaluation convolutions in 4 (`conv_groups`); with
        # them the proposal stage has 4,978,564 parameters at T = 100, F = 400, without them 5,651,332.
        g = conv_groups
        self.base = nn.Sequential(conv1d(feature_dim, c, 3, g), conv1d(c, c, 3, g))
        self.start_branch = nn.Sequential(conv1d(c, c, 3, g), nn.Conv1d(c, 1, 1), nn.Sigmoid())
        self.end_branch = nn.Sequential(conv1d(c, c, 3, g), nn.Conv1d(c, 1, 1), nn.Sigmoid())
        self.proposal_conv = conv1d(c, c, 3)
        self.boundary_matching = BoundaryMatching(c, bm_channels, temporal_scale, max_duration, num_samples,
                                                  samples_per_bin, boundary_ratio, impl=bm_impl)
        m = map_channels
        self.map_head = nn.Sequential(
            nn.Conv2d(bm_channels, m, 1), nn.ReLU(inplace=True),
            nn.Conv2d(m, m, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(m, m, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(m, 2, 1), nn.Sigmoid(),
        )

    def forward(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps."""
        base = self.base(features)  # (B, C, T)
        start = self.start_branch(base).squeeze(1)  # (B, T)
        end = self.end_branch(base).squeeze(1)  # (B, T)
        # The first 1x1 convolution is pointwise, so it runs on the valid cells only; every invalid cell
        # holds BM's ReLU(bias) and so gets the same value, filled in afterwards (exactly BMN's output).
        bm = self.boundary_matching
        first = self.map_head[0]
        weight = first.weight.flatten(1)  # (map_channels, bm_channels)
        cells = torch.relu(F.linear(bm.cells(self.proposal_conv(base)), weight, first.bias))  # (B, V, map_channels)
        fill = torch.relu(F.linear(torch.relu(bm.bias), weight, first.bias))  # (map_channels,)
        confidence = self._valid_region_head(bm.to_grid(cells, fill))  # (B, 2, D, T)
        return ProposalMaps(start, end, confidence)

    def _valid_region_head(self, grid: torch.Tensor, bands: int = 4) -> torch.Tensor:
        """The map head's 3x3, 3x3, 1x1 convolutions where they matter: at the valid cells (s + d < T).

        grid: Tensor[B, m, D, T] after the first 1x1 convolution and ReLU -> Tensor[B, 2, D, T]. Rows are
        taken in `bands`; a band of rows d0 .. d1 - 1 needs columns s < T - d0 only, plus a two-cell halo
        for the two 3x3 convolutions. Zeros stand where the plain convolution pads, so the valid cells get
        exactly the plain stack's values (tested); cells past the video's end are 0 (nothing reads them).
        """
        conv_a, conv_b, conv_out = self.map_head[2], self.map_head[4], self.map_head[6]
        B, _, D, T = grid.shape
        padded = F.pad(grid, (2, 2, 2, 2))  # (B, m, D + 4, T + 4): the convolutions' zero padding
        out = grid.new_zeros(B, 2, D, T)
        step = -(-D // bands)
        for d0 in range(0, D, step):
            d1, s1 = min(D, d0 + step), max(1, min(T, T - d0))
            h = torch.relu(F.conv2d(padded[:, :, d0:d1 + 4, :s1 + 4], conv_a.weight, conv_a.bias))  # rows d0-1..d1, cols -1..s1
            rows = torch.arange(d0 - 1, d1 + 1, device=grid.device)[:, None]
            cols = torch.arange(-1, s1 + 1, device=grid.device)[None, :]
            h = h * ((rows >= 0) & (rows < D) & (cols >= 0) & (cols < T))  # outside the grid: the padding of conv_b
            h = torch.relu(F.conv2d(h, conv_b.weight, conv_b.bias))  # (B, m, d1 - d0, s1)
            out[:, :, d0:d1, :s1] = torch.sigmoid(F.conv2d(h, conv_out.weight, conv_out.bias))
        return out * self.boundary_matching.valid
