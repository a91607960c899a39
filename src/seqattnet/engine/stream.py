"""Sliding windows over a video whose features arrive while it runs: each window's final detections as soon
as no later window can change them.

A window of T snippets from snippet s runs once snippet s + T exists (then another window follows it, and its
share of the video ends at their border: engine/windowed.py) or once the video has ended (then it is the
last: its share runs to the end, its rows past the video's end are zeros). It runs alone, a batch of one, so
its detections do not depend on which windows happened to be ready with it. Its detections are final once
every window overlapping it has run (`suppress_in_context`). Fed a whole video and closed, this is
`predict`'s windowed path; fed a few snippets at a time, `watch`'s: one implementation, the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..config import Config
from ..data.windows import Window, window_geometry, window_step
from .inference import detect
from .windowed import WindowPart, overlapping, suppress_in_context, window_part, window_shares


class WindowStream:
    """Windows of T snippets `window_step` apart over one video: `push` its features a few snippets at a time,
    `close` it at the end; each returns the windows whose detections became final (WindowPart, start order).

    Memory holds the rows of the windows not yet run and the detections of the windows still needed, never
    the whole video. A window before the last is built with video_duration_s = inf (the duration is not known
    yet): it ends before the video does, so clipping its detections to the video changes nothing.
    """

    def __init__(self, model: torch.nn.Module, cfg: Config, video_id: str, fps: float, method: str = "gaussian"):
        self.model, self.cfg, self.video_id, self.fps, self.method = model, cfg, video_id, fps, method
        self.T = cfg.model.temporal_scale
        self.step = window_step(self.T, cfg.windows.overlap)
        self.rows = np.zeros((0, cfg.model.feature_dim), dtype=np.float32)  # snippets [base, n)
        self.base = self.n = self.next_start = 0  # next_start: the first snippet of the next window to run
        self.waiting: list[WindowPart] = []  # windows run whose detections are not final yet, in start order
        self.done: list[WindowPart] = []  # final windows that a waiting one still reads as context
        self.ended = self.ran_last = False

    @property
    def duration_s(self) -> float:
        """The seconds the snippets so far span, ((n − 1)·stride + window) / fps (`predict`'s duration)."""
        d = self.cfg.data
        return ((self.n - 1) * d.stride_frames + d.window_frames) / self.fps

    def window(self, start: int, duration_s: float = math.inf) -> Window:
        d = self.cfg.data
        geometry = window_geometry(start, self.T, d.stride_frames, d.window_frames, self.fps)
        return Window(f"{self.video_id}@{start}", self.video_id, start, *geometry, duration_s)

    def push(self, features: np.ndarray) -> list[WindowPart]:
        """features: float32[k, F], the video's next k snippets -> the windows that became final."""
        self.rows = np.concatenate([self.rows, np.asarray(features, dtype=np.float32)])
        self.n += len(features)
        while self.n > self.next_start + self.T:
            self._run(last=False)
        return self._finalise()

    def close(self) -> list[WindowPart]:
        """The video ended: run the windows left, the last one padded -> the windows that became final."""
        self.ended = True
        while self.n and not self.ran_last:
            self._run(last=self.next_start + self.T >= self.n)
        return self._finalise()

    def unsuppressed(self, features: np.ndarray) -> list[WindowPart]:
        """Every window of a whole video, float32[n, F], unsuppressed: for window_suppression "video", whose one
        Soft-NMS over the video needs them all."""
        self.rows, self.n, self.ended = np.asarray(features, dtype=np.float32), len(features), True
        parts = []
        while self.n and not self.ran_last:
            self._run(last=self.next_start + self.T >= self.n)
            parts.append(self.waiting.pop())
        return parts

    def depends_until(self, window: Window) -> int:
        """The last snippet the final detections of `window` were computed from: the last row of the last window
        overlapping it, or the snippet after it that showed it was not the video's last."""
        later = window.start_idx
        while later + self.step < self.next_start and overlapping(window, self.window(later + self.step)):
            later += self.step
        return min(later + self.T, self.n - 1)

    def _run(self, last: bool) -> None:
        s, T = self.next_start, self.T
        window = self.window(s, self.duration_s if last else math.inf)
        grid = np.zeros((T, self.rows.shape[1]), dtype=np.float32)  # rows past the video's end stay zero
        rows = self.rows[s - self.base:s - self.base + T]
        grid[:len(rows)] = rows
        shares = None
        if self.cfg.windows.merge == "centre":  # a share reaches the borders with the windows either side
            around = ([self.window(s - self.step)] if s else []) + [window] + ([] if last else [self.window(s + self.step)])
            shares = window_shares(around)
        features = torch.from_numpy(np.ascontiguousarray(grid.T))[None]  # (1, F, T)
        det, = detect(self.model, features.to(next(self.model.parameters()).device), [window.item_id],
                      torch.tensor([window.span_s], dtype=torch.float64), self.cfg.inference, nms=False,
                      shares=shares)
        self.waiting.append(window_part(window, det))
        self.next_start, self.ran_last = s + self.step, last
        cut = min(self.next_start, self.n) - self.base  # rows before the next window are read no more
        self.rows, self.base = self.rows[cut:], self.base + cut

    def _finalise(self) -> list[WindowPart]:
        upcoming = None if self.ran_last else self.window(self.next_start)
        final = []  # (window part, its context): suppressed together below
        while self.waiting and (upcoming is None or not overlapping(self.waiting[0].window, upcoming)):
            part = self.waiting.pop(0)
            final.append((part, [q for q in self.done + [part] + self.waiting if overlapping(part.window, q.window)]))
            self.done.append(part)
        self.done = [q for q in self.done if any(overlapping(q.window, p.window) for p in self.waiting)]
        return suppress_in_context(final, self.cfg.inference, self.method) if final else []
