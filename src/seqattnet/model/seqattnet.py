"""SeqAttNet (Fig. 5): proposal generation, then error estimation and classification on the 3D input."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .boundary_head import BoundaryErrorHead
from .heads import SequentialHead, amass, widen
from .proposal import ProposalGenerator, ProposalMaps


class HeadOutputs(NamedTuple):
    offsets: torch.Tensor | None  # (P, 2) tanh (delta_s, delta_e) in units of the video (Sec. 3.5.2); None without the error head
    class_log_probs: torch.Tensor  # (P, Nc) log-softmax class scores (Table 3)
    offset_scale: torch.Tensor | None = None  # (P, 1) the offsets' unit (boundary windows' h / T); None: the video


class SeqAttNet(nn.Module):
    """features (B, F, T) -> proposal maps; proposals (P, 3) on the T grid -> refinements and class scores.

    The two stages are separate calls because training feeds ground-truth proposals to the heads
    (Sec. 3.5.3) and inference feeds the candidates decoded from the maps.
    """

    def __init__(self, feature_dim: int = 400, temporal_scale: int = 100, max_duration: int = 100,
                 num_classes: int = 200, *, base_channels: int = 256, bm_channels: int = 512,
                 map_channels: int = 128, num_samples: int = 32, samples_per_bin: int = 3,
                 boundary_ratio: float = 0.5, conv_groups: int = 4, amassment: str = "pad",
                 amass_context: float = 0.0, attention: str = "softmax", error_head: bool = True,
                 error_input: str = "proposal", error_context: float = 0.25, error_points: int = 16,
                 bm_impl: str = "auto"):
        super().__init__()
        self.temporal_scale, self.max_duration, self.num_classes = temporal_scale, max_duration, num_classes
        self.amassment, self.amass_context = amassment, amass_context
        self.proposals = ProposalGenerator(feature_dim, temporal_scale, max_duration, base_channels=base_channels,
                                           bm_channels=bm_channels, map_channels=map_channels,
                                           num_samples=num_samples, samples_per_bin=samples_per_bin,
                                           boundary_ratio=boundary_ratio, conv_groups=conv_groups,
                                           bm_impl=bm_impl)
        # separate attention networks for the two heads (Sec. 3.3)
        if error_input not in ("proposal", "boundaries"):
            raise ValueError(f"error_input must be 'proposal' or 'boundaries', got {error_input!r}")
        self.error_head = None  # the paper's: the proposal's own columns, beside the class head
        self.boundary_head = None  # windows around each boundary (boundary_head.py)
        if error_head and error_input == "proposal":
            self.error_head = SequentialHead(temporal_scale, feature_dim, 2, attention)
        elif error_head:
            self.boundary_head = BoundaryErrorHead(feature_dim, temporal_scale, points=error_points,
                                                   context=error_context, attention=attention)
        self.class_head = SequentialHead(temporal_scale, feature_dim, num_classes, attention)

    @classmethod
    def from_config(cls, cfg) -> "SeqAttNet":
        """cfg: seqattnet.config.ModelConfig."""
        return cls(cfg.feature_dim, cfg.temporal_scale, cfg.max_duration, cfg.num_classes,
                   base_channels=cfg.base_channels, bm_channels=cfg.bm_channels, map_channels=cfg.map_channels,
                   num_samples=cfg.num_samples, samples_per_bin=cfg.samples_per_bin,
                   boundary_ratio=cfg.boundary_ratio, conv_groups=cfg.conv_groups,
                   amassment=cfg.amassment, amass_context=cfg.amass_context, attention=cfg.attention,
                   error_head=cfg.error_head, error_input=cfg.error_input, error_context=cfg.error_context,
                   error_points=cfg.error_points, bm_impl=cfg.bm_impl)

    def forward(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps (start, end: (B, T); confidence: (B, 2, D, T))."""
        return self.proposals(features)

    def heads(self, features: torch.Tensor, proposals: torch.Tensor, refine_steps: int = 1) -> HeadOutputs:
        """features: Tensor[B, F, T]; proposals: long Tensor[P, 3] (batch index, start_idx, end_idx);
        refine_steps: steps of the boundary head (each around the last refined boundaries; the paper's head
        has one).

        Zero-padded proposals run in groups of similar length, each cut to its longest member
        (exactly the same outputs as one group of width T; see heads.py).
        """
        if self.boundary_head is not None:
            offsets, scale = self.boundary_head(features, proposals, refine_steps)
            return HeadOutputs(offsets, self._classify(features, proposals, None)[1], scale)
        offsets, log_probs = self._classify(features, proposals, self.error_head)
        return HeadOutputs(offsets, log_probs)

    def _classify(self, features: torch.Tensor, proposals: torch.Tensor,
                  error_head: nn.Module | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The heads on the 3D input: tanh offsets of `error_head` (None without one) and class log-probs."""
        proposals = widen(proposals, self.temporal_scale, self.amass_context)
        groups = self._length_groups(proposals)
        outputs = []
        for index, width in groups:
            x, valid = amass(features, proposals[index], self.amassment, width)  # (p, F, width), (p, width)
            offsets = error_head(x, valid) if error_head is not None else x.new_zeros(len(index), 0)
            outputs.append((offsets, self.class_head(x, valid)))
        order = torch.argsort(torch.cat([index for index, _ in groups]))
        offsets = torch.cat([o for o, _ in outputs])[order]
        log_probs = torch.log_softmax(torch.cat([c for _, c in outputs])[order], dim=-1)  # (P, Nc)
        return (torch.tanh(offsets) if error_head is not None else None), log_probs

    def _length_groups(self, proposals: torch.Tensor, step: int = 8) -> list[tuple[torch.Tensor, int]]:
        """(indices, width) per group of proposals whose lengths round up to the same multiple of `step`."""
        T = self.temporal_scale
        if self.amassment != "pad":
            return [(torch.arange(len(proposals), device=proposals.device), T)]
        width = ((proposals[:, 2] - proposals[:, 1]).clamp(min=1) + step - 1) // step * step
        width = width.clamp(max=T)
        return [((width == w).nonzero().squeeze(1), int(w)) for w in torch.unique(width).tolist()]
