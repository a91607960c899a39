"""Segment overlap, the one temporal IoU every stage uses (numpy; `labels.iou_matrix` is its torch twin).

A segment is (start, end) in any unit, the same for both arguments: seconds in evaluation, normalised
time in the targets.
"""

from __future__ import annotations

import numpy as np


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Temporal IoU of a[i] with b[i], element by element after broadcasting.

    a: float[..., 2], b: float[..., 2] (start, end), broadcastable -> float64[...]: float[S, 2] each give
    float[S]. 0 where the union is empty (two segments of zero length).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def segment_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Temporal IoU of every segment in `a` with every segment in `b`.

    a: float[N, 2], b: float[M, 2] (start, end) -> float64[N, M].
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    return pair_iou(a[:, None, :], b[None, :, :])  # (N, M)
