"""Detections of sliding windows -> one set per video: map back to video seconds, concatenate, one Soft-NMS.

Each window's detections come from `detect(..., nms=False)` in seconds from the window's offset (the
window's normalised time × its span); see data/windows.py for the geometry.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import InferenceConfig
from ..data.windows import Window
from ..postprocess.soft_nms import soft_nms
from ..structures import Detections


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
                    method=method, sigma=cfg.soft_nms_sigma, adaptive=(cfg.soft_nms_t1, cfg.soft_nms_t2),
                    top_k=cfg.max_detections)
    index = kept.indices.numpy()
    return Detections(video_id, segments[index], kept.scores.numpy(), labels[index])
