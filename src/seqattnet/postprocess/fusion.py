"""Fusion with an external video-level classifier (CUHK's ActivityNet scores, as BSN/BMN use them).

The file is {"results": {video: [score per class]}, "class": [names]} (CUHK's layout; without "class"
the scores follow the dataset's class order) or {"results": {video: {class: score}}}; the "results"
wrapper may be left out. Two ways to fuse, on result entries {"label", "score", "segment"}:
- "multiply": score × s_video[label], the detection keeps its class;
- "replace": BMN's practice: every detected segment is given the video's top-k classes instead of its
  own, with score × s_video[class] (the segment's score still holds the class head's probability).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import load_json
from ..errors import InputError
from ..structures import canonical_video_id

MODES = ("multiply", "replace")


def read_class_scores(path: str | Path, classes: list[str]) -> dict[str, np.ndarray]:
    """Video-level class scores -> {canonical video id: float64[C]} in the order of `classes`."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError.at(path, "expected a JSON object of videos (or {'results': ...})")
    order = data.get("class", classes)
    videos = data.get("results", data)
    if not isinstance(videos, dict):
        raise InputError.at(path, "expected an object of videos", field="results")
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise InputError.at(path, "expected a list of class names", field="class")
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for video, scores in videos.items():
        out[canonical_video_id(video)] = _scores(scores, order, index, path, video)
    return out


def _scores(scores, order: list[str], index: dict[str, int], path, video: str) -> np.ndarray:
    if isinstance(scores, dict):
        order, scores = list(scores), list(scores.values())
    if not isinstance(scores, list) or len(scores) != len(order):
        raise InputError.at(path, f"expected {len(order)} class scores", video=video)
    unknown = [name for name in order if name not in index]
    if unknown:
        raise InputError.at(path, f"classes not in the dataset's class list: {unknown[:3]}", video=video)
    out = np.zeros(len(index))
    values = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError.at(path, "non-finite class score", video=video)
    out[[index[name] for name in order]] = values
    return out


def fuse_class_scores(results: dict[str, list[dict]], video_scores: dict[str, np.ndarray], classes: list[str],
                      mode: str = "multiply", top_k: int = 2, max_detections: int = 100) -> dict[str, list[dict]]:
    """Result entries with their scores fused with the video's class scores, best first.

    A video without class scores is an error: silently keeping its unfused scores would mix scales.
    """
    if mode not in MODES:
        raise InputError.at("inference.class_score_fusion", f"expected one of {MODES}, got {mode!r}")
    index = {name: i for i, name in enumerate(classes)}
    fused = {}
    for video, preds in results.items():
        if canonical_video_id(video) not in video_scores:
            raise InputError.at("inference.class_scores", "no class scores for this video", video=video)
        s = video_scores[canonical_video_id(video)]
        if mode == "multiply":
            out = [{**p, "score": p["score"] * float(s[index[p["label"]]])} for p in preds]
        else:
            top = np.argsort(-s, kind="stable")[:top_k]
            out = [{**p, "label": classes[c], "score": p["score"] * float(s[c])} for p in preds for c in top]
        fused[video] = sorted(out, key=lambda p: -p["score"])[:max_detections]
    return fused
