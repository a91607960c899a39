"""A slow Soft-NMS: BMN's per-video Python loop (post_processing.py, Soft_NMS), one candidate at a time,
with the package's clean semantics so that it must agree with `seqattnet.postprocess.soft_nms` exactly:
keep up to `top_k` (BMN keeps up to 101 and never outputs the last remaining candidate in some copies),
equal scores go to the lower index, and linear / hard decay and per-class suppression as options.
"""

from __future__ import annotations

import math


def soft_nms_loop(starts, ends, scores, labels=None, *, method="gaussian", sigma=0.4, iou_threshold=0.0,
                  adaptive=None, top_k=100, class_agnostic=True) -> list[tuple[int, float]]:
    """-> [(index into the input, decayed score)] in the order kept."""
    alive = [i for i in range(len(scores)) if scores[i] != -math.inf]
    score = {i: float(scores[i]) for i in alive}
    kept = []
    while alive and len(kept) < top_k:
        best = max(alive, key=lambda i: score[i])  # max() returns the first maximum: the lower index
        kept.append((best, score[best]))
        alive.remove(best)
        s0, e0 = float(starts[best]), float(ends[best])
        threshold = iou_threshold if adaptive is None else adaptive[0] + (adaptive[1] - adaptive[0]) * (e0 - s0)
        survivors = []
        for i in alive:
            s, e = float(starts[i]), float(ends[i])
            inter = max(0.0, min(e, e0) - max(s, s0))
            union = (e - s) + (e0 - s0) - inter
            iou = inter / union if union > 0 else 0.0
            if iou > threshold and (class_agnostic or labels[i] == labels[best]):
                if method == "hard":
                    continue
                score[i] *= math.exp(iou * iou * (-1.0 / sigma)) if method == "gaussian" else 1.0 - iou
            survivors.append(i)
        alive = survivors
    return kept
