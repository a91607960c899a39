"""Inference: features -> maps -> candidates -> heads -> scores -> Soft-NMS -> detections in seconds."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from tqdm import tqdm

from ..config import InferenceConfig
from ..model import SeqAttNet
from ..postprocess.decode import Candidates, candidates_in, decode_candidates, score_candidates
from ..postprocess.soft_nms import batched_soft_nms
from ..structures import Detections, to_results, video_timing  # noqa: F401  (importable from here as before)


def pad_by_video(video_index: torch.Tensor, num_videos: int,
                  *values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Rows grouped by video: each of `values` (rows, ...) -> (V, M, ...), zero-padded, rows in order; and
    the validity mask (V, M). The grouping is computed once for all of them."""
    counts = torch.bincount(video_index, minlength=num_videos)
    width = int(counts.max()) if len(counts) and counts.max() > 0 else 1
    order = torch.argsort(video_index, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    row, slot = video_index[order], torch.arange(len(video_index), device=video_index.device) - starts[video_index[order]]
    padded = []
    for v in values:
        out = v.new_zeros((num_videos, width) + v.shape[1:])
        out[row, slot] = v[order]
        padded.append(out)
    valid = torch.zeros(num_videos, width, dtype=torch.bool, device=video_index.device)
    valid[row, slot] = True
    return padded, valid


def soft_nms_options(cfg: InferenceConfig, method: str = "gaussian") -> dict:
    """The config's Soft-NMS (Sec. 3.6.1): Gaussian with BMN's adaptive threshold on normalised segments,
    class-agnostic (the paper) or per class (inference.soft_nms_classes), keeping max_detections."""
    return dict(method=method, sigma=cfg.soft_nms_sigma, adaptive=(cfg.soft_nms_t1, cfg.soft_nms_t2),
                top_k=cfg.max_detections, class_agnostic=cfg.soft_nms_classes == "agnostic")


@torch.no_grad()
def detect(model: SeqAttNet, features: torch.Tensor, video_ids: list[str], durations_s: torch.Tensor,
           cfg: InferenceConfig, nms: bool = True,
           shares: dict[str, tuple[float, float]] | None = None) -> list[Detections]:
    """features: Tensor[B, F, T]; durations_s: Tensor[B] -> one Detections per video (at most max_detections).

    nms=False returns every scored candidate, unsuppressed and in candidate order: windows of one video
    are merged first and suppressed once (engine/windowed.py). shares: item id -> (lo, hi) or None: only
    candidates centred in [lo, hi) of their item's normalised time go on to the heads (a window's own share,
    engine/windowed.py's window_shares)."""
    return detect_variants(model, features, video_ids, durations_s, [cfg], nms, shares)[0]


@torch.no_grad()
def detect_variants(model: SeqAttNet, features: torch.Tensor, video_ids: list[str], durations_s: torch.Tensor,
                    cfgs: list[InferenceConfig], nms: bool = True,
                    shares: dict[str, tuple[float, float]] | None = None) -> list[list[Detections]]:
    """`detect` for each of several inference sections -> their detections, in order, from one pass of the
    proposal stage and one of the heads per distinct candidate setting (peak_ratio, max_candidates,
    refine_steps): the sections that differ only after the heads (refine, classes, Soft-NMS, max_detections)
    share them."""
    maps = model(features)
    out: list[list[Detections]] = [[] for _ in cfgs]
    runs: dict[tuple, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        runs.setdefault((cfg.peak_ratio, cfg.max_candidates, cfg.refine_steps), []).append(i)
    for (peak_ratio, max_candidates, refine_steps), members in runs.items():
        candidates = decode_candidates(maps.start, maps.end, maps.confidence, peak_ratio=peak_ratio,
                                       max_candidates=max_candidates)
        if shares is not None:
            shares_norm = torch.tensor([shares[v] for v in video_ids], dtype=torch.float64, device=maps.start.device)
            candidates = candidates_in(candidates, shares_norm, model.temporal_scale)  # (B, 2) above
        heads = model.heads(features, candidates.proposals, refine_steps)
        for i in members:
            out[i] = candidate_detections(candidates, heads.offsets if cfgs[i].refine else None,
                                          heads.class_log_probs, model.temporal_scale, video_ids, durations_s,
                                          cfgs[i], nms)
    return out


def candidate_detections(candidates: Candidates, offsets_norm: torch.Tensor | None, class_log_probs: torch.Tensor,
                         temporal_scale: int, video_ids: list[str], durations_s: torch.Tensor,
                         cfg: InferenceConfig, nms: bool = True) -> list[Detections]:
    """The heads' outputs of a batch's candidates -> one Detections per video: refined, scored for the
    config's classes (`score_candidates`), suppressed by the config's Soft-NMS unless nms=False.

    offsets_norm: Tensor[P, 2] or None; class_log_probs: Tensor[P, Nc]; durations_s: Tensor[B]."""
    B = len(video_ids)
    scored = score_candidates(candidates, offsets_norm, class_log_probs, temporal_scale,
                              top_k_classes=cfg.top_k_classes, class_min_score=cfg.class_min_score)
    (segments, scores, labels), valid = pad_by_video(scored.video_index, B, scored.segments_norm.float(),
                                                      scored.scores.float(), scored.labels)
    if nms:
        kept = batched_soft_nms(segments, scores, valid, labels, **soft_nms_options(cfg))
        segments, scores, labels, valid = kept.segments, kept.scores, kept.labels, kept.valid
    out = []
    for b in range(B):
        ok = valid[b]
        duration = float(durations_s[b])
        out.append(Detections(video_ids[b], (segments[b][ok].double() * duration).cpu().numpy(),
                              scores[b][ok].cpu().numpy(), labels[b][ok].cpu().numpy(), duration))
    return out


def predict_batches(model: SeqAttNet, loader, cfgs: list[InferenceConfig], device: torch.device,
                    progress: bool = True, desc: str = "predict", nms: bool = True,
                    shares: dict[str, tuple[float, float]] | None = None) -> Iterator[list[list[Detections]]]:
    """Each batch of `loader`, in its order -> the detections of each inference section of `cfgs` (see
    `detect_variants`, which `shares` goes to)."""
    model.eval()
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        yield detect_variants(model, batch.features.to(device), batch.video_ids, batch.durations_s, cfgs, nms, shares)
