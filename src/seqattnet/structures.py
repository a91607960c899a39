"""Plain data shared by every stage: annotations of videos, detections and their result-JSON entries.

Segment overlap is in ops.py.

Times at these edges are seconds (`*_s`); inside the model they are normalised or snippet units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def canonical_video_id(video_id: str) -> str:
    """ActivityNet ids appear with BMN's `v_` prefix (`v_QOlSCBRmfWY`) and without it (official JSON).

    Everywhere in this package a leading `v_` is dropped, so both spellings name the same video.
    THUMOS ids (`video_test_0000004`) do not start with `v_` and are unchanged.
    """
    return video_id[2:] if video_id.startswith("v_") else video_id


@dataclass
class VideoAnnotation:
    """Ground truth of one video.

    segments_s: float64[K, 2] start and end in seconds; labels: K class names.
    """

    video_id: str
    subset: str  # lower case: "training", "validation", "testing" (THUMOS "Test" -> "test")
    duration_s: float
    segments_s: np.ndarray
    labels: list[str]
    fps: float | None = None
    # BMN's corrected duration featureFrame / numFrame × seconds: the span its rescaled features cover
    feature_duration_s: float | None = None

    def __post_init__(self) -> None:
        self.segments_s = np.asarray(self.segments_s, dtype=np.float64).reshape(-1, 2)


@dataclass
class AnnotationSet:
    """All videos of one annotation source, and the class list in a fixed order."""

    videos: dict[str, VideoAnnotation]
    classes: list[str]
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # one line per video or instance left out, and why

    def subset(self, name: str | None) -> "AnnotationSet":
        """Videos of one subset (case-insensitive); `None` keeps all."""
        if name is None:
            return self
        wanted = name.lower()
        videos = {k: v for k, v in self.videos.items() if v.subset == wanted}
        return AnnotationSet(videos, self.classes, self.source, self.skipped)

    @property
    def subsets(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for video in self.videos.values():
            counts[video.subset] = counts.get(video.subset, 0) + 1
        return counts

    def class_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}


@dataclass
class Detections:
    """Detections of one video, best first."""

    video_id: str
    segments_s: np.ndarray  # float64 (M, 2) seconds
    scores: np.ndarray  # (M,)
    labels: np.ndarray  # int64 (M,) class index
    duration_s: float | None = None  # seconds the normalised segments were scaled to
    fps: float | None = None  # frames per second that timed the snippets (None: rows already on the grid)

    def to_results(self, classes: list[str]) -> list[dict]:
        """Entries of the ActivityNet result JSON."""
        return [{"label": classes[int(l)], "score": float(s), "segment": [float(a), float(b)]}
                for (a, b), s, l in zip(self.segments_s, self.scores, self.labels)]


def to_results(detections: list[Detections], classes: list[str]) -> dict[str, list[dict]]:
    """{video: its entries of the ActivityNet result JSON} for `write_results`."""
    return {d.video_id: d.to_results(classes) for d in detections}


def video_timing(detections: list[Detections]) -> dict[str, dict]:
    """{video: {"duration_s", "fps"}}: what turned each video's detections into seconds, for the result JSON."""
    return {d.video_id: {"duration_s": d.duration_s, "fps": d.fps} for d in detections}


def detections_from_results(results: dict[str, list[dict]], classes: list[str]) -> list[Detections]:
    """The inverse of `to_results`: {video: result-JSON entries} -> one Detections per video, in entry order."""
    index = {c: i for i, c in enumerate(classes)}
    return [Detections(vid, np.array([p["segment"] for p in preds], dtype=np.float64).reshape(-1, 2),
                       np.array([p["score"] for p in preds]), np.array([index[p["label"]] for p in preds], dtype=np.int64))
            for vid, preds in results.items()]
