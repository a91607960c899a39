"""Training targets from ground truth (Sec. 3.7.1; docs/model.md). Pure functions, no model.

Units: normalised time u = seconds / duration in [0, 1]. On the T grid, snippet t is [t/T, (t+1)/T);
a start at index t means the action starts at u = t/T, an end at index t that it ends at (t+1)/T;
map cell (d, s) is the proposal [s/T, (s + d + 1)/T).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class BoundaryTargets(NamedTuple):
    start: torch.Tensor  # (T,) G_S
    end: torch.Tensor  # (T,) G_E


def _ioa(lo: torch.Tensor, hi: torch.Tensor, region_lo: torch.Tensor, region_hi: torch.Tensor) -> torch.Tensor:
    """Intersection of anchors [lo, hi] (shape (T, 1)) with regions (shape (1, K)) over the anchor length."""
    inter = (torch.minimum(hi, region_hi) - torch.maximum(lo, region_lo)).clamp(min=0)
    return inter / (hi - lo)


def boundary_targets(segments_norm: torch.Tensor, temporal_scale: int, regions: str = "paper",
                     min_region: float = 0.0) -> BoundaryTargets:
    """G_S and G_E (Eqs. 2-6): max intersection of each anchor region with any boundary region, over the anchor.

    segments_norm: Tensor[K, 2] -> G_S, G_E: Tensor[T] each, in [0, 1].
    regions "paper": boundary region t_g +- d_g/10 (Eqs. 2-3), anchor t_n +- d_f/10 (Eq. 4), d_f = 1/T;
    min_region > 0 widens a region to at least t_g +- min_region/T: with d_g/10 alone, an action shorter
    than a few snippets has a region narrower than the anchors' spacing, and a boundary between two
    anchors gets no anchor above 0.5 (no positive at all).
    regions "bmn": boundary region t_g +- 1.5/T, anchor t_n +- 0.5/T (BMN).
    """
    T = temporal_scale
    if segments_norm.numel() == 0:
        zeros = torch.zeros(T)
        return BoundaryTargets(zeros, zeros.clone())
    seg = segments_norm.double()
    starts, ends = seg[:, 0][None, :], seg[:, 1][None, :]  # (1, K)
    if regions == "paper":
        half_region = ((ends - starts) / 10.0).clamp(min=min_region / T)
        half_anchor = 1.0 / (10.0 * T)
    elif regions == "bmn":
        half_region = torch.full_like(starts, 1.5 / T)
        half_anchor = 0.5 / T
    else:
        raise ValueError(f"regions must be 'paper' or 'bmn', got {regions!r}")
    start_anchor = torch.arange(T, dtype=torch.float64)[:, None] / T  # (T, 1): the boundary u = t/T
    end_anchor = start_anchor + 1.0 / T  # the boundary u = (t + 1)/T
    g_start = _ioa(start_anchor - half_anchor, start_anchor + half_anchor, starts - half_region, starts + half_region)
    g_end = _ioa(end_anchor - half_anchor, end_anchor + half_anchor, ends - half_region, ends + half_region)
    return BoundaryTargets(g_start.max(dim=1).values.float(), g_end.max(dim=1).values.float())


def cell_segments(temporal_scale: int, max_duration: int) -> torch.Tensor:
    """Tensor[D, T, 2]: the normalised proposal [s/T, (s + d + 1)/T) of every map cell (d, s)."""
    T, D = temporal_scale, max_duration
    start = torch.arange(T, dtype=torch.float64)[None, :].expand(D, T) / T
    end = start + (torch.arange(D, dtype=torch.float64)[:, None] + 1) / T
    return torch.stack([start, end], dim=-1)


def iou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of segments a: Tensor[..., 2] with b: Tensor[K, 2] -> Tensor[..., K].

    The torch form of `ops.segment_iou`, for targets built on the model's device; both are checked against
    one slow reference in tests/test_ops.py.
    """
    a_lo, a_hi = a[..., 0, None], a[..., 1, None]
    inter = (torch.minimum(a_hi, b[:, 1]) - torch.maximum(a_lo, b[:, 0])).clamp(min=0)
    union = (a_hi - a_lo) + (b[:, 1] - b[:, 0]) - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


class CellMatches(NamedTuple):
    iou: torch.Tensor  # (D, T) G_C: best IoU of each map cell's proposal with a ground-truth segment
    segment: torch.Tensor  # long (D, T): index of that segment (0 where there is none)


def cell_ious(segments_norm: torch.Tensor, temporal_scale: int,
              max_duration: int) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU of each map cell's proposal with each of K segments: float64 Tensor[D, T, K], and which cells
    end inside the video (s + d < T): bool Tensor[D, T]. segments_norm: Tensor[K, 2]."""
    cells = cell_segments(temporal_scale, max_duration)  # (D, T, 2)
    return iou_matrix(cells, segments_norm.double()), cells[..., 1] <= 1.0 + 1e-9


def match_cells(segments_norm: torch.Tensor, temporal_scale: int, max_duration: int) -> CellMatches:
    """Each map cell's best-overlapping ground-truth segment; `iou` is G_C (Sec. 3.7.1).

    segments_norm: Tensor[K, 2]. Cells past the video's end (s + d >= T) get IoU 0.
    """
    T, D = temporal_scale, max_duration
    if segments_norm.numel() == 0:
        return CellMatches(torch.zeros(D, T), torch.zeros(D, T, dtype=torch.long))
    ious, inside = cell_ious(segments_norm, T, D)
    iou, segment = ious.max(dim=-1)  # (D, T)
    return CellMatches((iou * inside).float(), segment)


MAP_IOU = ("absolute", "relative")  # labels.map_iou


def confidence_target(segments_norm: torch.Tensor, temporal_scale: int, max_duration: int,
                      map_iou: str = "absolute") -> torch.Tensor:
    """G_C: Tensor[D, T], the max IoU of each map cell's proposal with any ground truth.

    map_iou "relative": each IoU with a segment is divided by the best IoU any cell reaches with that
    segment, so every segment has a cell at 1. An action of one or two cells that does not lie on the
    grid lines has no cell above M_CC's positive threshold (0.9) otherwise, and M_CC learns 0 there.
    Segments of a cell or more at the grid's resolution are (nearly) unchanged: their best cell is ~1.
    """
    if map_iou not in MAP_IOU:
        raise ValueError(f"map_iou must be one of {MAP_IOU}, got {map_iou!r}")
    if map_iou == "absolute" or segments_norm.numel() == 0:
        return match_cells(segments_norm, temporal_scale, max_duration).iou
    ious, inside = cell_ious(segments_norm, temporal_scale, max_duration)
    iou = ious * inside[..., None]  # (D, T, K)
    best = iou.amax(dim=(0, 1))  # (K,) the grid's best IoU with each segment
    return (iou / best.clamp(min=1e-12)).amax(dim=-1).float()  # (D, T)


def segments_to_indices(segments_norm: torch.Tensor, temporal_scale: int) -> torch.Tensor:
    """Nearest grid proposals: Tensor[K, 2] normalised -> long Tensor[K, 2] (start_idx, end_idx), end exclusive.

    start_idx = round(u_s T), end_idx = round(u_e T), clamped so that 0 <= start_idx < end_idx <= T.
    """
    T = temporal_scale
    idx = torch.round(segments_norm.double() * T).long()
    start = idx[:, 0].clamp(0, T - 1)
    end = torch.maximum(idx[:, 1].clamp(max=T), start + 1)
    return torch.stack([start, end], dim=1)


class HeadTargets(NamedTuple):
    class_proposals: torch.Tensor  # long (Pc, 3): batch index, start_idx, end_idx
    class_labels: torch.Tensor  # long (Pc,)
    error_proposals: torch.Tensor  # long (Pe, 3)
    error_offsets: torch.Tensor  # (Pe, 2): (ds, de) = ground truth - proposal, in units of the video (Sec. 3.5.2)


def head_targets(segments: list[torch.Tensor], labels: list[torch.Tensor], matches: list[CellMatches],
                 temporal_scale: int, *, class_iou: float = 0.0, error_iou: float = 0.5, error_per_video: int = 16,
                 error_rows: str = "cells", error_jitter: float = 0.06, max_duration: int | None = None,
                 generator: torch.Generator | None = None) -> HeadTargets:
    """Which proposals train the heads (Sec. 3.5; docs/model.md), for a batch of B videos.

    segments: B tensors [K_b, 2] normalised; labels: B long tensors [K_b]; matches: B `match_cells`.
    Classification: the ground-truth segments themselves (Sec. 3.5.3), plus cells with IoU >= class_iou
    when class_iou > 0, with the label of the segment they overlap most. Error estimation: up to
    `error_per_video` cells with IoU >= error_iou, sampled at random, each with the offsets to its best
    matching segment; the ground-truth segments themselves (offsets ~0) when no cell qualifies.
    """
    T = temporal_scale
    cls_p, cls_y, err_p, err_o = [], [], [], []
    for b, (seg, lab, match) in enumerate(zip(segments, labels, matches)):
        if seg.numel() == 0:
            continue
        seg = seg.double()
        idx = segments_to_indices(seg, T)
        gt_rows = torch.cat([torch.full((len(idx), 1), b, dtype=torch.long), idx], dim=1)
        cls_p.append(gt_rows)
        cls_y.append(lab.long())
        best_iou, best = match.iou.flatten(), match.segment.flatten()  # (D*T,)
        if class_iou > 0:
            pick = (best_iou >= class_iou).nonzero().squeeze(1)
            cls_p.append(_cell_rows(pick, b, T))
            cls_y.append(lab.long()[best[pick]])
        if error_rows == "jitter":
            rows = jittered_rows(seg, b, T, max_duration or T, error_per_video, error_jitter, generator)
            err_p.append(rows)
            err_o.append((seg[torch.arange(len(rows)) % len(seg)] - rows[:, 1:].double() / T).float())
            continue
        pick = (best_iou >= error_iou).nonzero().squeeze(1)
        if len(pick) > error_per_video:
            pick = pick[torch.randperm(len(pick), generator=generator)[:error_per_video]]
        if len(pick) == 0:
            err_p.append(gt_rows)
            err_o.append((seg - idx.double() / T).float())
            continue
        rows = _cell_rows(pick, b, T)
        err_p.append(rows)
        err_o.append((seg[best[pick]] - rows[:, 1:].double() / T).float())
    return HeadTargets(_cat(cls_p, (0, 3)), _cat(cls_y, (0,)), _cat(err_p, (0, 3)), _cat(err_o, (0, 2), torch.float32))


def jittered_rows(segments_norm: torch.Tensor, batch_index: int, temporal_scale: int, max_duration: int, count: int,
                  jitter: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Proposals like the decoded candidates: each ground-truth boundary moved by N(0, (jitter x length)^2), on the grid.

    segments_norm: float64 Tensor[K, 2] -> long Tensor[count, 3] (batch index, start_idx, end_idx); row i is
    segment i mod K, so its target is that segment. 1 <= end_idx - start_idx <= max_duration, inside [0, T].
    """
    T = temporal_scale
    seg = segments_norm[torch.arange(count) % len(segments_norm)] * T  # (count, 2) in snippets
    noise = torch.randn(count, 2, generator=generator, dtype=torch.float64)
    moved = torch.round(seg + noise * jitter * (seg[:, 1:] - seg[:, :1])).long()
    start = moved[:, 0].clamp(0, T - 1)
    end = torch.minimum(torch.maximum(moved[:, 1].clamp(max=T), start + 1), start + max_duration)
    return torch.stack([torch.full_like(start, batch_index), start, end], dim=1)


def _cell_rows(flat_cells: torch.Tensor, batch_index: int, temporal_scale: int) -> torch.Tensor:
    """Flat cell indices d * T + s -> long Tensor[n, 3] (batch index, s, s + d + 1)."""
    d, s = flat_cells // temporal_scale, flat_cells % temporal_scale
    return torch.stack([torch.full_like(s, batch_index), s, s + d + 1], dim=1)


def _cat(parts: list[torch.Tensor], empty_shape: tuple, dtype: torch.dtype = torch.long) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.zeros(empty_shape, dtype=dtype)
