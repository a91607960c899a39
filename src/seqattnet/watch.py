"""`seqattnet watch`: detections while a video is still being recorded or sent, each given out once final.

frames (video/live.py) -> snippets -> features in batches aligned as `detect` makes them (feature_batch) -> sliding
windows (engine/stream.py) -> each window's final detections as soon as every window overlapping it has run.
On a stream that ends, the detections are those `detect` gives on the finished file, bit for bit: the same
snippets, batches, windows and suppression code. Ctrl-C ends the stream where it is and flushes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .config import Config
from .errors import InputError


@dataclass(frozen=True)
class WatchEvent:
    """One final detection: its segment in video seconds, and the stream times at which it was given out
    (emitted_s) and at which the last snippet it was computed from ended (depends_s)."""

    video: str
    start_s: float
    end_s: float
    label: str
    score: float
    emitted_s: float
    depends_s: float

    def to_dict(self) -> dict:
        return {"video": self.video, "segment": [self.start_s, self.end_s], "label": self.label,
                "score": self.score, "emitted_s": self.emitted_s, "depends_s": self.depends_s}


@dataclass
class WatchSummary:
    """The closing record: how the stream ended, how much was seen, how fast and how late."""

    video: str
    end: str = "end of stream"  # or "interrupted" (Ctrl-C)
    stream_s: float = 0.0  # seconds of video decoded
    wall_s: float = 0.0
    snippets: int = 0
    dropped: int = 0  # snippets of a live source not computed (the machine fell behind): features repeated
    detections: int = 0
    delays_s: list[float] = field(default_factory=list, repr=False)  # emitted_s - end_s of each detection
    lags_s: list[float] = field(default_factory=list, repr=False)  # emitted_s - depends_s of each detection

    @property
    def realtime_factor(self) -> float:
        """Seconds of video processed per second of wall time (>= 1: keeps up)."""
        return self.stream_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("delays_s", "lags_s")}
        out["realtime_factor"] = self.realtime_factor
        out["delay_s"], out["lag_s"] = _spread(self.delays_s), _spread(self.lags_s)
        return {"summary": out}


def check_watchable(cfg: Config, checkpoint: object) -> None:
    """Refuse, in one line, a checkpoint whose detections need the whole video."""
    if cfg.data.rescaled or not cfg.windows.enabled:
        kind = "features rescaled to T rows (data.rescaled)" if cfg.data.rescaled else "each video rescaled to T"
        raise InputError.at(checkpoint, f"its config reads {kind}, which needs the whole video; watch takes a "
                                        "windowed checkpoint (windows.enabled, e.g. the thumos14 config)")
    if cfg.inference.window_suppression != "local":
        raise InputError.at(checkpoint, "inference.window_suppression is 'video' (one Soft-NMS over the whole "
                                        "video); pass --set inference.window_suppression=local")
    if not cfg.data.backbone:
        raise InputError.at(checkpoint, "the checkpoint does not name the backbone of its features (data.backbone "
                                        "is empty); watch extracts them as `seqattnet detect` does")


def watch_source(model: torch.nn.Module, cfg: Config, classes: list[str], source: str, *, weights: str = "default",
                 timeout_s: float = 10.0, device: torch.device | None = None,
                 on_progress: Callable[[WatchSummary], None] | None = None) -> Iterator[WatchEvent | WatchSummary]:
    """Final detections of `source` (see video/live.py) as they become final, then one WatchSummary."""
    from .engine.stream import WindowStream
    from .pipeline import feature_batch
    from .video.backbones import build_backbone
    from .video.decode import decode_frames, iter_snippets
    from .video.extract import FrameCounter
    from .video.live import LiveSnippets, open_live

    check_watchable(cfg, "--checkpoint")
    d = cfg.data
    device = device or next(model.parameters()).device
    net = build_backbone(d.backbone, weights, window_frames=int(d.window_frames))
    net.model.to(device)
    video = open_live(source, timeout_s)
    frames = FrameCounter(decode_frames(video.container, net.resize, net.crop_size, video.where))
    snippets = iter_snippets(frames, int(d.window_frames), int(d.stride_frames))
    if video.live:
        snippets = LiveSnippets(snippets, limit=2 * feature_batch(cfg))
    run = _Run(WindowStream(model, cfg, video.video_id, video.fps), net, device, classes, frames,
               WatchSummary(video.video_id), on_progress, feature_batch(cfg))
    try:
        yield from run.follow(snippets)
    finally:
        video.container.close()
    run.summary.dropped = getattr(snippets, "dropped", 0)
    yield run.summary


class _Run:
    """The state of one watch: the stream of windows, the backbone, the batch of snippets being filled."""

    def __init__(self, stream, net, device, classes, frames, summary: WatchSummary, on_progress, batch_size: int):
        self.stream, self.net, self.device, self.classes, self.frames = stream, net, device, classes, frames
        self.summary, self.on_progress, self.batch_size = summary, on_progress, batch_size
        self.batch: list[np.ndarray | None] = []
        self.last_row: np.ndarray | None = None  # the features a dropped snippet repeats
        self.started = time.monotonic()

    def follow(self, snippets) -> Iterator[WatchEvent]:
        try:
            for snippet in snippets:
                self.batch.append(snippet)
                if len(self.batch) == self.batch_size:
                    yield from self._events(self.stream.push(self._features()))
        except KeyboardInterrupt:  # the stream ends here; what it gave is flushed below
            self.summary.end = "interrupted"
        if self.batch:
            yield from self._events(self.stream.push(self._features()))
        yield from self._events(self.stream.close())

    def _features(self) -> np.ndarray:
        """The batch's snippets -> float32[B, F]; a dropped snippet (None) repeats the features before it."""
        from .video.extract import snippet_features

        real = [s for s in self.batch if s is not None]
        computed = iter(snippet_features(self.net, real, self.device).numpy()) if real else iter(())
        rows = []
        for snippet in self.batch:
            if snippet is not None:
                self.last_row = next(computed)
            rows.append(self.last_row if self.last_row is not None else np.zeros(self.net.feature_dim, np.float32))
        self.batch = []
        self.summary.snippets += len(rows)
        return np.stack(rows)  # (B, F)

    def _events(self, parts) -> Iterator[WatchEvent]:
        s, d = self.summary, self.stream.cfg.data
        s.stream_s = self.frames.n / self.stream.fps
        s.wall_s = time.monotonic() - self.started
        for part in parts:
            last = self.stream.depends_until(part.window)
            depends_s = (last * d.stride_frames + d.window_frames) / self.stream.fps
            for (a, b), score, label in zip(part.segments_s, part.scores, part.labels):
                s.detections += 1
                s.delays_s.append(s.stream_s - float(b))
                s.lags_s.append(s.stream_s - depends_s)
                yield WatchEvent(s.video, float(a), float(b), self.classes[int(label)], float(score), s.stream_s,
                                 depends_s)
        if self.on_progress is not None:
            self.on_progress(s)


def _spread(values: list[float]) -> dict:
    """{mean, p50, p90, max} of `values` in seconds; {} when there are none."""
    if not values:
        return {}
    v = np.asarray(values)
    return {"mean": float(v.mean()), "p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)),
            "max": float(v.max())}
