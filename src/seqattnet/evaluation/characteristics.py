"""Per-instance characteristics and the analyses binned by them (DETAD, Alwassel et al., ECCV 2018,
Secs. 4.2-4.3), and the start / end errors of matched detections (not in DETAD).

Characteristics of a ground-truth instance: coverage (its length over its video's duration, at most 1),
length (seconds), and instances (how many instances its video has, all classes, as the `num-instances`
of DETAD's characteristic files; or, with instance_count="class", those of its own class). Bins are DETAD's, closed
on the right like pandas.cut(include_lowest=True): XS = [e0, e1], S = (e1, e2], ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple

import numpy as np

from ..structures import AnnotationSet
from .detection import GroundTruthArrays, RankedPredictions, average_precision

SIZES = ("XS", "S", "M", "L", "XL")


class Binning(NamedTuple):
    """Bin edges float64[B + 1] and their B names; counts: the values are counts of at least 1."""

    edges: tuple[float, ...]
    names: tuple[str, ...]
    counts: bool = False

    def interval(self, b: int) -> str:
        """Bin b as docs/evaluation.md writes it: "[0, 0.2]", "(0.2, 0.4]", "> 180"; counts: "1", "2–4", "> 8"."""
        lo, hi = self.edges[b], self.edges[b + 1]
        if np.isinf(hi):
            return f"> {lo:g}"
        if self.counts:  # (lo, hi] holds the counts lo + 1 .. hi, and an instance counts itself
            first = max(int(lo) + 1, 1)
            return f"{first}" if first == int(hi) else f"{first}–{int(hi)}"
        return f"[{lo:g}, {hi:g}]" if b == 0 else f"({lo:g}, {hi:g}]"


BINS: dict[str, dict[str, Binning]] = {  # DETAD's characteristic_names_to_bins for each dataset
    "activitynet": {"coverage": Binning((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), SIZES),
                    "length": Binning((0.0, 30.0, 60.0, 120.0, 180.0, np.inf), SIZES),
                    "instances": Binning((-1.0, 1.0, 4.0, 8.0, np.inf), SIZES[:4], counts=True)},
    "thumos": {"coverage": Binning((0.0, 0.02, 0.04, 0.06, 0.08, 1.0), SIZES),
               "length": Binning((0.0, 3.0, 6.0, 12.0, 18.0, np.inf), SIZES),
               "instances": Binning((-1.0, 1.0, 40.0, 80.0, np.inf), SIZES[:4], counts=True)},
}


class BinStats(NamedTuple):
    """One bin of one characteristic: its range (lo, hi], its instances, DETAD's average mAP_N on them
    (NaN without instances), the share of them missed at each threshold (float64[K]), and its range as
    the docs write it (`Binning.interval`)."""

    label: str
    lo: float
    hi: float
    instances: int
    average_mAP_n: float
    false_negative: np.ndarray
    interval: str = ""

    @property
    def false_negative_average(self) -> float:
        return float(self.false_negative.mean()) if self.instances else float("nan")

    def to_dict(self) -> dict:
        return {**self._asdict(), "false_negative_average": self.false_negative_average}


INSTANCE_COUNTS = ("video", "class")  # what the `instances` characteristic counts in the instance's video


def instance_characteristics(ground_truth: AnnotationSet, gt: GroundTruthArrays,
                             instance_count: str = "video") -> dict[str, np.ndarray]:
    """coverage, length and instances of every instance of `gt` (built from `ground_truth`). -> float64[M]
    each; coverage is NaN where the video has no positive duration. instance_count: "video" counts every
    instance of the video (DETAD), "class" only those of the instance's class."""
    durations = np.asarray([v.duration_s for v in ground_truth.videos.values()], dtype=np.float64)
    length = gt.segments_s[:, 1] - gt.segments_s[:, 0]
    duration = durations[gt.video]
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(duration > 0, np.minimum(length / duration, 1.0), np.nan)
    if instance_count not in INSTANCE_COUNTS:
        raise ValueError(f"instance_count must be one of {INSTANCE_COUNTS}, got {instance_count!r}")
    key = gt.video * len(gt.classes) + gt.label if instance_count == "class" else gt.video
    _, inverse, per_key = np.unique(key, return_inverse=True, return_counts=True)
    return {"coverage": coverage, "length": length, "instances": per_key[inverse].astype(np.float64)}


def bin_index(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Bin of each value, bins (e_i, e_i+1] with e_0 itself in the first. -> int64[N], -1 outside or NaN."""
    edges_a = np.asarray(edges)
    index = np.searchsorted(edges_a, values, side="left") - 1
    index = np.where(values == edges_a[0], 0, index)
    return np.where((index >= 0) & (index < len(edges_a) - 1) & ~np.isnan(values), index, -1)


def sensitivity(gt: GroundTruthArrays, label: np.ndarray, matched: np.ndarray, values: Mapping[str, np.ndarray],
                bins: Mapping[str, Binning], normalizer: float, detected: np.ndarray) -> dict[str, list[BinStats]]:
    """Per characteristic and bin: the average mAP_N of the predictions on that bin's instances, and the
    share of its instances not `detected` (bool[M, K]).

    mAP_N of a bin, as DETAD's sensitivity_analysis.py: the matching stays as on all instances; a
    prediction is dropped when at some threshold it matches an instance outside the bin; the others are
    ranked as before, with the bin's instances of each class as its positives and the global N. Per class
    the mean over thresholds, then the mean over the classes with an instance in the bin.
    """
    out = {}
    for name, binning in bins.items():
        which = bin_index(values[name], binning.edges)
        out[name] = [_bin_stats(gt, label, matched, which == b, normalizer, detected, binning, b)
                     for b in range(len(binning.names))]
    return out


def _bin_stats(gt: GroundTruthArrays, label: np.ndarray, matched: np.ndarray, in_bin: np.ndarray, normalizer: float,
               detected: np.ndarray, binning: Binning, b: int) -> BinStats:
    """Bin b of `binning`; in_bin: bool[M], its instances."""
    n_pos = np.bincount(gt.label[in_bin], minlength=len(gt.classes))
    inside = np.append(in_bin, True)[matched]  # matched -1 (a false positive) reads the appended True
    kept = inside.all(axis=1)[:, None]
    ap_n = average_precision(label, matched >= 0, n_pos, counted=kept, normalizer=normalizer)
    value = float(np.nanmean(ap_n.mean(axis=1))) if n_pos.any() else float("nan")
    missed = 1.0 - detected[in_bin].mean(axis=0) if in_bin.any() else np.full(matched.shape[1], np.nan)
    return BinStats(binning.names[b], binning.edges[b], binning.edges[b + 1], int(in_bin.sum()), value, missed,
                    binning.interval(b))


@dataclass
class BoundaryErrors:
    """Start and end errors (prediction minus instance) of the detections matched at `tiou`, in seconds
    and as a fraction of the instance's length: float64[n] each (negative: too early)."""

    tiou: float
    start_s: np.ndarray
    end_s: np.ndarray
    start_fraction: np.ndarray
    end_fraction: np.ndarray

    def to_dict(self) -> dict:
        out: dict = {"tiou": self.tiou, "matched": len(self.start_s)}
        for name in ("start_s", "end_s", "start_fraction", "end_fraction"):
            values = getattr(self, name)
            out[name] = {**summary(values), "histogram": histogram(values, name.endswith("fraction"))}
        return out


def boundary_errors(gt: GroundTruthArrays, ranked: RankedPredictions, matched: np.ndarray, tiou: float
                    ) -> BoundaryErrors:
    """matched: int64[P], the instance each ranked prediction matches at `tiou` (-1: none)."""
    rows = np.flatnonzero(matched >= 0)
    pred, truth = ranked.segments_s[rows], gt.segments_s[matched[rows]]
    error = pred - truth  # (n, 2): start, end
    length = truth[:, 1] - truth[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(length[:, None] > 0, error / length[:, None], np.nan)
    return BoundaryErrors(tiou, error[:, 0], error[:, 1], fraction[:, 0], fraction[:, 1])


def summary(values: np.ndarray) -> dict:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"n": 0}
    q = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"n": len(values), "mean": values.mean(), "mean_abs": np.abs(values).mean(), "std": values.std(),
            "p10": q[0], "p25": q[1], "median": q[2], "p75": q[3], "p90": q[4]}


def histogram(values: np.ndarray, fraction: bool, bins: int = 40) -> dict:
    """Counts over symmetric bins: [-0.5, 0.5] of the instance for fractions, +-the 99th percentile of
    |error| for seconds; values beyond the range land in the outer bins, and `below` / `above` say how
    many of the outer bins' counts are such values."""
    values = values[np.isfinite(values)]
    limit = 0.5 if fraction else (float(np.quantile(np.abs(values), 0.99)) if len(values) else 1.0)
    limit = limit if limit > 0 else 1.0
    edges = np.linspace(-limit, limit, bins + 1)
    counts, _ = np.histogram(np.clip(values, -limit, limit), edges)
    return {"edges": edges, "counts": counts, "below": int((values < -limit).sum()),
            "above": int((values > limit).sum())}
