"""DETAD's false-positive analysis (Alwassel et al., ECCV 2018, Sec. 4.1).

Each prediction at a tIoU threshold t is a true positive or one of five errors, decided by the ground
truth instance of its video with the highest tIoU, whatever its label (the first one on a tie):
- double detection: that tIoU >= t and the same label (the instance was already taken by a better one);
- wrong label: that tIoU >= t, another label;
- localization: 0.1 <= that tIoU < t, the same label;
- confusion: 0.1 <= that tIoU < t, another label;
- background: that tIoU < 0.1, or no ground truth in the video.
The profile looks at the top 10 G predictions of each class (G: its instances), cut into ten slices of G
by rank. The gain of an error type is how much the average mAP_N on those predictions would rise if its
false positives were removed (the other predictions keep their matches).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops import pair_iou
from .detection import GroundTruthArrays, RankedPredictions, average_precision, pairs_in_ranges

ERROR_TYPES = ("true positive", "double detection", "wrong label", "localization", "confusion", "background")
TRUE_POSITIVE, DOUBLE, WRONG_LABEL, LOCALIZATION, CONFUSION, BACKGROUND = range(6)
MIN_TIOU = 0.1  # DETAD's min_tiou_thr: below it a prediction touches no instance
LIMIT_FACTOR = 10  # DETAD's limit_factor: the profile looks at the top 10 G predictions of each class


@dataclass
class FalsePositiveProfile:
    """counts: int64[S, 6, K] predictions of each type (ERROR_TYPES order) in slice s (ranks s G to
    (s + 1) G - 1 of each class) at each threshold; n: int64[S] predictions per slice.

    share: float64[S, 6], DETAD's bars: the mean over thresholds of counts / n. share_top: the same for
    the top (s + 1) G predictions (slices 0..s together). average_mAP_n: on the top 10 G predictions;
    gain: float64[5], average mAP_N rise when each error type (ERROR_TYPES[1:]) is removed.
    """

    counts: np.ndarray
    n: np.ndarray
    average_mAP_n: float
    gain: np.ndarray

    @property
    def share(self) -> np.ndarray:
        return _share(self.counts, self.n)

    @property
    def share_top(self) -> np.ndarray:
        return _share(np.cumsum(self.counts, axis=0), np.cumsum(self.n))

    def to_dict(self) -> dict:
        types = list(ERROR_TYPES)
        return {"types": types, "slices": [f"{s + 1}G" for s in range(len(self.n))],
                "predictions_per_slice": self.n, "counts": self.counts, "share": self.share,
                "share_top": self.share_top, "average_mAP_n_top": self.average_mAP_n,
                "removal_gain": dict(zip(types[1:], self.gain))}


def _share(counts: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return counts.mean(axis=2) / n[:, None]  # NaN for an empty slice


def false_positive_profile(gt: GroundTruthArrays, ranked: RankedPredictions, matched: np.ndarray,
                           tious: np.ndarray, normalizer: float) -> FalsePositiveProfile:
    """The profile of the top LIMIT_FACTOR x G predictions of each class.

    matched: int64[P, K] as `match_instances` gives it for `ranked` at `tious` (float64[K]).
    """
    n_pos = gt.n_positives()
    rank = np.arange(len(ranked.label)) - np.searchsorted(ranked.label, ranked.label)  # rank in the class
    top = np.flatnonzero(rank < LIMIT_FACTOR * n_pos[ranked.label])
    label, is_tp = ranked.label[top], matched[top] >= 0
    types = error_types(gt, label, ranked.video[top], ranked.segments_s[top], is_tp, tious)
    piece = rank[top] // n_pos[label]
    counts = np.zeros((LIMIT_FACTOR, len(ERROR_TYPES), len(tious)), dtype=np.int64)
    np.add.at(counts, (piece[:, None], types, np.arange(len(tious))[None, :]), 1)
    base = average_precision(label, is_tp, n_pos, normalizer=normalizer).mean()
    gain = np.array([average_precision(label, is_tp, n_pos, counted=types != kind, normalizer=normalizer).mean()
                     - base for kind in range(DOUBLE, BACKGROUND + 1)])
    return FalsePositiveProfile(counts, np.bincount(piece, minlength=LIMIT_FACTOR), float(base), gain)


def error_types(gt: GroundTruthArrays, label: np.ndarray, video: np.ndarray, segments_s: np.ndarray,
                is_tp: np.ndarray, tious: np.ndarray) -> np.ndarray:
    """The type of each prediction at each threshold (index into ERROR_TYPES). -> int64[P, K]

    label, video: int64[P] (video -1: no ground truth); segments_s: float64[P, 2]; is_tp: bool[P, K].
    """
    best_iou, best_label = closest_instance(gt, video, segments_s)
    same = (best_label == label)[:, None]
    overlap = best_iou[:, None]
    types = np.full(is_tp.shape, BACKGROUND, dtype=np.int64)
    near = overlap >= MIN_TIOU
    types = np.where(near, np.where(same, LOCALIZATION, CONFUSION), types)
    types = np.where(overlap >= tious[None, :], np.where(same, DOUBLE, WRONG_LABEL), types)
    return np.where(is_tp, TRUE_POSITIVE, types)


def closest_instance(gt: GroundTruthArrays, video: np.ndarray, segments_s: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The highest tIoU of each prediction with any instance of its video, and that instance's class
    (the instance listed first on a tie). -> float64[P] (-1 without instances), int64[P] (-1 likewise)."""
    gt_order = np.argsort(gt.video, kind="stable")  # a video's instances contiguous, in file order
    gt_video = gt.video[gt_order]
    lo = np.searchsorted(gt_video, video, side="left")
    hi = np.where(video >= 0, np.searchsorted(gt_video, video, side="right"), lo)
    best_iou = np.full(len(video), -1.0)
    best_label = np.full(len(video), -1, dtype=np.int64)
    for owner, j in pairs_in_ranges(lo, hi):
        g = gt_order[j]
        iou = pair_iou(segments_s[owner], gt.segments_s[g])
        first = np.lexsort((j, -iou, owner))  # per prediction: highest tIoU, then first listed
        head = first[np.r_[True, owner[first][1:] != owner[first][:-1]]]
        best_iou[owner[head]] = iou[head]
        best_label[owner[head]] = gt.label[g[head]]
    return best_iou, best_label
