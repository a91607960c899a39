"""Sliding windows of T snippets at the features' native rate, for long videos with short actions (THUMOS14).

Rescaling a 151 s video to T = 100 cells would give 1.5 s cells, and a 2.9 s action would cover two of
them. Instead each item is a window of T consecutive snippets, windows overlap by a share of T, and the
last one is padded with zeros past the video's end. Window w starts at snippet s_w and its cell t is
snippet s_w + t, at c_{s_w+t} = ((s_w + t)·stride + window/2) / fps seconds. Normalised window time u
(cell t spans [t/T, (t+1)/T)) therefore maps to video seconds by one affine map

    seconds = offset_s + u · span_s,   offset_s = ((s_w − 0.5)·stride + window/2) / fps,   span_s = T·stride / fps

so that detections (u · span_s, as for a whole video of duration span_s) only need offset_s added.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..structures import AnnotationSet
from .dataset import FeatureSpec, VideoDataset, VideoSample
from .sources import FeatureSource


@dataclass(frozen=True)
class Window:
    """One item of a WindowDataset: T snippets of a video from `start_idx`."""

    item_id: str  # "<video_id>@<start_idx>": unique per window (training caches targets by item id)
    video_id: str
    start_idx: int  # first snippet of the window
    offset_s: float  # video seconds at the window's normalised time 0
    span_s: float  # seconds the window's normalised [0, 1] spans: T·stride / fps
    video_duration_s: float


def window_step(T: int, overlap: float) -> int:
    """Snippets between the starts of two consecutive windows of T: max(1, round(T·(1 − overlap)))."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"window overlap must lie in [0, 1), got {overlap}")
    return max(1, round(T * (1.0 - overlap)))


def window_starts(n_snippets: int, T: int, overlap: float) -> list[int]:
    """First snippets of windows of T covering n snippets, `window_step` apart; the last window is the first
    that reaches the video's end (it may run past it: padded)."""
    step = window_step(T, overlap)
    starts = [0]
    while starts[-1] + T < n_snippets:
        starts.append(starts[-1] + step)
    return starts


def window_geometry(start_idx: int, T: int, stride_frames: float, window_frames: float, fps: float) -> tuple[float, float]:
    """(offset_s, span_s) of the window starting at snippet start_idx; see the module docstring."""
    offset_s = ((start_idx - 0.5) * stride_frames + window_frames / 2.0) / fps
    return offset_s, T * stride_frames / fps


def clip_to_window(segments_s: np.ndarray, offset_s: float, span_s: float, min_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments in video seconds -> normalised to the window, clipped to [0, 1].

    segments_s: float[K, 2] -> (float64[K', 2], kept: bool[K]). A segment is kept when what is left of
    it inside the window is at least min_fraction × min(its length, the window's); others are dropped.
    """
    norm = (np.asarray(segments_s, dtype=np.float64).reshape(-1, 2) - offset_s) / span_s  # (K, 2)
    clipped = np.clip(norm, 0.0, 1.0)
    inside = clipped[:, 1] - clipped[:, 0]
    full = np.minimum(norm[:, 1] - norm[:, 0], 1.0)
    kept = (inside > 0) & (inside >= min_fraction * full)
    return clipped[kept], kept


class WindowDataset(VideoDataset):
    """Windows of `temporal_scale` native snippets over the videos of an AnnotationSet.

    Validation is VideoDataset's (files, dimensions, labels, segments clipped to the video). Segment
    fragments a window cuts below `min_fraction` are left out of that window and listed in
    `dropped_fragments`, counted in one line of `skipped`. `windows[i]` describes item i.
    """

    def __init__(self, annotations: AnnotationSet, feature_dir: Path, classes: list[str], spec: FeatureSpec,
                 temporal_scale: int, *, overlap: float = 0.5, min_fraction: float = 0.3,
                 file_pattern: str = "{video_id}.npy", tolerance_s: float = 1.0) -> None:
        if spec.rescaled:
            raise ValueError("windows need features at their native rate, not rescaled ones")
        if FeatureSource(feature_dir).store is not None:  # windows read row ranges of per-video files
            raise InputError.at(feature_dir, "windows.enabled reads a folder of per-video files, not one HDF5 file")
        self._rows: dict[str, int] = {}
        super().__init__(annotations, feature_dir, classes, spec, temporal_scale, file_pattern=file_pattern,
                         tolerance_s=tolerance_s)
        self.min_fraction = min_fraction
        self.windows: list[Window] = []
        self._items: list[tuple[int, np.ndarray, np.ndarray]] = []  # (video index, segments_norm, labels)
        self.dropped_fragments: list[str] = []
        for v, truth in enumerate(self._truth):
            self._add_windows(v, truth, overlap)
        if self.dropped_fragments:
            self.skipped.append(f"{len(self.dropped_fragments)} segment fragments cut by window edges left out "
                                f"(< {min_fraction} of the segment or window; listed in dropped_fragments)")
        self._last: tuple[int, np.ndarray] | None = None  # non-.npy files: the last video read, whole

    def _check_file(self, truth) -> Path:
        path = super()._check_file(truth)
        self._rows[truth.video_id] = self.source.rows(path, truth.video_id, self.spec.feature_dim)
        return path

    def _add_windows(self, v: int, truth, overlap: float) -> None:
        for start in window_starts(self._rows[truth.video_id], self.temporal_scale, overlap):
            window, segments, labels, cut = self.window_at(v, start)
            for k in np.flatnonzero(cut):
                self.dropped_fragments.append(f"video {truth.video_id!r}, window from snippet {start}: "
                                              f"fragment of segment {truth.segments_s[k].tolist()} s")
            self.windows.append(window)
            self._items.append((v, segments, labels))

    def window_at(self, v: int, start: int) -> tuple[Window, np.ndarray, np.ndarray, np.ndarray]:
        """The window of video v from snippet `start` -> (Window, segments_norm float32[K', 2], labels int[K'],
        cut: bool[K], the video's segments it cuts below self.min_fraction)."""
        truth, spec = self._truth[v], self.spec
        offset_s, span_s = window_geometry(start, self.temporal_scale, spec.stride_frames, spec.window_frames, truth.fps)
        segments, kept = clip_to_window(truth.segments_s, offset_s, span_s, self.min_fraction)
        cut = (truth.segments_s[:, 1] > offset_s) & (truth.segments_s[:, 0] < offset_s + span_s) & ~kept
        window = Window(f"{truth.video_id}@{start}", truth.video_id, start, offset_s, span_s, truth.duration_s)
        return window, segments.astype(np.float32), truth.labels[kept], cut

    def sample(self, window: Window, v: int, segments: np.ndarray, labels: np.ndarray) -> VideoSample:
        """The item of `window` of video v with its clipped segments and labels."""
        return VideoSample(window.item_id, window.span_s, torch.from_numpy(self._features(v, window.start_idx)),
                           torch.from_numpy(segments), torch.from_numpy(labels))

    def num_snippets(self, v: int) -> int:
        return self._rows[self._truth[v].video_id]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> VideoSample:
        return self.sample(self.windows[i], *self._items[i])

    def __getitems__(self, indices: list[int]) -> list[VideoSample]:
        return [self[i] for i in indices]

    def _features(self, v: int, start: int) -> np.ndarray:
        """Snippets [start, start + T) of video v, zero rows past its end -> float32[F, T]."""
        path, T = self._files[v], self.temporal_scale
        rows = self.source.read_rows(path, self._truth[v].video_id, start, T, self.spec.feature_dim)  # .npy: a memory map
        if rows is None:
            rows = self._read_video(v)[start:start + T]
        out = np.zeros((T, self.spec.feature_dim), dtype=np.float32)
        out[: len(rows)] = rows
        return np.ascontiguousarray(out.T)  # (F, T)

    def _read_video(self, v: int) -> np.ndarray:
        """Video v's whole file, kept while the next windows are of the same video (evaluation's order)."""
        if self._last is None or self._last[0] != v:
            self._last = (v, self.source.read(self._files[v], self._truth[v].video_id, self.spec.feature_dim))
        return self._last[1]


class RandomWindows(torch.utils.data.Dataset):
    """`per_video` windows of T snippets per video of a WindowDataset, at uniformly random starts (a random
    crop, as ActionFormer trains): an epoch costs per_video x the videos instead of every overlapping window.

    The starts are drawn by `set_epoch(epoch)` (call it before each epoch) from (seed, epoch) alone, so a
    run, a resumed run and every process of a distributed one draw the same. A start lies in
    [0, n − T], the window inside the video (a video shorter than T: one window from 0, padded).
    """

    def __init__(self, base: WindowDataset, per_video: int, seed: int) -> None:
        if per_video < 1:
            raise ValueError(f"per_video must be >= 1, got {per_video}")
        self.base, self.per_video, self.seed = base, per_video, seed
        self.skipped = base.skipped
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        T, self.starts = self.base.temporal_scale, []
        for v in range(len(self.base.video_ids)):
            last = max(self.base.num_snippets(v) - T, 0)
            self.starts += [(v, int(s)) for s in rng.integers(0, last + 1, size=self.per_video)]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> VideoSample:
        v, start = self.starts[i]
        window, segments, labels, _ = self.base.window_at(v, start)  # cut as the base's windows are
        return self.base.sample(window, v, segments, labels)
