"""Proposal metrics of the official ActivityNet evaluator (Evaluation/eval_proposal.py): average recall
against the average number of proposals per video (AR@AN), and the area under that curve.

A ground-truth instance counts as recalled by the top n proposals of its video (ranked by score) when
one of them overlaps it with tIoU >= threshold; there is no one-to-one matching. The curve has 100
points, AN = max_avg_proposals * j / 100 for j = 1..100; at point j a video keeps the fraction j/100 of
its (possibly truncated) proposals. Recall is pooled over all instances and averaged over thresholds.

By default the proposal counts are floored from floats exactly as the official code computes them
(so 100 proposals at 29% keep int(100 * 0.29) = 28); `exact_counts=True` does that arithmetic in
integers instead (29). The per-video budget also follows the official code by default: its truncation
ratio max_avg * V / P counts every proposal P in the result file, those on videos outside the evaluated
ground truth included, so a file with proposals for other videos too keeps fewer per evaluated video.
`subset_budget=True` counts only the evaluated videos' proposals, so that a score does not depend on
what else the file holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError
from ..ops import pair_iou
from ..structures import AnnotationSet
from .detection import GroundTruthArrays, pairs_in_ranges
from .results import FlatPredictions, flatten_predictions

RECALL_AT = (1, 5, 10, 100)  # the AR@AN values papers quote
_STEPS = 100  # points on the AR-AN curve, as in the official code


@dataclass
class ProposalMetrics:
    """an: float64[100] average number of proposals per video; ar: float64[100] average recall (fraction);
    auc: area under the AR-AN curve divided by max AN (fraction); recall_at: {n: AR@n} for n in 1, 5, 10, 100
    (those <= max AN); tious: float64[K]; recall: float64[K, 100] recall per threshold."""

    an: np.ndarray
    ar: np.ndarray
    auc: float
    recall_at: dict[int, float]
    tious: np.ndarray | None = None
    recall: np.ndarray | None = None


def evaluate_proposals(
    ground_truth: AnnotationSet,
    results: Mapping[str, list[dict]],
    max_avg_proposals: int = 100,
    tious=np.linspace(0.5, 0.95, 10),
    *,
    source: str = "proposals",
    exact_counts: bool = False,
    subset_budget: bool = False,
) -> ProposalMetrics:
    """AR@AN and AUC of `results` (labels ignored) against `ground_truth` (the evaluated subset).

    results: video id -> [{"score", "segment": [start_s, end_s]}]. Only videos with at least one
    ground-truth instance are scored, as in the official code; proposals on other videos still count in
    the per-video budget (the truncation ratio), as there, unless `subset_budget`.
    tious: float[K]. recall_at interpolates linearly where n is not a point of the AN grid.
    exact_counts: integer proposal counts instead of the official float flooring (see the module).
    subset_budget: the budget from the evaluated videos' proposals only (see the module).
    """
    tious = np.asarray(tious, dtype=np.float64).reshape(-1)
    if len(tious) == 0:
        raise ValueError("no tIoU threshold given")
    if int(max_avg_proposals) != max_avg_proposals or max_avg_proposals < 1:
        raise ValueError(f"max_avg_proposals must be a positive integer, got {max_avg_proposals}")
    gt = GroundTruthArrays.from_annotations(ground_truth)
    if len(gt.label) == 0:
        raise InputError.at(ground_truth.source or "ground truth",
                            "no ground-truth instance in the evaluated videos")
    flat = flatten_predictions(results, source)
    first_hit, per_video = _first_hits(gt, flat, tious)
    # Only videos with ground truth are counted (official: the ids of the ground-truth instances).
    has_gt = np.bincount(gt.video, minlength=len(gt.video_ids)) > 0
    counts = np.zeros((len(gt.video_ids), _STEPS), dtype=np.int64)
    # The official ratio divides by every proposal of the file, on evaluated videos or not.
    total = None if subset_budget else len(flat.scores)
    counter = exact_proposal_counts if exact_counts else proposal_counts
    counts[has_gt] = counter(per_video[has_gt], int(max_avg_proposals), total)
    # An instance is recalled at point j when its first hit ranks inside its video's top counts[v, j].
    recalled = first_hit[:, :, None] < counts[gt.video][:, None, :]  # (M, K, 100)
    recall = recalled.sum(axis=0) / len(gt.label)  # (K, 100)
    an = np.arange(1, _STEPS + 1) * max_avg_proposals / _STEPS
    if not exact_counts:
        an = official_an(per_video[has_gt], int(max_avg_proposals), an, total)
    ar = recall.mean(axis=0)
    auc = float(_trapezoid(ar, an) / an[-1])
    recall_at = {n: float(np.interp(n, an, ar)) for n in RECALL_AT if n <= an[-1]}
    return ProposalMetrics(an, ar, auc, recall_at, tious, recall)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """np.trapz (renamed np.trapezoid in numpy 2), written out so that both numpy lines give the same."""
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def _official_truncation(n_proposals: np.ndarray, max_avg_proposals: int, total: int | None = None) -> np.ndarray:
    """Proposals each video keeps before the curve, as eval_proposal.py: min(int(n * ratio), n) with
    ratio = max_avg * float(V) / total, in float64. n_proposals: int64[V] -> int64[V]; total: the
    proposals of the whole result file (default: n_proposals.sum())."""
    n = np.asarray(n_proposals, dtype=np.int64)
    total = int(n.sum()) if total is None else int(total)
    if total == 0:
        return n
    ratio = max_avg_proposals * float(len(n)) / total
    return np.minimum((n * ratio).astype(np.int64), n)


def proposal_counts(n_proposals: np.ndarray, max_avg_proposals: int, total: int | None = None) -> np.ndarray:
    """How many top proposals each video keeps at each of the 100 points of the curve, as the official
    average_recall_vs_avg_nr_proposals floors them.

    n_proposals: int64[V] proposals per video (V = videos with ground truth) -> int64[V, 100]; total:
    the proposals of the whole file (default: n_proposals.sum()).
    Every video is first truncated (`_official_truncation`); then, with
    pcn = arange(1, 101) / 100.0 * (max_avg * float(V) / total_truncated), point j keeps
    min(int(n_truncated * pcn[j]), n_truncated): 100 * 0.29 = 28.999999999999996 keeps 28.
    """
    n = _official_truncation(n_proposals, max_avg_proposals, total)
    total = int(n.sum())
    if total == 0:
        return np.zeros((len(n), _STEPS), dtype=np.int64)
    pcn = np.arange(1, _STEPS + 1) / 100.0 * (max_avg_proposals * float(len(n)) / total)
    return np.minimum((n[:, None] * pcn).astype(np.int64), n[:, None])


def official_an(n_proposals: np.ndarray, max_avg_proposals: int, fallback: np.ndarray,
                total: int | None = None) -> np.ndarray:
    """The official AN axis, pcn * (float(total_truncated) / V): max_avg * j / 100 up to float rounding.
    `fallback` when no video keeps a proposal (where the official code divides by zero)."""
    n = _official_truncation(n_proposals, max_avg_proposals, total)
    total, videos = int(n.sum()), len(n)
    if total == 0:
        return fallback
    pcn = np.arange(1, _STEPS + 1) / 100.0 * (max_avg_proposals * float(videos) / total)
    return pcn * (float(total) / videos)


def exact_proposal_counts(n_proposals: np.ndarray, max_avg_proposals: int, total: int | None = None) -> np.ndarray:
    """`proposal_counts` with the official arithmetic done on integers, so that 100 proposals at 29% keep
    29, not 28: truncation to n * max_avg * V // total, then n_trunc * j * max_avg * V // (100 * total_trunc).
    n_proposals: int64[V] -> int64[V, 100]; total: as `proposal_counts`."""
    n = np.asarray(n_proposals, dtype=np.int64)
    videos, total = len(n), int(n.sum()) if total is None else int(total)
    if total == 0:
        return np.zeros((videos, _STEPS), dtype=np.int64)
    n = np.minimum(n, n * max_avg_proposals * videos // total)
    total = int(n.sum())
    if total == 0:
        return np.zeros((videos, _STEPS), dtype=np.int64)
    j = np.arange(1, _STEPS + 1, dtype=np.int64)
    return np.minimum(n[:, None], n[:, None] * j * max_avg_proposals * videos // (_STEPS * total))


def _first_hits(gt: GroundTruthArrays, flat: FlatPredictions, tious: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank (in its video, by descending score) of the first proposal with IoU >= threshold.

    -> first_hit int64[M, K] per instance and threshold (a huge number when none), and the number of
    proposals of each ground-truth video int64[V].
    """
    video_index = {v: i for i, v in enumerate(gt.video_ids)}
    video = np.asarray([video_index.get(v, -1) for v in flat.video_ids], dtype=np.int64)[flat.video]
    keep = np.flatnonzero(video >= 0)
    # Videos in order, then descending score; equal scores keep input order (lexsort is stable).
    order = keep[np.lexsort((-flat.scores[keep], video[keep]))]
    prop_segments = flat.segments_s[order]
    per_video = np.bincount(video[order], minlength=len(gt.video_ids))
    video_start = np.cumsum(per_video) - per_video

    never = np.iinfo(np.int64).max
    first_hit = np.full((len(gt.label), len(tious)), never, dtype=np.int64)
    lo = video_start[gt.video]
    for owner, j in pairs_in_ranges(lo, lo + per_video[gt.video], limit=1 << 19):
        iou = pair_iou(gt.segments_s[owner], prop_segments[j])
        rank = np.where(iou[:, None] >= tious, (j - lo[owner])[:, None], never)  # (S, K)
        # Pairs come grouped by instance, and an instance never spans two chunks.
        instances, run_start = np.unique(owner, return_index=True)
        if len(instances):
            first_hit[instances] = np.minimum.reduceat(rank, run_start, axis=0)
    return first_hit, per_video


def format_proposal_table(metrics: ProposalMetrics) -> str:
    """AR@n (%) for the standard n, then the AUC (%)."""
    lines = [f"{'AN':>8}  {'AR (%)':>8}"]
    lines += [f"{'AR@' + str(n):>8}  {100 * ar:>8.2f}" for n, ar in metrics.recall_at.items()]
    lines.append(f"{'AUC':>8}  {100 * metrics.auc:>8.2f}")
    return "\n".join(lines)
