"""Detections of sliding windows -> one set per video: map back to video seconds, concatenate, one Soft-NMS.

Each window's detections come from `detect(..., nms=False)` in seconds from the window's offset (the
window's normalised time × its span); see data/windows.py for the geometry.

An action cut by a window's edge is seen twice: cut short by that window, whole by its neighbour (windows
overlap by at least the longest proposal). Merging everything, a cut detection that scores higher decays
the whole one. With windows.merge "centre" each window keeps only the candidates whose proposal is
centred in its own share of the video, which runs to the middle of its overlap with each neighbour (the
first and last windows reach the video's ends): `window_shares` gives the shares, `detect(shares=...)`
drops the other candidates before the heads, so every proposal comes from the window in which it lies
furthest from an edge, a proposal no longer than the overlap is never cut, and the heads (most of the
inference time of wide features) run on half of the candidates at an overlap of one half.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import InferenceConfig
from ..data.windows import Window
from ..postprocess.soft_nms import soft_nms
from ..structures import Detections
from .inference import soft_nms_options

def merge_windows(detections: list[Detections], windows: dict[str, Window], cfg: InferenceConfig,
                  method: str = "gaussian") -> list[Detections]:
    """Window detections (video_id = Window.item_id) -> one Detections per video, best first.

    Segments are shifted by the window's offset_s and clipped to [0, video duration]; the video's
    detections of all windows then go through one Soft-NMS (the config's, as in `detect`), on segments
    normalised by the video's duration so that BMN's adaptive threshold sees the same widths.
    """
    by_video: dict[str, list[tuple[Window, Detections]]] = {}
    for det in detections:
        window = windows[det.video_id]
        by_video.setdefault(window.video_id, []).append((window, det))
    return [_merge_video(video_id, parts, cfg, method) for video_id, parts in by_video.items()]


def to_video_seconds(segments_s: np.ndarray, window: Window) -> np.ndarray:
    """float[M, 2] seconds from the window's offset -> float64[M, 2] video seconds, clipped to the video."""
    return np.clip(np.asarray(segments_s, dtype=np.float64) + window.offset_s, 0.0, window.video_duration_s)


def own_shares(windows: list[Window]) -> np.ndarray:
    """Each window's own share of its video, [lo, hi) in video seconds -> float64[W, 2] (input order).

    Windows are ordered by start; the border between two neighbours is the middle of their overlap (of
    the gap, if they do not overlap); the first share starts at -inf, the last ends at +inf.
    """
    order = np.argsort([w.start_idx for w in windows], kind="stable")
    ends = np.array([windows[i].offset_s + windows[i].span_s for i in order])
    starts = np.array([windows[i].offset_s for i in order])
    borders = (ends[:-1] + starts[1:]) / 2  # (W - 1,)
    shares = np.empty((len(windows), 2))
    shares[order, 0] = np.concatenate([[-np.inf], borders])
    shares[order, 1] = np.concatenate([borders, [np.inf]])
    return shares


def window_shares(windows: list[Window]) -> dict[str, tuple[float, float]]:
    """Each window's own share of its video (`own_shares`) in its normalised time: item id -> (lo, hi)."""
    by_video: dict[str, list[Window]] = {}
    for w in windows:
        by_video.setdefault(w.video_id, []).append(w)
    out = {}
    for parts in by_video.values():
        for w, (lo, hi) in zip(parts, own_shares(parts)):
            out[w.item_id] = ((lo - w.offset_s) / w.span_s, (hi - w.offset_s) / w.span_s)
    return out


def _merge_video(video_id: str, parts: list[tuple[Window, Detections]], cfg: InferenceConfig,
                 method: str) -> Detections:
    duration = parts[0][0].video_duration_s
    segments = np.concatenate([to_video_seconds(d.segments_s, w) for w, d in parts]).reshape(-1, 2)
    scores = np.concatenate([d.scores for _, d in parts]).astype(np.float32)
    labels = np.concatenate([d.labels for _, d in parts]).astype(np.int64)
    keep = segments[:, 1] > segments[:, 0]  # a detection entirely in a window's padding past the video's end
    segments, scores, labels = segments[keep], scores[keep], labels[keep]
    if len(scores) == 0:
        return Detections(video_id, np.zeros((0, 2)), np.zeros(0, np.float32), np.zeros(0, np.int64))
    kept = soft_nms(torch.from_numpy(segments / duration), torch.from_numpy(scores), torch.from_numpy(labels),
                    **soft_nms_options(cfg, method))
    index = kept.indices.numpy()
    return Detections(video_id, segments[index], kept.scores.numpy(), labels[index])
