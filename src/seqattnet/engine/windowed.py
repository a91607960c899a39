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

Suppression (inference.window_suppression). "video": one Soft-NMS over all of a video's detections, on
segments normalised by its duration, keeping max_detections: it needs the whole video. "local" (shipped):
each window's detections go through Soft-NMS among the detections of every window overlapping it (itself
included, in start order), and the window keeps at most max_detections of its own. Its IoU threshold is
soft_nms_t1, the long-video limit of BMN's adaptive t1 + (t2 - t1) * width (width: the kept segment's share
of the video, whose duration a running video does not have yet; a THUMOS14 action is 2 % of its video).
Normalising by the window span instead raised the threshold and suppressed less: 0.5 point lower average
mAP on the THUMOS-shaped data (docs/data.md). A window's final detections then depend only on the windows
overlapping it, so `seqattnet watch` gives them out while a video still runs, and `suppress_in_context` is
the one function that computes them for evaluation, `predict`, `detect` and `watch` alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import InferenceConfig
from ..data.windows import Window
from ..postprocess.soft_nms import batched_soft_nms, soft_nms
from ..structures import Detections
from .inference import pad_by_video, soft_nms_options


@dataclass(frozen=True)
class WindowPart:
    """A window's detections in video seconds: segments_s float64[M, 2] (non-empty), scores float32[M], labels
    int64[M]."""

    window: Window
    segments_s: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


def merge_windows(detections: list[Detections], windows: dict[str, Window], cfg: InferenceConfig,
                  method: str = "gaussian") -> list[Detections]:
    """Window detections (video_id = Window.item_id) -> one Detections per video, best first.

    Segments are shifted by the window's offset_s and clipped to [0, video duration], then suppressed as
    cfg.window_suppression says (see the module docstring).
    """
    by_video: dict[str, list[tuple[Window, Detections]]] = {}
    for det in detections:
        window = windows[det.video_id]
        by_video.setdefault(window.video_id, []).append((window, det))
    if cfg.window_suppression == "video":
        return [merge_video(video_id, [window_part(w, d) for w, d in parts], parts[0][0].video_duration_s, cfg,
                            method) for video_id, parts in by_video.items()]
    return [_merge_local(video_id, parts, cfg, method) for video_id, parts in by_video.items()]


def window_part(window: Window, det: Detections) -> WindowPart:
    """A window's unsuppressed detections (seconds from its offset) -> video seconds, clipped to the video; a
    detection left empty (entirely in the padding past the video's end) is dropped."""
    segments = to_video_seconds(det.segments_s, window).reshape(-1, 2)
    keep = segments[:, 1] > segments[:, 0]
    return WindowPart(window, segments[keep], det.scores.astype(np.float32)[keep], det.labels.astype(np.int64)[keep])


def _concatenated(parts: list[WindowPart]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections of window parts as one set: segments float64[N, 2], scores float32[N], labels int64[N]."""
    if not parts:
        return np.zeros((0, 2)), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return (np.concatenate([p.segments_s for p in parts]).reshape(-1, 2), np.concatenate([p.scores for p in parts]),
            np.concatenate([p.labels for p in parts]))


def overlapping(a: Window, b: Window) -> bool:
    """Whether two windows of a video share some time (only then can their detections overlap)."""
    return a.offset_s < b.offset_s + b.span_s and b.offset_s < a.offset_s + a.span_s


def suppress_in_context(items: list[tuple[WindowPart, list[WindowPart]]], cfg: InferenceConfig,
                        method: str = "gaussian") -> list[WindowPart]:
    """Each (own, context) -> own's final detections: Soft-NMS (the config's, run to the end) over every
    detection of `context` (the windows overlapping own's, own's included, in start order) with the IoU
    threshold soft_nms_t1 (see the module docstring); own's detections then keep their decayed scores, best
    first, at most max_detections. The items' Soft-NMS runs run side by side, as one batch padded to the
    largest context (each row's steps are those of its own run: padding is never picked and decays nothing)."""
    sets = [_concatenated(context) for _, context in items]
    sizes = [len(scores) for _, scores, _ in sets]
    if max(sizes, default=0) == 0:
        return [own for own, _ in items]
    row = torch.repeat_interleave(torch.arange(len(items)), torch.tensor(sizes))
    (segments, scores, labels), valid = pad_by_video(row, len(items), *(torch.from_numpy(np.concatenate(a))
                                                                       for a in zip(*sets)))
    options = soft_nms_options(cfg, method) | {"top_k": max(sizes),  # every decay known before own's top ones
                                               "adaptive": None, "iou_threshold": cfg.soft_nms_t1}
    kept = batched_soft_nms(segments, scores, valid, labels, **options)
    out = []
    for row, ((own, context), (seg, _, label)) in enumerate(zip(items, sets)):
        picked = kept.valid[row].numpy()
        index = kept.indices[row].numpy()[picked]
        mine = np.concatenate([np.full(len(p.scores), p.window.item_id == own.window.item_id) for p in context])
        ok = np.flatnonzero(mine[index])[:cfg.max_detections]
        out.append(WindowPart(own.window, seg[index[ok]], kept.scores[row].numpy()[picked][ok], label[index[ok]]))
    return out


def joined(video_id: str, parts: list[WindowPart]) -> Detections:
    """Final window parts of one video -> its Detections, best first (ties: in the parts' order)."""
    segments, scores, labels = _concatenated(parts)
    order = np.argsort(-scores, kind="stable")
    return Detections(video_id, segments[order], scores[order], labels[order])


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


def _merge_local(video_id: str, parts: list[tuple[Window, Detections]], cfg: InferenceConfig,
                 method: str) -> Detections:
    own = sorted((window_part(w, d) for w, d in parts), key=lambda p: p.window.start_idx)
    return joined(video_id, suppress_in_context([(p, [q for q in own if overlapping(p.window, q.window)]) for p in own],
                                                cfg, method))


def merge_video(video_id: str, parts: list[WindowPart], duration_s: float, cfg: InferenceConfig,
                method: str = "gaussian") -> Detections:
    """window_suppression "video": one Soft-NMS over all of a video's window parts, on segments normalised by
    the video's duration, keeping max_detections."""
    segments, scores, labels = _concatenated(parts)
    if len(scores) == 0:
        return Detections(video_id, np.zeros((0, 2)), np.zeros(0, np.float32), np.zeros(0, np.int64))
    kept = soft_nms(torch.from_numpy(segments / duration_s), torch.from_numpy(scores), torch.from_numpy(labels),
                    **soft_nms_options(cfg, method))
    index = kept.indices.numpy()
    return Detections(video_id, segments[index], kept.scores.numpy(), labels[index])
