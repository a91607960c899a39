"""Why a detector fails: the error diagnosis of DETAD (Alwassel et al., "Diagnosing Error in Temporal
Action Detectors", ECCV 2018), on the matching of `detection.py`, plus boundary errors and PR curves.

`diagnose` matches every prediction once (all thresholds together) and derives each analysis from that
matching, as DETAD does: the false-positive profile and the gain from removing each error type
(`false_positives.py`), the normalized mAP and the share of missed instances per bin of an instance
characteristic (`characteristics.py`), and, beyond DETAD, start and end errors of the matched
detections. docs/evaluation.md states every definition and where this code departs from DETAD's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from ..structures import AnnotationSet
from .characteristics import (BINS, BinStats, Binning, BoundaryErrors, boundary_errors,
                              instance_characteristics, sensitivity)
from .detection import (DetectionMetrics, GroundTruthArrays, RankedPredictions, average_precision,
                        cumulative_precision, match_instances, rank_predictions)
from .false_positives import ERROR_TYPES, FalsePositiveProfile, false_positive_profile
from .protocols import TIOUS

PR_TIOUS = (0.5, 0.75, 0.95)  # the thresholds of the report's precision-recall curves
BOUNDARY_TIOU = 0.5  # boundary errors are measured on the detections matched at this threshold
RECALL_GRID = np.linspace(0.0, 1.0, 101)  # recall levels of the PR curves


@dataclass
class Matching:
    """Ranked predictions with the instance each one matches at each threshold of `tious`.

    matched: int64[P, K] index into the ground-truth instances, -1 for a false positive.
    """

    gt: GroundTruthArrays
    ranked: RankedPredictions
    tious: np.ndarray
    matched: np.ndarray

    def at(self, tious: Iterable[float]) -> np.ndarray:
        """The columns of `matched` for these thresholds. -> int64[P, len(tious)]"""
        return self.matched[:, [self.column(t) for t in tious]]

    def column(self, tiou: float) -> int:
        k = int(np.argmin(np.abs(self.tious - tiou)))
        if abs(self.tious[k] - tiou) > 1e-9:
            raise KeyError(f"tIoU {tiou} was not matched")
        return k


@dataclass
class PrecisionRecall:
    """Class-averaged interpolated precision at each recall level of RECALL_GRID.

    tious: float64[J]; recall: float64[R]; precision: float64[J, R]; mAP: float64[J] at those thresholds.
    """

    tious: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    mAP: np.ndarray


@dataclass
class Diagnosis:
    """Every number of the analysis (C classes, K thresholds; fractions in [0, 1]).

    detection: the official mAP; ap_n: float64[C, K] DETAD's normalized AP_N on all predictions and
    average_mAP_n its mean; normalizer: N, the mean number of instances per class; instance_count: what
    the `instances` characteristic counts ("video": every instance of the video, DETAD; "class": its class's).
    """

    protocol: str
    tious: np.ndarray
    classes: list[str]
    counts: dict[str, int]
    detection: DetectionMetrics
    normalizer: float
    ap_n: np.ndarray
    average_mAP_n: float
    pr: PrecisionRecall
    false_positives: FalsePositiveProfile
    sensitivity: dict[str, list[BinStats]]
    false_negative: np.ndarray  # float64[K]: share of all instances missed at each threshold
    boundary: BoundaryErrors
    instance_count: str = "video"

    def to_dict(self) -> dict:
        """Plain JSON values; NaN (a bin or class without instances) becomes null."""
        d = self.detection
        out = {
            "protocol": self.protocol, "tious": self.tious, "counts": self.counts, "classes": self.classes,
            "mAP": {"per_tiou": d.mAP, "average": d.average_mAP, "per_class_ap": d.ap},
            "normalized": {"N": self.normalizer, "per_class_ap_n": self.ap_n, "mAP_n": self.ap_n.mean(axis=0),
                           "average_mAP_n": self.average_mAP_n},
            "pr_curves": vars(self.pr),
            "false_positives": self.false_positives.to_dict(),
            "sensitivity": {name: [b.to_dict() for b in bins] for name, bins in self.sensitivity.items()},
            "instance_count": self.instance_count,
            "false_negatives": {"overall": self.false_negative, "overall_average": self.false_negative.mean(),
                                "by_bin": {name: {b.label: b.false_negative_average for b in bins}
                                           for name, bins in self.sensitivity.items()}},
            "boundary_errors": self.boundary.to_dict(),
        }
        return plain(out)


def diagnose(ground_truth: AnnotationSet, results: Mapping[str, list[dict]], tious=TIOUS["activitynet"], *,
             protocol: str = "activitynet", bins: Mapping[str, Binning] | None = None,
             ignore_unknown_labels: bool = False, source: str = "predictions",
             instance_count: str = "video") -> Diagnosis:
    """The whole diagnosis of `results` against `ground_truth` (already the evaluated subset).

    results and the checks on them: as `evaluate_detection`. tious: float[K] of the mAP and of DETAD's
    analyses; bins: characteristic -> Binning (default: DETAD's bins of `protocol`). instance_count: the
    `instances` characteristic counts every instance of the video ("video", DETAD's) or only those of
    the instance's class ("class").
    """
    tious = np.asarray(tious, dtype=np.float64).reshape(-1)
    bins = BINS[protocol] if bins is None else bins
    matching = match_all(ground_truth, results, tious, ignore_unknown_labels, source)
    gt, ranked = matching.gt, matching.ranked
    n_pos = gt.n_positives()
    normalizer = len(gt.label) / len(gt.classes)  # DETAD's N: average instances per class
    matched = matching.at(tious)
    ap = average_precision(ranked.label, matched >= 0, n_pos)
    ap_n = average_precision(ranked.label, matched >= 0, n_pos, normalizer=normalizer)
    values = instance_characteristics(ground_truth, gt, instance_count)
    detected = detected_instances(ranked.label, matched, n_pos, normalizer, len(gt.label))
    counts = {"videos": len(gt.video_ids), "instances": len(gt.label), "classes": len(gt.classes),
              "predictions": len(ranked.label), "predictions_off_ground_truth": int((ranked.video < 0).sum())}
    return Diagnosis(
        protocol, tious, gt.classes, counts,
        DetectionMetrics(tious, gt.classes, ap, ap.mean(axis=0), float(ap.mean(axis=0).mean())),
        normalizer, ap_n, float(ap_n.mean()),
        precision_recall(matching, n_pos),
        false_positive_profile(gt, ranked, matched, tious, normalizer),
        sensitivity(gt, ranked.label, matched, values, bins, normalizer, detected),
        1.0 - detected.mean(axis=0),
        boundary_errors(gt, ranked, matching.matched[:, matching.column(BOUNDARY_TIOU)], BOUNDARY_TIOU),
        instance_count,
    )


def match_all(ground_truth: AnnotationSet, results: Mapping[str, list[dict]], tious: np.ndarray,
              ignore_unknown_labels: bool, source: str) -> Matching:
    """One matching at the analysis thresholds, the PR thresholds and the boundary threshold together."""
    wanted = list(tious)
    for t in (*PR_TIOUS, BOUNDARY_TIOU):
        if not np.any(np.abs(np.asarray(wanted) - t) <= 1e-9):
            wanted.append(t)
    everything = np.asarray(wanted)
    gt = GroundTruthArrays.from_annotations(ground_truth)
    ranked = rank_predictions(gt, results, source, ignore_unknown_labels, ground_truth.source)
    matched = match_instances(gt, ranked.label, ranked.video, ranked.segments_s, everything)
    return Matching(gt, ranked, everything, matched)


def detected_instances(label: np.ndarray, matched: np.ndarray, n_positives: np.ndarray, normalizer: float,
                       n_instances: int, min_precision_n: float = 0.05) -> np.ndarray:
    """Instances DETAD's false-negative analysis counts as found. -> bool[M, K]

    A match counts only where the normalized precision of its class's ranked list, down to the matching
    prediction, exceeds `min_precision_n` (DETAD's minimum_normalized_precision_threshold_for_detection,
    0.05 in its false_negative_analysis.py): a hit deep in a list of false positives is not a detection.
    """
    precision_n = cumulative_precision(label, matched >= 0, n_positives, normalizer=normalizer)
    kept = (matched >= 0) & (precision_n > min_precision_n)
    detected = np.zeros((n_instances, matched.shape[1]), dtype=bool)
    rows, k = np.nonzero(kept)
    detected[matched[rows, k], k] = True
    return detected


def precision_recall(matching: Matching, n_positives: np.ndarray) -> PrecisionRecall:
    """Class-averaged PR curves at PR_TIOUS: per class, the interpolated precision (the best precision at
    any recall >= r, 0 beyond the class's final recall), averaged over the classes."""
    label = matching.ranked.label
    is_tp = matching.at(PR_TIOUS) >= 0
    precision = cumulative_precision(label, is_tp, n_positives)
    ap = average_precision(label, is_tp, n_positives)
    curves = np.zeros((len(PR_TIOUS), len(RECALL_GRID)))
    bounds = np.searchsorted(label, np.arange(len(n_positives) + 1))
    for c in range(len(n_positives)):
        lo, hi = bounds[c], bounds[c + 1]
        if hi == lo:
            continue
        envelope = np.maximum.accumulate(precision[lo:hi][::-1], axis=0)[::-1]
        recall = np.cumsum(is_tp[lo:hi], axis=0) / n_positives[c]
        for j in range(len(PR_TIOUS)):
            first = np.searchsorted(recall[:, j], RECALL_GRID - 1e-12, side="left")
            reached = first < hi - lo
            curves[j, reached] += envelope[first[reached], j]
    return PrecisionRecall(np.asarray(PR_TIOUS), RECALL_GRID.copy(), curves / len(n_positives), ap.mean(axis=0))


def plain(value):
    """numpy arrays and scalars -> lists and Python numbers, recursively; NaN and inf -> None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


__all__ = ["BINS", "ERROR_TYPES", "Diagnosis", "diagnose"]
