"""Proposal generation (paper Table 1): base module, temporal evaluation, proposal evaluation."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..config import MAP_CONV_GROUPS, ModelConfig
from .boundary_matching import BoundaryMatching


class ProposalMaps(NamedTuple):
    start: torch.Tensor  # (B, T) start probability of each snippet boundary
    end: torch.Tensor  # (B, T)
    confidence: torch.Tensor  # (B, 2, D, T): channel 0 the regression map M_CR, 1 the classification map M_CC


class SeparableConv2d(nn.Module):
    """A 3x3 convolution as a depthwise 3x3 (one kernel per channel) followed by a pointwise 1x1.

    Per cell it costs 9 m + m^2 multiply-adds instead of 9 m^2 (MobileNet's factorisation). Nothing
    non-linear stands between the two, so it is still one linear 3x3 operator, of rank at most m.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, groups=channels)
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: Tensor[B, m, H, W] -> Tensor[B, m, H - 2, W - 2] (no padding)."""
        return self.pointwise(self.depthwise(x))


def conv3x3(channels: int, kind: str) -> nn.Module:
    """The map head's unpadded 3x3 convolution: "full" (Table 1), "separable" (`SeparableConv2d`) or
    "grouped" (MAP_CONV_GROUPS groups of channels, each its own 3x3 convolution: that many times cheaper)."""
    if kind == "separable":
        return SeparableConv2d(channels)
    return nn.Conv2d(channels, channels, 3, groups=MAP_CONV_GROUPS if kind == "grouped" else 1)


class MapHead(nn.Module):
    """The confidence maps' convolutions (Table 1): 1x1, 3x3, 3x3, 1x1 -> sigmoid, each but the last with ReLU.

    forward is the plain stack on the whole BM grid (B, bm_channels, D, T) -> (B, 2, D, T); the model runs
    the same layers on the valid cells only (`ProposalGenerator`). `conv`: "full" 3x3 convolutions (the
    paper's) or "separable" ones (depthwise + pointwise, about 8x cheaper at 128 channels). The 3x3 layers
    pad nothing themselves: `forward` pads with zeros, as the paper's padded convolutions do.
    """

    # state-dict keys of the layers when they were one nn.Sequential (checkpoints written then still load)
    SEQUENTIAL_KEYS = {"0": "reduce", "2": "conv_a", "4": "conv_b", "6": "out"}

    def __init__(self, bm_channels: int, map_channels: int, conv: str = "full"):
        super().__init__()
        m = map_channels
        self.reduce = nn.Conv2d(bm_channels, m, 1)
        self.conv_a = conv3x3(m, conv)
        self.conv_b = conv3x3(m, conv)
        self.out = nn.Conv2d(m, 2, 1)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """grid: Tensor[B, bm_channels, D, T] -> Tensor[B, 2, D, T]."""
        h = torch.relu(self.reduce(grid))
        h = torch.relu(self.conv_a(F.pad(h, (1, 1, 1, 1))))
        h = torch.relu(self.conv_b(F.pad(h, (1, 1, 1, 1))))
        return torch.sigmoid(self.out(h))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            index, _, rest = key[len(prefix):].partition(".")
            if index in self.SEQUENTIAL_KEYS:
                state_dict[f"{prefix}{self.SEQUENTIAL_KEYS[index]}.{rest}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ProposalGenerator(nn.Module):
    """BMN's proposal stage: features (B, F, T) -> start/end probabilities and two confidence maps."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.base_channels

        def conv1d(cin: int, cout: int, k: int, groups: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, groups=groups), nn.ReLU(inplace=True))

        # Table 1. BMN groups the base and temporal-evaluation convolutions in 4 (`conv_groups`); with
        # them the proposal stage has 4,978,564 parameters at T = 100, F = 400, without them 5,651,332.
        g = cfg.conv_groups
        self.base = nn.Sequential(conv1d(cfg.feature_dim, c, 3, g), conv1d(c, c, 3, g))
        self.start_branch = nn.Sequential(conv1d(c, c, 3, g), nn.Conv1d(c, 1, 1), nn.Sigmoid())
        self.end_branch = nn.Sequential(conv1d(c, c, 3, g), nn.Conv1d(c, 1, 1), nn.Sigmoid())
        self.proposal_conv = conv1d(c, c, 3)
        self.boundary_matching = BoundaryMatching(c, cfg.bm_channels, cfg.temporal_scale, cfg.max_duration,
                                                  cfg.num_samples, cfg.samples_per_bin, cfg.boundary_ratio,
                                                  impl=cfg.bm_impl)
        self.map_head = MapHead(cfg.bm_channels, cfg.map_channels, cfg.map_conv)

    def forward(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps."""
        base = self.base(features)  # (B, C, T)
        start = self.start_branch(base).squeeze(1)  # (B, T)
        end = self.end_branch(base).squeeze(1)  # (B, T)
        # The first 1x1 convolution is pointwise, so it runs on the valid cells only; every invalid cell
        # holds BM's ReLU(bias) and so gets the same value, filled in afterwards (exactly BMN's output).
        bm = self.boundary_matching
        first = self.map_head.reduce
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
        head = self.map_head
        conv_a, conv_b, conv_out = head.conv_a, head.conv_b, head.out
        B, _, D, T = grid.shape
        padded = F.pad(grid, (2, 2, 2, 2))  # (B, m, D + 4, T + 4): the convolutions' zero padding
        out = grid.new_zeros(B, 2, D, T)
        step = -(-D // bands)
        for d0 in range(0, D, step):
            d1, s1 = min(D, d0 + step), max(1, min(T, T - d0))
            h = torch.relu(conv_a(padded[:, :, d0:d1 + 4, :s1 + 4]))  # rows d0-1..d1, cols -1..s1
            rows = torch.arange(d0 - 1, d1 + 1, device=grid.device)[:, None]
            cols = torch.arange(-1, s1 + 1, device=grid.device)[None, :]
            h = h * ((rows >= 0) & (rows < D) & (cols >= 0) & (cols < T))  # outside the grid: the padding of conv_b
            h = torch.relu(conv_b(h))  # (B, m, d1 - d0, s1)
            out[:, :, d0:d1, :s1] = torch.sigmoid(conv_out(h))
        return out * self.boundary_matching.valid
