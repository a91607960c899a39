"""Soft-NMS and hard NMS of temporal segments in plain PyTorch (CPU or GPU, no compiled extension).

One step: keep the candidate with the highest current score (ties: the lower index), then lower the
score of every remaining candidate that overlaps it by more than a threshold:
- "gaussian": score *= exp(-iou^2 / sigma)   (BMN's soft_nms_alpha is sigma)
- "linear":   score *= 1 - iou
- "hard":     the candidate is removed
The threshold is `iou_threshold`, or BMN's adaptive `t1 + (t2 - t1) * width` of the kept segment.
Steps repeat until `top_k` are kept or no candidate is left; the kept scores are the decayed ones.

The loop runs over the k kept segments, never over candidates: each step updates every candidate of
every video of a chunk at once, so a batch of V videos costs k steps of (chunk, N) tensor operations.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

METHODS = ("gaussian", "linear", "hard")


class SoftNMSResult(NamedTuple):
    """segments: Tensor[k, 2]; scores: Tensor[k] (decayed); labels: Tensor[k] or None;
    indices: int64 Tensor[k] into the input; in the order kept (scores non-increasing)."""

    segments: Tensor
    scores: Tensor
    labels: Tensor | None
    indices: Tensor


class BatchedSoftNMSResult(NamedTuple):
    """segments: Tensor[V, k, 2]; scores: Tensor[V, k]; labels: Tensor[V, k] or None; indices: int64
    Tensor[V, k] into each video's candidates; valid: bool Tensor[V, k], a prefix of each row (where
    False: segments and scores 0, labels and indices -1). k = min(top_k, N)."""

    segments: Tensor
    scores: Tensor
    labels: Tensor | None
    indices: Tensor
    valid: Tensor


def soft_nms(segments: Tensor, scores: Tensor, labels: Tensor | None = None, *, method: str = "gaussian",
             sigma: float = 0.4, iou_threshold: float = 0.0, adaptive: tuple[float, float] | None = None,
             top_k: int = 100, class_agnostic: bool = True, chunk_size: int | None = None,
             cpu_threads: int | None = 1) -> SoftNMSResult:
    """Soft-NMS of one video's candidates: `batched_soft_nms` of one video, with its options.

    segments: Tensor[N, 2] (start, end; normalised units when `adaptive` is used); scores: Tensor[N]
    (float, >= 0; -inf marks a candidate never to keep); labels: int Tensor[N] or None (needed when
    not class_agnostic: then only candidates of the kept segment's class are decayed).
    """
    valid = torch.ones_like(scores, dtype=torch.bool)
    batch = batched_soft_nms(
        segments[None], scores[None], valid[None], None if labels is None else labels[None],
        method=method, sigma=sigma, iou_threshold=iou_threshold, adaptive=adaptive, top_k=top_k,
        class_agnostic=class_agnostic, chunk_size=chunk_size, cpu_threads=cpu_threads,
    )
    n = int(batch.valid[0].sum())  # the one device sync, after the loop
    return SoftNMSResult(
        batch.segments[0, :n], batch.scores[0, :n], None if batch.labels is None else batch.labels[0, :n],
        batch.indices[0, :n],
    )


def batched_soft_nms(
    segments: Tensor,
    scores: Tensor,
    valid: Tensor,
    labels: Tensor | None = None,
    *,
    method: str = "gaussian",
    sigma: float = 0.4,
    iou_threshold: float = 0.0,
    adaptive: tuple[float, float] | None = None,
    top_k: int = 100,
    class_agnostic: bool = True,
    chunk_size: int | None = None,
    cpu_threads: int | None = 1,
) -> BatchedSoftNMSResult:
    """Soft-NMS of V videos at once, each with up to N candidates (pad with valid=False).

    segments: Tensor[V, N, 2]; scores: float Tensor[V, N]; valid: bool Tensor[V, N]; labels: int
    Tensor[V, N] or None. Options as in `soft_nms`. chunk_size: videos per chunk (default: about 2^17
    working-set candidates on CPU, 2^22 on GPU), which bounds the memory to a few (chunk, N) tensors.
    cpu_threads: torch's intra-op threads while this runs on CPU (restored after; None leaves them).
    One thread by default: each step's tensors are small, and on a 2-core machine shared with other
    processes OpenMP's fork/join per operation made the benchmark 2-15x slower and erratic.
    """
    if scores.is_cuda or cpu_threads is None:
        return _batched(segments, scores, valid, labels, method, sigma, iou_threshold, adaptive, top_k,
                        class_agnostic, chunk_size)
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads)
    try:
        return _batched(segments, scores, valid, labels, method, sigma, iou_threshold, adaptive, top_k,
                        class_agnostic, chunk_size)
    finally:
        torch.set_num_threads(before)


def _batched(segments, scores, valid, labels, method, sigma, iou_threshold, adaptive, top_k, class_agnostic,
             chunk_size) -> BatchedSoftNMSResult:
    _check(segments, scores, valid, labels, method, sigma, iou_threshold, class_agnostic, top_k)
    n_videos, n = scores.shape
    k = min(top_k, n)
    if chunk_size is None:
        chunk_size = max(1, (1 << (22 if scores.is_cuda else 17)) // min(n, 8 * k + 256) if n else 1)
    labels_used = None if class_agnostic else labels
    indices = torch.full((n_videos, k), -1, dtype=torch.long, device=scores.device)
    kept_scores = torch.zeros((n_videos, k), dtype=scores.dtype, device=scores.device)
    for lo in range(0, n_videos, chunk_size):
        part = slice(lo, lo + chunk_size)
        indices[part], kept_scores[part] = _soft_nms_chunk(
            segments[part].to(scores.dtype), scores[part], valid[part],
            None if labels_used is None else labels_used[part], k, method, sigma, iou_threshold, adaptive,
        )
    kept = indices >= 0
    safe = indices.clamp(min=0)
    out_segments = torch.gather(segments, 1, safe[..., None].expand(-1, -1, 2)) * kept[..., None]
    out_labels = None
    if labels is not None:
        out_labels = torch.gather(labels, 1, safe).masked_fill(~kept, -1)
    return BatchedSoftNMSResult(out_segments, kept_scores, out_labels, indices, kept)


def _soft_nms_chunk(segments, scores, valid, labels, k, method, sigma, iou_threshold, adaptive):
    """Soft-NMS of one chunk, exactly, on a working set of the best-scored candidates.

    segments: [B, N, 2]; scores, valid, labels: [B, N] -> indices int64[B, k] (-1 where nothing was
    left), scores [B, k] (0 there).

    Scores only ever decrease, so while the best current score in the working set (the top `width`
    candidates by input score) exceeds the best input score outside it, the step is exactly the one on
    all N candidates. A video where that fails at some step is redone with a twice wider working set.
    """
    n = scores.shape[1]
    current = scores.masked_fill(~valid | torch.isneginf(scores), float("-inf"))
    ranked, order = current.sort(dim=1, descending=True, stable=True)  # (B, N)
    indices = torch.full((scores.shape[0], k), -1, dtype=torch.long, device=scores.device)
    kept = torch.zeros((scores.shape[0], k), dtype=scores.dtype, device=scores.device)
    rows = torch.arange(scores.shape[0], device=scores.device)
    width = min(n, 8 * k + 256)  # enough for typical proposal maps; the rare miss costs one redo
    while len(rows):
        columns = order[rows, :width].sort(dim=1).values  # the working set, in input order (B', W)
        # The best input score outside the working set (-inf when it holds every candidate).
        bound = ranked[rows, width] if width < n else ranked.new_full((len(rows),), float("-inf"))
        picked, picked_scores, too_narrow = _steps(
            segments[rows[:, None], columns], current[rows[:, None], columns],
            None if labels is None else labels[rows[:, None], columns],
            bound, k, method, sigma, iou_threshold, adaptive,
        )
        indices[rows] = torch.where(picked >= 0, columns.gather(1, picked.clamp(min=0)), picked)
        kept[rows] = picked_scores
        if width == n:
            break
        rows = rows[too_narrow]  # one device sync per widening, not per step
        width = n if 4 * width > n else 2 * width  # once past half of the candidates, take them all
    return indices, kept


def _steps(segments, current, labels, bound, k, method, sigma, iou_threshold, adaptive):
    """k Soft-NMS steps on a working set. segments: [B, W, 2]; current: [B, W] (-inf = absent); labels:
    [B, W] or None; bound: [B] best input score outside the set (-inf if none).
    -> picked int64[B, k] (-1: nothing left), their scores [B, k], too_narrow bool[B]."""
    starts, ends = segments[..., 0].clone(), segments[..., 1].clone()  # (B, W)
    lengths = ends - starts
    # A removed candidate becomes the far-away empty segment [far, far]: its IoU with anything is 0, so
    # it is never decayed (no -inf * 0 = NaN) and, if picked when nothing is left, decays nothing.
    far = torch.finfo(current.dtype).max
    absent = torch.isneginf(current)
    starts.masked_fill_(absent, far)
    ends.masked_fill_(absent, far)
    tiny = torch.finfo(current.dtype).tiny  # keeps 0 / 0 (two empty segments) at 0 instead of NaN
    has_outside = bound > float("-inf")
    too_narrow = torch.zeros_like(has_outside)
    picked = torch.empty((current.shape[0], k), dtype=torch.long, device=current.device)
    picked_scores = torch.empty((current.shape[0], k), dtype=current.dtype, device=current.device)
    iou, union = torch.empty_like(current), torch.empty_like(current)  # reused buffers: no allocation per step
    mask = torch.empty_like(current, dtype=torch.bool)
    for step in range(k):
        best, at = current.max(dim=1, keepdim=True)  # (B, 1); the first maximum: ties go to the lower index
        picked[:, step], picked_scores[:, step] = at[:, 0], best[:, 0]
        too_narrow |= (best[:, 0] <= bound) & has_outside  # an unseen candidate might have won this step
        start, end = starts.gather(1, at), ends.gather(1, at)  # (B, 1): the segment kept at this step
        span = end - start
        # ops.pair_iou written in place into two reused buffers (no allocation per step); an empty union
        # gives 0 / tiny = 0 as ops.pair_iou gives 0, and test_soft_nms.py checks it against the reference.
        torch.minimum(ends, end, out=iou).sub_(torch.maximum(starts, start, out=union)).clamp_(min=0)  # (B, W)
        torch.add(lengths, span, out=union).sub_(iou).clamp_(min=tiny)
        iou.div_(union)  # intersection / union
        threshold = iou_threshold if adaptive is None else adaptive[0] + (adaptive[1] - adaptive[0]) * span
        if method == "hard":
            torch.gt(iou, threshold, out=mask)  # suppressed
            if labels is not None:
                mask &= labels == labels.gather(1, at)
            current.masked_fill_(mask, float("-inf"))
        else:
            torch.le(iou, threshold, out=mask)  # not decayed
            if labels is not None:
                mask |= labels != labels.gather(1, at)
            iou.masked_fill_(mask, 0.0)  # IoU 0 makes both decays exactly 1
            if method == "gaussian":
                current.mul_(iou.mul_(iou).mul_(-1.0 / sigma).exp_())
            else:
                current.mul_(iou.neg_().add_(1.0))
        current.scatter_(1, at, float("-inf"))
        starts.scatter_(1, at, far)
        ends.scatter_(1, at, far)
    empty = torch.isneginf(picked_scores)  # nothing was left at that step
    return picked.masked_fill(empty, -1), picked_scores.masked_fill(empty, 0.0), too_narrow


def _check(segments, scores, valid, labels, method, sigma, iou_threshold, class_agnostic, top_k) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scores.dim() != 2 or segments.shape != (*scores.shape, 2) or valid.shape != scores.shape:
        raise ValueError(f"expected segments [V, N, 2], scores [V, N], valid [V, N]; got "
                         f"{tuple(segments.shape)}, {tuple(scores.shape)}, {tuple(valid.shape)}")
    if labels is not None and labels.shape != scores.shape:
        raise ValueError(f"labels must be [V, N] like scores, got {tuple(labels.shape)}")
    if not class_agnostic and labels is None:
        raise ValueError("class_agnostic=False needs labels")
    if not scores.is_floating_point():
        raise ValueError(f"scores must be floating point, got {scores.dtype}")
    if method == "gaussian" and not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not 0.0 <= iou_threshold < 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1), got {iou_threshold}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if torch.isnan(scores).any() or not torch.isfinite(segments).all():  # one sync, before the loop
        raise ValueError("scores must not be NaN and segments must be finite")
