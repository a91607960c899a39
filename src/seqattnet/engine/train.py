"""One training epoch: targets from the batch, the two model stages, the loss, a step."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from tqdm import tqdm

from ..config import Config
from ..data.dataset import Batch
from ..labels import BoundaryTargets, CellMatches, boundary_targets, confidence_target, head_targets, match_cells
from ..losses import seqattnet_loss
from ..model import SeqAttNet
from ..model.boundary_matching import valid_cells


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; training stops and keeps the last good checkpoint."""


class BatchTargets(NamedTuple):
    start: torch.Tensor  # (B, T) G_S
    end: torch.Tensor  # (B, T) G_E
    confidence: torch.Tensor  # (B, D, T) G_C
    proposals: torch.Tensor  # long (Pc + Pe, 3): class-head rows first, then error-head rows
    num_class_rows: int
    class_labels: torch.Tensor  # long (Pc,)
    error_offsets: torch.Tensor  # (Pe, 2)


class VideoTargets(NamedTuple):
    boundary: BoundaryTargets  # G_S, G_E: (T,) each
    matches: CellMatches  # each cell's best-overlapping segment (the heads' cell rows)
    confidence: torch.Tensor  # (D, T) G_C as labels.map_iou defines it


class TargetCache:
    """The fixed targets of each video (G_S, G_E, G_C and cell matches), computed once per run
    (every time when `keep` is False: items that do not come back, such as random windows)."""

    def __init__(self, cfg: Config, keep: bool = True):
        self.cfg, self.keep = cfg, keep
        self._videos: dict[str, VideoTargets] = {}

    def __call__(self, video_id: str, segments_norm: torch.Tensor) -> VideoTargets:
        if video_id in self._videos:
            return self._videos[video_id]
        m, labels = self.cfg.model, self.cfg.labels
        matches = match_cells(segments_norm, m.temporal_scale, m.max_duration)
        confidence = matches.iou if labels.map_iou == "absolute" else confidence_target(
            segments_norm, m.temporal_scale, m.max_duration, labels.map_iou)
        boundary = boundary_targets(segments_norm, m.temporal_scale, labels.regions, labels.min_region)
        targets = VideoTargets(boundary, matches, confidence)
        if self.keep:
            self._videos[video_id] = targets
        return targets


def batch_targets(batch: Batch, cfg: Config, generator: torch.Generator | None = None,
                  cache: TargetCache | None = None) -> BatchTargets:
    cache = cache or TargetCache(cfg)
    segments = [s.cpu() for s in batch.segments_norm]
    labels = [l.cpu() for l in batch.labels]
    fixed = [cache(video, s) for video, s in zip(batch.video_ids, segments)]
    heads = head_targets(segments, labels, [t.matches for t in fixed], cfg.model.temporal_scale,
                         class_iou=cfg.labels.class_iou, error_iou=cfg.labels.error_iou,
                         error_per_video=cfg.labels.error_per_video, error_rows=cfg.labels.error_rows,
                         error_jitter=cfg.labels.error_jitter, max_duration=cfg.model.max_duration,
                         generator=generator)
    device = batch.features.device
    return BatchTargets(
        torch.stack([t.boundary.start for t in fixed]).to(device),
        torch.stack([t.boundary.end for t in fixed]).to(device),
        torch.stack([t.confidence for t in fixed]).to(device),
        torch.cat([heads.class_proposals, heads.error_proposals]).to(device),
        len(heads.class_proposals),
        heads.class_labels.to(device),
        heads.error_offsets.to(device),
    )


def training_loss(model: SeqAttNet, batch: Batch, cfg: Config, generator: torch.Generator | None = None,
                  cache: TargetCache | None = None):
    """The loss terms of one batch (LossTerms)."""
    targets = batch_targets(batch, cfg, generator, cache)
    maps = model(batch.features)
    heads = model.heads(batch.features, targets.proposals)
    n = targets.num_class_rows
    heads = heads._replace(class_log_probs=heads.class_log_probs[:n],
                           offsets=None if heads.offsets is None else heads.offsets[n:],
                           offset_scale=None if heads.offset_scale is None else heads.offset_scale[n:])
    valid = valid_cells(cfg.model.temporal_scale, cfg.model.max_duration).to(batch.features.device)
    c = cfg.loss
    return seqattnet_loss(maps, heads, (targets.start, targets.end), targets.confidence, targets.class_labels,
                          targets.error_offsets, valid, lambda_r=c.lambda_r, lambda_te=c.lambda_te,
                          lambda_cl=c.lambda_cl, lambda_er=c.lambda_er, boundary_threshold=c.boundary_threshold,
                          map_threshold=c.map_threshold, generator=generator)


def train_one_epoch(model: SeqAttNet, loader, optimizer: torch.optim.Optimizer, cfg: Config, device: torch.device,
                    epoch: int, generator: torch.Generator | None = None, progress: bool = True,
                    cache: TargetCache | None = None) -> dict[str, float]:
    """Mean of each loss term over the epoch. Raises NonFiniteLoss on a NaN or infinite loss.

    `cache` keeps each video's fixed targets between epochs (pass the same one every epoch).
    `cfg.train.grad_clip` > 0 clips the global gradient norm; `cfg.train.amp` runs the forward pass in bfloat16.
    """
    model.train()
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(loader, desc=f"epoch {epoch}", disable=not progress, leave=False)
    for batch in bar:
        batch = batch.to(device)
        # bfloat16 autocast needs no loss scaling (float32's exponent range), so it is safe on CPU and CUDA.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.train.amp):
            terms = training_loss(model, batch, cfg, generator, cache)
        if not math.isfinite(terms.total.item()):
            raise NonFiniteLoss(f"epoch {epoch}: the loss is {terms.total.item()} (terms: "
                                + ", ".join(f"{k}={v.item():.4g}" for k, v in terms._asdict().items()) + ")")
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        for name, value in terms._asdict().items():
            sums[name] = sums.get(name, 0.0) + value.item()
        count += 1
        bar.set_postfix(loss=f"{sums['total'] / count:.3f}")
    return {name: value / max(count, 1) for name, value in sums.items()}
