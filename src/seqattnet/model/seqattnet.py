"""SeqAttNet (Fig. 5): proposal generation, then error estimation and classification on the 3D input."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..config import ModelConfig
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

    def __init__(self, cfg: ModelConfig):
        """The one place a ModelConfig becomes modules (a variant is chosen here, from a ModelConfig field);
        `engine.build.build_model` and `engine.checkpoint.load_model` both build through it."""
        super().__init__()
        self.temporal_scale, self.max_duration, self.num_classes = cfg.temporal_scale, cfg.max_duration, cfg.num_classes
        self.amassment, self.amass_context = cfg.amassment, cfg.amass_context
        self.proposals = ProposalGenerator(cfg)
        # separate attention networks for the two heads (Sec. 3.3)
        if cfg.error_input not in ("proposal", "boundaries"):
            raise ValueError(f"error_input must be 'proposal' or 'boundaries', got {cfg.error_input!r}")
        T, Fdim = cfg.temporal_scale, cfg.feature_dim
        self.error_head = None  # the paper's: the proposal's own columns, beside the class head
        self.boundary_head = None  # windows around each boundary (boundary_head.py)
        if cfg.error_head and cfg.error_input == "proposal":
            self.error_head = SequentialHead(T, Fdim, 2, cfg.attention)
        elif cfg.error_head:
            self.boundary_head = BoundaryErrorHead(Fdim, T, points=cfg.error_points, context=cfg.error_context,
                                                   attention=cfg.attention)
        self.class_head = SequentialHead(T, Fdim, cfg.num_classes, cfg.attention)

    def forward(self, features: torch.Tensor) -> ProposalMaps:
        """features: Tensor[B, F, T] -> ProposalMaps (start, end: (B, T); confidence: (B, 2, D, T))."""
        return self.proposals(features)

    def heads(self, features: torch.Tensor, proposals: torch.Tensor, refine_steps: int = 1,
              width: int | None = None) -> HeadOutputs:
        """features: Tensor[B, F, T]; proposals: long Tensor[P, 3] (batch index, start_idx, end_idx);
        refine_steps: steps of the boundary head (each around the last refined boundaries; the paper's head
        has one); width: run every proposal as one group of this width (the export graph's T) instead.

        Zero-padded proposals run in groups of similar length, each cut to its longest member
        (exactly the same outputs as one group of width T: the invariant stated in heads.py).
        """
        if self.boundary_head is not None:
            offsets_norm, scale = self.boundary_head(features, proposals, refine_steps)
            return HeadOutputs(offsets_norm, self._classify(features, proposals, None, width)[1], scale)
        offsets_norm, log_probs = self._classify(features, proposals, self.error_head, width)
        return HeadOutputs(offsets_norm, log_probs)

    def _classify(self, features: torch.Tensor, proposals: torch.Tensor, error_head: nn.Module | None,
                  width: int | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The heads on the 3D input: tanh offsets of `error_head` (None without one) and class log-probs."""
        rows = widen(proposals, self.temporal_scale, self.amass_context)  # (P, 3)
        if width is not None:  # one group, in the rows' order: nothing to sort back
            offsets, logits = self._group(features, rows, width, error_head)
        else:
            groups = self._length_groups(rows)
            outputs = [self._group(features, rows[index], w, error_head) for index, w in groups]
            order = torch.argsort(torch.cat([index for index, _ in groups]))
            logits = torch.cat([c for _, c in outputs])[order]  # (P, Nc)
            offsets = torch.cat([o for o, _ in outputs])[order] if error_head is not None else None  # (P, 2)
        log_probs = torch.log_softmax(logits, dim=-1)  # (P, Nc)
        return (torch.tanh(offsets) if offsets is not None else None), log_probs

    def _group(self, features: torch.Tensor, rows: torch.Tensor, width: int,
               error_head: nn.Module | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """One group of rows (p, 3) amassed to `width` steps -> error logits (p, 2; None without
        `error_head`) and class logits (p, Nc)."""
        x, valid = amass(features, rows, self.amassment, width)  # (p, width, F), (p, width)
        offsets = error_head(x, valid) if error_head is not None else None
        return offsets, self.class_head(x, valid)

    def _length_groups(self, proposals: torch.Tensor, step: int = 8) -> list[tuple[torch.Tensor, int]]:
        """(indices, width) per group of proposals whose lengths round up to the same multiple of `step`;
        one group of width T with "resample". Exact only because of the heads' invariant (heads.py)."""
        T = self.temporal_scale
        if self.amassment != "pad" or len(proposals) == 0:  # no proposal (a batch of videos without actions)
            return [(torch.arange(len(proposals), device=proposals.device), T)]
        width = ((proposals[:, 2] - proposals[:, 1]).clamp(min=1) + step - 1) // step * step
        width = width.clamp(max=T)
        return [((width == w).nonzero().squeeze(1), int(w)) for w in torch.unique(width).tolist()]
