"""The training loss, Eqs. 7-17 with Table 4's weights (docs/model.md), on model outputs and targets."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


def binary_logistic_loss(prob: torch.Tensor, target: torch.Tensor, threshold: float = 0.5,
                         mask: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Weighted binary logistic loss L_bl (Eqs. 10-14), with its minus sign.

    prob, target: Tensor[...] of the same shape; b = target > threshold; mask: bool Tensor[...] of the
    entries that count (all when None). -(1/l) sum[a+ b log p + a- (1 - b) log(1 - p)] with a+ = l/l+,
    a- = l/l-; a class that is absent (l+ = 0 or l- = 0) gets weight 0 instead of dividing by zero.
    """
    if mask is None:
        mask = torch.ones_like(prob, dtype=torch.bool)
    prob, target = prob[mask], target[mask]
    b = (target > threshold).float()
    l = float(b.numel())
    if l == 0:
        return prob.sum() * 0.0
    l_pos = b.sum()
    l_neg = l - l_pos
    a_pos = torch.where(l_pos > 0, l / l_pos.clamp(min=1), torch.zeros_like(l_pos))
    a_neg = torch.where(l_neg > 0, l / l_neg.clamp(min=1), torch.zeros_like(l_neg))
    log_p = torch.log(prob.clamp(min=eps))
    log_q = torch.log((1 - prob).clamp(min=eps))
    return -(a_pos * b * log_p + a_neg * (1 - b) * log_q).mean()


def regression_map_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """L_R: squared error of M_CR against G_C on cells sampled in three IoU bands, as BMN does.

    pred, target: Tensor[B, D, T]; valid: bool Tensor[D, T]. All cells with G_C > 0.7; cells with
    0.3 < G_C <= 0.7 and G_C <= 0.3 each subsampled to about as many as the first band (at least 1x
    and, for the lowest band, 2x, following BMN's ratios).
    """
    valid = valid.expand_as(target)
    high = (target > 0.7) & valid
    mid = (target > 0.3) & (target <= 0.7) & valid
    low = (target <= 0.3) & valid
    n_high = high.sum().float()
    keep_mid = torch.rand(target.shape, generator=generator, device=target.device) < (n_high / mid.sum().clamp(min=1))
    keep_low = torch.rand(target.shape, generator=generator, device=target.device) < (2 * n_high / low.sum().clamp(min=1))
    weight = (high | (mid & keep_mid) | (low & keep_low)).float()
    return (weight * (pred - target) ** 2).sum() / weight.sum().clamp(min=1)


def error_loss(heads, offsets_norm: torch.Tensor) -> torch.Tensor:
    """L_er: MSE of the error head's offsets (P, 2) against the targets offsets_norm (P, 2), both in units
    of the video.

    A head that gives `offset_scale` (P, 1) (the boundary windows' half-width) is scored in that unit,
    with targets beyond its reach clipped to it: the offsets relative to the proposal's length.
    """
    if heads.offset_scale is None:
        return F.mse_loss(heads.offsets, offsets_norm)
    scale = heads.offset_scale
    return F.mse_loss(heads.offsets / scale, (offsets_norm / scale).clamp(-1.0, 1.0))


class LossTerms(NamedTuple):
    total: torch.Tensor
    temporal: torch.Tensor  # L_te (Eq. 9)
    map_classification: torch.Tensor  # L_C on M_CC (Eq. 15)
    map_regression: torch.Tensor  # L_R on M_CR (Eq. 15)
    classification: torch.Tensor  # L_cl (Eq. 8)
    error: torch.Tensor  # L_er


def seqattnet_loss(maps, heads, boundary: tuple[torch.Tensor, torch.Tensor], confidence: torch.Tensor,
                   class_labels: torch.Tensor, error_offsets: torch.Tensor, valid_cells: torch.Tensor, *,
                   lambda_r: float = 10.0, lambda_te: float = 1.0, lambda_cl: float = 1.0, lambda_er: float = 1.0,
                   boundary_threshold: float = 0.5, map_threshold: float = 0.9,
                   generator: torch.Generator | None = None) -> LossTerms:
    """L = L_pe + l_te L_te + l_cl L_cl + l_er L_er (Eq. 17); the L2 term is the optimiser's weight decay.

    maps: ProposalMaps (start, end: (B, T); confidence: (B, 2, D, T)); heads: HeadOutputs with
    class_log_probs (Pc, Nc) and offsets (Pe, 2) or None; boundary: (G_S, G_E) each (B, T);
    confidence: G_C (B, D, T); class_labels: long (Pc,); error_offsets: (Pe, 2); valid_cells: bool (D, T).
    """
    g_start, g_end = boundary
    temporal = (binary_logistic_loss(maps.start, g_start, boundary_threshold)
                + binary_logistic_loss(maps.end, g_end, boundary_threshold))  # Eq. 9
    m_cr, m_cc = maps.confidence[:, 0], maps.confidence[:, 1]
    valid = valid_cells.expand_as(confidence)
    map_cls = binary_logistic_loss(m_cc, confidence, map_threshold, mask=valid)
    map_reg = regression_map_loss(m_cr, confidence, valid_cells, generator)
    classification = F.nll_loss(heads.class_log_probs, class_labels) if len(class_labels) else m_cc.sum() * 0.0  # Eq. 8
    error = error_loss(heads, error_offsets) if heads.offsets is not None and len(error_offsets) else m_cc.sum() * 0.0
    total = (map_cls + lambda_r * map_reg + lambda_te * temporal + lambda_cl * classification
             + lambda_er * error)  # Eqs. 15-17
    return LossTerms(total, temporal, map_cls, map_reg, classification, error)
