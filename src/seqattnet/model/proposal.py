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
        self._bands = _bands(cfg.temporal_scale, cfg.max_duration)
        self._band_sizes = [(d1 - d0 + 4) * (s1 + 4) for d0, d1, s1 in self._bands]  # positions in band_index
        self.register_buffer("band_index", _band_index(self.boundary_matching.valid, self._bands), persistent=False)

    def forward(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps."""
        base = self.base(features)  # (B, C, T)
        start = self.start_branch(base).squeeze(1)  # (B, T)
        end = self.end_branch(base).squeeze(1)  # (B, T)
        # The first 1x1 convolution is pointwise, so it runs on the valid cells only; every invalid cell
        # holds BM's ReLU(bias) and so gets the same value, `fill` (exactly BMN's output).
        bm = self.boundary_matching
        first = self.map_head.reduce
        weight = first.weight.flatten(1)  # (map_channels, bm_channels)
        cells = torch.relu(F.linear(bm.cells(self.proposal_conv(base)), weight, first.bias))  # (B, V, map_channels)
        fill = torch.relu(F.linear(torch.relu(bm.bias), weight, first.bias))  # (map_channels,)
        return ProposalMaps(start, end, self._valid_region_head(cells, fill))

    def _valid_region_head(self, cells: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """The map head's 3x3, 3x3, 1x1 convolutions where they matter: at the valid cells (s + d < T).

        cells: Tensor[B, V, m] at the valid cells after the first 1x1 convolution and ReLU, fill: Tensor[m]
        at the other cells of the grid -> Tensor[B, 2, D, T]. Rows are taken in bands (`_bands`); a band of
        rows d0 .. d1 - 1 needs columns s < T - d0 only, plus a two-cell halo for the two 3x3 convolutions.
        Each band's input is gathered straight from `cells` (one row gather for every band, whose backward
        is one scatter-add into the cells), so the D x T grid is never built. Zeros stand where the plain
        convolution pads, so the valid cells get exactly the plain stack's values (tested); cells past the
        video's end are 0 (nothing reads them).
        """
        head = self.map_head
        B, V, m = cells.shape
        D, T = self.boundary_matching.D, self.boundary_matching.T
        # rows V and V + 1 of each video: the cells past the video's end, and the convolutions' zero padding
        table = torch.cat([cells, fill.expand(B, 1, m), cells.new_zeros(B, 1, m)], 1).flatten(0, 1)
        shift = torch.arange(B, device=cells.device)[:, None] * (V + 2)
        index = torch.cat([(band[None] + shift).flatten() for band in self.band_index.split(self._band_sizes)])
        gathered = table.index_select(0, index).split([B * n for n in self._band_sizes])  # band after band
        out = []
        for (d0, d1, s1), rows in zip(self._bands, gathered):
            x = rows.view(B, d1 - d0 + 4, s1 + 4, m).permute(0, 3, 1, 2)  # rows d0-2..d1+1, cols -2..s1+1
            h = torch.relu(head.conv_a(x))  # rows d0-1..d1, cols -1..s1
            r = torch.arange(d0 - 1, d1 + 1, device=cells.device)[:, None]
            c = torch.arange(-1, s1 + 1, device=cells.device)[None, :]
            h = h * ((r >= 0) & (r < D) & (c >= 0) & (c < T))  # outside the grid: the padding of conv_b
            h = torch.relu(head.conv_b(h))  # (B, m, d1 - d0, s1)
            out.append(F.pad(torch.sigmoid(head.out(h)), (0, T - s1)))  # (B, 2, d1 - d0, T)
        return torch.cat(out, 2) * self.boundary_matching.valid


def _bands(temporal_scale: int, max_duration: int, count: int = 4) -> list[tuple[int, int, int]]:
    """(d0, d1, s1) of each band of rows d0 .. d1 - 1 of the D x T map: its cells run to column s1 - 1."""
    T, D = temporal_scale, max_duration
    step = -(-D // count)
    return [(d0, min(D, d0 + step), max(1, min(T, T - d0))) for d0 in range(0, D, step)]


def _band_index(valid: torch.Tensor, bands: list[tuple[int, int, int]]) -> torch.Tensor:
    """Row of each band position (rows d0-2 .. d1+1, columns -2 .. s1+1, row-major, band after band) in a
    video's table of V valid cells (d-major), then row V (a cell past the video's end), then V + 1 (padding)."""
    D, T = valid.shape
    V = int(valid.sum())
    grid = torch.full((D * T,), V, dtype=torch.long)
    grid[valid.flatten()] = torch.arange(V)
    padded = torch.full((D + 4, T + 4), V + 1, dtype=torch.long)
    padded[2:D + 2, 2:T + 2] = grid.view(D, T)
    return torch.cat([padded[d0:d1 + 4, :s1 + 4].flatten() for d0, d1, s1 in bands])
