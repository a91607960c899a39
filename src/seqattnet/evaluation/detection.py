"""Detection mAP with the semantics of the official ActivityNet evaluator (Evaluation/eval_detection.py).

Per class and tIoU threshold: predictions sorted by score (descending; ties keep input order), each
one matched to the highest-IoU still-unmatched ground-truth instance of its class in its video with
IoU >= threshold, else a false positive; AP is the all-points interpolated area under the
precision-recall curve (VOC 2011); mAP averages over the classes present in the evaluated ground truth.

Why it is fast: the greedy matching only interacts inside one (class, video) group, and a prediction
whose best IoU in its group is below the smallest threshold can never match anything. So all IoUs are
computed at once, such hopeless predictions are false positives outright, and the rest are matched
rank by rank, all groups and thresholds together, instead of one prediction at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Iterator, Mapping

import numpy as np

from ..errors import InputError, counted, quoted
from ..ops import pair_iou
from ..structures import AnnotationSet, canonical_video_id
from .protocols import TIOUS
from .results import FlatPredictions, flatten_predictions

_PAIRS_PER_CHUNK = 1 << 21  # bounds the memory of the IoU pairs (~50 MB per chunk)


@dataclass
class DetectionMetrics:
    """tious: float64[K]; classes: the C ground-truth classes evaluated; ap: float64[C, K];
    mAP: float64[K] (mean of `ap` over classes); average_mAP: mean of `mAP` over thresholds."""

    tious: np.ndarray
    classes: list[str]
    ap: np.ndarray
    mAP: np.ndarray
    average_mAP: float


@dataclass
class GroundTruthArrays:
    """The instances of an AnnotationSet as arrays (M instances, V videos, C classes).

    video: int64[M] index into video_ids; label: int64[M] index into classes; segments_s: float64[M, 2].
    """

    video_ids: list[str]
    classes: list[str]
    video: np.ndarray
    label: np.ndarray
    segments_s: np.ndarray

    @classmethod
    def from_annotations(cls, ground_truth: AnnotationSet) -> "GroundTruthArrays":
        present = {label for v in ground_truth.videos.values() for label in v.labels}
        # Only classes with an instance in these videos count (official: taxonomy of the subset).
        classes = [c for c in ground_truth.classes if c in present] + sorted(present - set(ground_truth.classes))
        index = {c: i for i, c in enumerate(classes)}
        video_ids = [canonical_video_id(v) for v in ground_truth.videos]
        videos = list(ground_truth.videos.values())
        counts = [len(v.labels) for v in videos]
        video = np.repeat(np.arange(len(videos)), counts)
        label = np.asarray([index[name] for v in videos for name in v.labels], dtype=np.int64)
        segments = np.concatenate([v.segments_s for v in videos]) if videos else np.zeros((0, 2))
        return cls(video_ids, classes, video, label, segments.reshape(-1, 2))

    def n_positives(self) -> np.ndarray:
        """Instances per class. -> int64[C]"""
        return np.bincount(self.label, minlength=len(self.classes))


def evaluate_detection(
    ground_truth: AnnotationSet,
    results: Mapping[str, list[dict]],
    tious=TIOUS["activitynet"],
    *,
    ignore_unknown_labels: bool = False,
    source: str = "predictions",
) -> DetectionMetrics:
    """mAP of `results` against `ground_truth` (already filtered to the evaluated subset).

    results: video id (with or without `v_`) -> [{"label", "score", "segment": [start_s, end_s]}];
    tious: float[K].
    Predictions on videos outside `ground_truth` are false positives, as in the official code.
    A label with no ground-truth instance raises InputError (the official code crashes with a
    KeyError) unless `ignore_unknown_labels`, which drops those predictions. `source` names the
    predictions in error messages (usually their file).
    """
    tious = np.asarray(tious, dtype=np.float64).reshape(-1)
    if len(tious) == 0:
        raise ValueError("no tIoU threshold given")
    gt = GroundTruthArrays.from_annotations(ground_truth)
    ranked = rank_predictions(gt, results, source, ignore_unknown_labels, ground_truth.source)
    is_tp = greedy_match(gt, ranked.label, ranked.video, ranked.segments_s, tious)
    ap = average_precision(ranked.label, is_tp, gt.n_positives())
    mean_ap = ap.mean(axis=0)
    return DetectionMetrics(tious, gt.classes, ap, mean_ap, float(mean_ap.mean()))


@dataclass
class RankedPredictions:
    """Predictions of the evaluated classes sorted by class, then descending score (ties: input order).

    label: int64[P] class index; video: int64[P] index into the ground truth's videos (-1: a video without
    ground truth); segments_s: float64[P, 2]; scores: float64[P].
    """

    label: np.ndarray
    video: np.ndarray
    segments_s: np.ndarray
    scores: np.ndarray


def rank_predictions(gt: GroundTruthArrays, results: Mapping[str, list[dict]], source: object,
                     ignore_unknown_labels: bool, gt_source: object = "ground truth") -> RankedPredictions:
    """Check and flatten `results`, give each prediction its class and video index, sort as the matching
    needs. Raises InputError as `evaluate_detection` documents."""
    if len(gt.label) == 0:
        raise InputError.at(gt_source or "ground truth", "no ground-truth instance in the evaluated videos")
    flat = flatten_predictions(results, source)
    label = _class_of_predictions(flat, gt.classes, source, ignore_unknown_labels)
    video_index = {v: i for i, v in enumerate(gt.video_ids)}
    video = np.asarray([video_index.get(v, -1) for v in flat.video_ids], dtype=np.int64)[flat.video]
    keep = np.flatnonzero(label >= 0)
    # Class first, then descending score; lexsort is stable, so equal scores keep input order.
    order = keep[np.lexsort((-flat.scores[keep], label[keep]))]
    return RankedPredictions(label[order], video[order], flat.segments_s[order], flat.scores[order])


def _class_of_predictions(
    flat: FlatPredictions, classes: list[str], source: object, ignore_unknown: bool
) -> np.ndarray:
    """Class index of every prediction -> int64[P]; -1 for dropped unknown labels."""
    index = {name: i for i, name in enumerate(classes)}
    label = np.asarray(list(map(index.get, flat.labels, repeat(-1))), dtype=np.int64).reshape(-1)
    unknown = np.flatnonzero(label < 0)
    missing = [i for i in unknown if flat.labels[i] is None]
    if missing or (len(unknown) and not ignore_unknown):
        i = missing[0] if missing else unknown[0]
        where = dict(video=flat.video_ids[flat.video[i]], field=f"[{flat.position[i]}].label")
        if missing:
            raise InputError.at(source, "missing (detection needs a class for every prediction)", **where)
        raise InputError.at(
            source,
            f"{quoted(flat.labels[i])} is not a class of the evaluated ground truth "
            f"({counted(len(classes), 'class')}); use --ignore-unknown-labels to drop "
            "such predictions",
            **where,
        )
    return label


def greedy_match(
    gt: GroundTruthArrays, label: np.ndarray, video: np.ndarray, segments_s: np.ndarray, tious: np.ndarray
) -> np.ndarray:
    """True positives of predictions already sorted by (class, descending score).

    label, video: int64[P] (video -1: not in the ground truth); segments_s: float64[P, 2]; tious: float64[K].
    -> bool[P, K]. Each prediction takes the highest-IoU unmatched instance of its class and video with
    IoU >= threshold; equal IoUs go to the instance listed first.
    """
    return match_instances(gt, label, video, segments_s, tious) >= 0


def match_instances(
    gt: GroundTruthArrays, label: np.ndarray, video: np.ndarray, segments_s: np.ndarray, tious: np.ndarray
) -> np.ndarray:
    """The instance each prediction matches, as `greedy_match` decides it. -> int64[P, K] index into the
    instances of `gt` (-1: a false positive at that threshold)."""
    n_videos = max(len(gt.video_ids), 1)
    gt_key = gt.label * n_videos + gt.video
    gt_order = np.argsort(gt_key, kind="stable")  # instances of one (class, video) group are contiguous
    gt_key_sorted = gt_key[gt_order]
    key = np.where(video >= 0, label * n_videos + video, -1)
    lo = np.searchsorted(gt_key_sorted, key, side="left")
    hi = np.where(key >= 0, np.searchsorted(gt_key_sorted, key, side="right"), lo)

    pred, cand, iou = _candidate_pairs(lo, hi, gt_order, gt.segments_s, segments_s, tious.min())
    matched = np.full((len(label), len(tious)), -1, dtype=np.int64)
    locked = np.zeros((len(gt.label), len(tious)), dtype=bool)  # instance already matched, per threshold
    for rows, cand_r, iou_r in _by_rank_in_group(pred, cand, iou, key):
        free = (cand_r >= 0)[:, :, None] & (iou_r[:, :, None] >= tious) & ~locked[cand_r]  # (n, Cmax, K)
        hit = free.any(axis=1)  # (n, K)
        first = free.argmax(axis=1)  # candidates are sorted by IoU, so the first free one is the best
        chosen = np.take_along_axis(cand_r, first, axis=1)  # (n, K)
        matched[rows] = np.where(hit, chosen, -1)
        locked[chosen[hit], np.nonzero(hit)[1]] = True  # one prediction per group at this rank: no clash
    return matched


def pairs_in_ranges(
    lo: np.ndarray, hi: np.ndarray, limit: int = _PAIRS_PER_CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (i, j) with lo[i] <= j < hi[i], i ascending then j ascending, in chunks of about `limit`.

    lo, hi: int64[N] -> yields (owner int64[S], j int64[S]).
    """
    counts = (hi - lo).astype(np.int64)
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start] - counts[start]
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        c = counts[start:stop]
        owner = np.repeat(np.arange(start, stop), c)
        offset = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        yield owner, lo[owner] + offset
        start = stop


def _candidate_pairs(lo, hi, gt_order, gt_segments, segments, min_tiou):
    """(prediction, instance) pairs of the same group with IoU >= min_tiou, sorted by prediction, then
    descending IoU, then instance order. -> pred int64[S], instance int64[S], iou float64[S]."""
    preds, cands, ious = [], [], []
    for owner, j in pairs_in_ranges(lo, hi):
        g = gt_order[j]
        iou = pair_iou(segments[owner], gt_segments[g])
        near = iou >= min_tiou
        preds.append(owner[near])
        cands.append(g[near])
        ious.append(iou[near])
    if not preds:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    pred, cand, iou = np.concatenate(preds), np.concatenate(cands), np.concatenate(ious)
    order = np.lexsort((cand, -iou, pred))
    return pred[order], cand[order], iou[order]


def _by_rank_in_group(pred, cand, iou, key):
    """Group the candidate predictions by their rank inside their (class, video) group.

    Yields, for rank 0, 1, ...: rows int64[n] (prediction indices, one per group), and their candidates
    padded to the widest: instance int64[n, Cmax] (-1 = padding), iou float64[n, Cmax].
    """
    rows, first = np.unique(pred, return_index=True)  # pred is sorted: runs of one prediction
    width = np.diff(np.append(first, len(pred)))
    group_key = key[rows]  # rows ascending = class then score order, so stable sort keeps score order
    by_group = np.argsort(group_key, kind="stable")
    sorted_key = group_key[by_group]
    group_start = np.searchsorted(sorted_key, sorted_key, side="left")
    rank = np.empty(len(rows), dtype=np.int64)
    rank[by_group] = np.arange(len(rows)) - group_start
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2)) if len(rank) else [0]
    for r in range(len(bounds) - 1):
        sel = by_rank[bounds[r]:bounds[r + 1]]
        cmax = int(width[sel].max())
        column = np.arange(cmax)
        valid = column < width[sel][:, None]  # (n, Cmax)
        at = np.where(valid, first[sel][:, None] + column, 0)
        yield rows[sel], np.where(valid, cand[at], -1), np.where(valid, iou[at], -np.inf)


def average_precision(label: np.ndarray, is_tp: np.ndarray, n_positives: np.ndarray, *,
                      counted: np.ndarray | None = None, normalizer: float | None = None) -> np.ndarray:
    """All-points interpolated AP (VOC 2011) per class and threshold.

    label: int64[P] sorted ascending, and within a class by descending score; is_tp: bool[P, K];
    n_positives: int64[C] ground-truth instances per class. -> float64[C, K]. A class without
    predictions has AP 0, one without instances NaN. `counted` and `normalizer` as in
    `cumulative_precision` (DETAD's removal of error types and its normalized AP_N).

    The official area sums (recall step) x (precision made non-increasing from the right); recall
    steps up by 1/n_positives exactly at true positives, so the area is the mean, over all
    instances, of that envelope at the true positives. Rows left out (`counted` False) are never true
    positives and their precision equals the previous counted row's, so they leave the envelope at the
    true positives unchanged.
    """
    precision = cumulative_precision(label, is_tp, n_positives, counted=counted, normalizer=normalizer)
    tp = is_tp if counted is None else is_tp & counted
    ap = np.zeros((len(n_positives), is_tp.shape[1]))
    bounds = np.searchsorted(label, np.arange(len(n_positives) + 1))
    for c in range(len(n_positives)):
        lo, hi = bounds[c], bounds[c + 1]
        if n_positives[c] == 0:
            ap[c] = np.nan
        elif hi > lo:
            envelope = np.maximum.accumulate(precision[lo:hi][::-1], axis=0)[::-1]
            ap[c] = (envelope * tp[lo:hi]).sum(axis=0) / n_positives[c]
    return ap


def cumulative_precision(label: np.ndarray, is_tp: np.ndarray, n_positives: np.ndarray, *,
                         counted: np.ndarray | None = None, normalizer: float | None = None) -> np.ndarray:
    """Precision of each class's ranked list down to each row. -> float64[P, K] (0 before any counted row).

    label, is_tp, n_positives: as `average_precision`. counted: bool[P, K] or bool[P, 1]; rows where it is
    False count neither as true nor as false positives. normalizer: DETAD's N (Alwassel et al., ECCV 2018,
    Sec. 3): precision_N = recall * N / (recall * N + FP), the precision the class would have with N
    instances; None gives the plain TP / (TP + FP).
    """
    tp = is_tp if counted is None else is_tp & counted
    fp = ~is_tp if counted is None else ~is_tp & counted
    starts = np.searchsorted(label, label)  # first row of each row's class
    n_tp, n_fp = _cumsum_from(tp, starts), _cumsum_from(fp, starts)
    if normalizer is None:
        numerator, denominator = n_tp, n_tp + n_fp
    else:
        numerator = n_tp / np.maximum(n_positives, 1)[label][:, None] * normalizer
        denominator = numerator + n_fp
    return np.divide(numerator, denominator, out=np.zeros(tp.shape), where=denominator > 0)


def _cumsum_from(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Running sums down the rows, restarting at each row's `starts`. values: [P, K] -> float64[P, K]."""
    total = np.zeros((len(values) + 1, values.shape[1]))
    np.cumsum(values, axis=0, out=total[1:])
    return total[1:] - total[starts]


def format_detection_table(metrics: DetectionMetrics) -> str:
    """mAP (%) per threshold and the average, one row each."""
    lines = [f"{'tIoU':>8}  {'mAP (%)':>8}"]
    lines += [f"{t:>8.2f}  {100 * m:>8.2f}" for t, m in zip(metrics.tious, metrics.mAP)]
    lines.append(f"{'Average':>8}  {100 * metrics.average_mAP:>8.2f}")
    return "\n".join(lines)
