"""The torch side of the data: one video -> `VideoSample` on the T grid; samples -> `Batch`.

`VideoDataset` checks everything once, when it is built: every feature file exists and has the
right dimension (a video's dataset, when the features are one HDF5 file), every label is a known class, every segment has a length and lies in the video
(within `tolerance_s`, clipped to it). What it leaves out or cuts is listed in `dataset.skipped`,
one line each. With `cache_path`, the rescaled features of all videos are written once to a
memory-mapped .npy [N, F, T] and reused while the video ids and the feature spec are unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import InputError, arg, quoted
from ..files import atomic_write
from ..structures import AnnotationSet, VideoAnnotation
from .features import read_feature_meta, rescale_to_grid, snippet_times_s
from .sources import FeatureSource

CACHE_FORMAT = 2  # bump when the cache's layout or the rescaling changes


@dataclass
class FeatureSpec:
    """How a feature folder was made."""

    feature_dim: int  # F: numbers per snippet (TSN on ActivityNet: 200 RGB + 200 flow = 400)
    stride_frames: float = 16  # frames between the starts of consecutive snippets (TSN: 16)
    window_frames: float = 16  # frames one snippet sees; its time is the window's centre
    fps: float | None = None  # None: each video's fps from the annotations
    rescaled: bool = False  # True for BMN's CSV layout: the file's rows already are the T grid
    backbone: str = ""  # the network that made them ("" = not recorded)

    @classmethod
    def from_config(cls, cfg) -> "FeatureSpec":
        """cfg: seqattnet.config.Config (model.feature_dim and the data section)."""
        d = cfg.data
        return cls(cfg.model.feature_dim, d.stride_frames, d.window_frames, d.fps or None, d.rescaled, d.backbone)

    def check_meta(self, meta: dict | None, source: object, *, video: str | None = None) -> None:
        """Refuse features whose recorded making (`read_feature_meta`: backbone, dimension, stride,
        window) differs from this spec. Files without metadata pass: nothing to compare."""
        if not meta:
            return
        ours = {"backbone": self.backbone, "feature_dim": self.feature_dim, "stride_frames": self.stride_frames,
                "window_frames": self.window_frames}
        wrong = [f"{key} {quoted(meta[key])} (expected {value!r})" for key, value in ours.items()
                 if key in meta and (meta[key] != value if key == "backbone" else float(meta[key]) != float(value))]
        if wrong:
            raise InputError.at(source, "features made differently from the model's: " + ", ".join(wrong) + "; "
                                "extract them again with those settings (`seqattnet extract --backbone --snippet "
                                "--stride`), or set data.backbone, data.stride_frames and data.window_frames to "
                                "match and train on them", video=video)

    def __post_init__(self) -> None:
        if self.feature_dim <= 0 or self.stride_frames <= 0 or self.window_frames < 0:
            raise InputError.at("config", f"needs model.feature_dim > 0, data.stride_frames > 0 and "
                                f"data.window_frames >= 0, got {self.feature_dim}, {self.stride_frames} and "
                                f"{self.window_frames}")
        if self.fps is not None and not self.fps > 0:
            raise InputError.at("data.fps", f"must be positive (or 0: per-video fps from the annotations), got {self.fps}")


@dataclass
class VideoSample:
    video_id: str
    duration_s: float
    features: torch.Tensor  # float32 [F, T] on the T grid
    segments_norm: torch.Tensor  # float32 [K, 2] in [0, 1]: seconds / duration, clipped to [0, 1]
    labels: torch.Tensor  # int64 [K], index into the dataset's classes


@dataclass
class Batch:
    video_ids: list[str]
    durations_s: torch.Tensor  # float64 [B]: seconds stay exact when detections are mapped back
    features: torch.Tensor  # float32 [B, F, T]
    segments_norm: list[torch.Tensor]  # B × float32 [K_b, 2]
    labels: list[torch.Tensor]  # B × int64 [K_b]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        return Batch(
            self.video_ids,
            self.durations_s.to(device, non_blocking=non_blocking),
            self.features.to(device, non_blocking=non_blocking),
            [s.to(device, non_blocking=non_blocking) for s in self.segments_norm],
            [l.to(device, non_blocking=non_blocking) for l in self.labels],
        )


def collate(samples: list[VideoSample]) -> Batch:
    """Stack B samples; segments and labels stay per-video lists (K differs between videos)."""
    return Batch(
        video_ids=[s.video_id for s in samples],
        durations_s=torch.tensor([s.duration_s for s in samples], dtype=torch.float64),
        features=_stack([s.features for s in samples]),  # (B, F, T)
        segments_norm=[s.segments_norm for s in samples],
        labels=[s.labels for s in samples],
    )


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack, without a copy when the tensors are the rows, in order, of one batch tensor (as
    `VideoDataset.__getitems__` hands them out), and on the CPU through numpy, which copies on one
    thread: torch's intra-op pool stalls when other processes share the cores (on 2 busy cores a
    batch of 16 × [400, 100] took ~125 ms with torch.stack, 0.1 ms on one thread)."""
    base = tensors[0]._base
    if base is not None and base.shape == (len(tensors), *tensors[0].shape) and base.is_contiguous():
        row = tensors[0].numel() * tensors[0].element_size()
        if all(t._base is base and t.data_ptr() == base.data_ptr() + b * row for b, t in enumerate(tensors)):
            return base
    if all(t.device.type == "cpu" and not t.requires_grad for t in tensors):
        return torch.from_numpy(np.stack([t.numpy() for t in tensors]))
    return torch.stack(tensors)


@dataclass
class _Truth:
    """Validated ground truth of one video."""

    video_id: str
    duration_s: float
    fps: float | None
    segments_norm: np.ndarray  # float32 [K, 2]
    labels: np.ndarray  # int64 [K]
    segments_s: np.ndarray | None = None  # float64 [K, 2] the same segments in seconds, for windows


class VideoDataset(torch.utils.data.Dataset):
    """Videos of an AnnotationSet with their features, rescaled to `temporal_scale` (T) cells.

    Feature files are looked up as `feature_dir / file_pattern.format(video_id=...)` with the id
    spelled `v_<id>` and `<id>`; when `feature_dir` is an .h5/.hdf5 file, as that file's dataset
    under either spelling (opened on first use in each process, so DataLoader workers each open
    their own). Segments overshooting the video by at most `tolerance_s` are
    clipped silently; further overshoots are clipped and listed in `skipped`, as are segments of
    zero length or entirely outside the video, which are left out.
    """

    def __init__(
        self,
        annotations: AnnotationSet,
        feature_dir: Path,
        classes: list[str],
        spec: FeatureSpec,
        temporal_scale: int,
        *,
        cache_path: Path | None = None,
        file_pattern: str = "{video_id}.npy",
        tolerance_s: float = 1.0,  # ActivityNet v1.3 ends overshoot the duration by up to 0.85 s
    ) -> None:
        self.feature_dir = Path(feature_dir)
        self.classes = list(classes)
        self.spec = spec
        self.temporal_scale = temporal_scale
        self.file_pattern = file_pattern
        self.source = FeatureSource(self.feature_dir, file_pattern)
        self.hdf5 = self.source.store is not None  # one file holding every video
        self.skipped: list[str] = []
        source = self.annotation_source = annotations.source or "annotations"
        class_index = {name: i for i, name in enumerate(self.classes)}
        self._truth = [self._validate(v, source, class_index, tolerance_s) for v in annotations.videos.values()]
        self.video_ids = [t.video_id for t in self._truth]
        self._files: list[Path] = []
        self._grid: np.ndarray | None = None  # memory-mapped float32 [N, F, T] when cached
        if cache_path is not None and self._load_cache(Path(cache_path)):
            return
        with self.source.opened():  # a store is closed again: workers must not inherit it
            self._files = [self._check_file(t) for t in self._truth]
        if cache_path is not None:
            self._grid = self._write_cache(Path(cache_path))

    def __len__(self) -> int:
        return len(self._truth)

    @property
    def num_segments(self) -> int:
        """Segments kept for training, over every video (those left out are in `skipped`)."""
        return sum(len(t.labels) for t in self._truth)

    def __getitem__(self, i: int) -> VideoSample:
        if self._grid is not None:
            return self._sample(i, torch.from_numpy(np.array(self._grid[i])))  # copied out of the memory map
        return self._sample(i, torch.from_numpy(self._rescaled(i)))

    def __getitems__(self, indices: list[int]) -> list[VideoSample]:
        """A whole batch, as torch's DataLoader asks for it: from the cache, one read of all its rows
        (measured 2-3x faster than row by row for ActivityNet's size)."""
        if self._grid is None:
            return [self[i] for i in indices]
        grids = torch.from_numpy(self._grid[np.asarray(indices)])  # (B, F, T)
        return [self._sample(i, grids[b]) for b, i in enumerate(indices)]

    def _sample(self, i: int, features: torch.Tensor) -> VideoSample:
        truth = self._truth[i]
        return VideoSample(
            truth.video_id,
            truth.duration_s,
            features,
            torch.from_numpy(truth.segments_norm),
            torch.from_numpy(truth.labels),
        )

    # --- validation -----------------------------------------------------------------------------

    def _validate(self, video: VideoAnnotation, source: str, class_index: dict[str, int], tolerance_s: float) -> _Truth:
        vid, duration = video.video_id, video.duration_s
        if not (np.isfinite(duration) and duration > 0):
            raise InputError.at(source, f"duration must be positive, got {duration}", video=vid, field="duration")
        duration = grid_duration_s(video, self.spec)
        fps = self.spec.fps if self.spec.fps is not None else video.fps
        if fps is None and not self.spec.rescaled:
            raise InputError.at(source, "no fps in the annotations and data.fps is not set (set "
                                f"{arg('overrides', ('data.fps', '...'))})", video=vid)
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise InputError.at(source, f"fps must be positive, got {fps}", video=vid, field="fps")
        kept_segments, kept_labels = [], []
        for k, ((start, end), label) in enumerate(zip(video.segments_s, video.labels)):
            field = f"annotations[{k}]"
            if label not in class_index:
                raise InputError.at(source, f"label {quoted(label)} is not one of the {len(class_index)} classes", video=vid, field=f"{field}.label")
            if end < start:
                raise InputError.at(source, f"end {end} < start {start}", video=vid, field=f"{field}.segment")
            segment = self._fit_segment(start, end, duration, tolerance_s, f"{source}: video {vid!r}, {field}")
            if segment is not None:
                kept_segments.append(segment)
                kept_labels.append(class_index[label])
        segments_s = np.asarray(kept_segments, dtype=np.float64).reshape(-1, 2)
        return _Truth(vid, float(duration), fps, (segments_s / duration).astype(np.float32),
                      np.asarray(kept_labels, dtype=np.int64), segments_s)

    def _fit_segment(self, start: float, end: float, duration: float, tolerance_s: float, where: str):
        """[start, end] clipped to the video, or None (recorded in `skipped`) when nothing is left."""
        segment, note = fit_segment(start, end, duration, tolerance_s)
        if note:
            self.skipped.append(f"{where}: {note}")
        return segment

    def _check_file(self, truth: _Truth) -> Path:
        path = self.source.locate(truth.video_id)
        if path is None:
            raise InputError.at(self.feature_dir, f"feature file not found (tried {self.source.tried(truth.video_id)})",
                                video=truth.video_id)
        if not self.hdf5:  # metadata of `seqattnet extract`'s per-video files
            self.spec.check_meta(read_feature_meta(path), path, video=truth.video_id)
        return self._check_rows(path, truth, self.source.rows(path, truth.video_id, self.spec.feature_dim))

    def _check_rows(self, path: Path, truth: _Truth, n: int) -> Path:
        if self.spec.rescaled and n != self.temporal_scale:
            raise InputError.at(
                path, f"{n} rows, but data.rescaled says the rows are the T = {self.temporal_scale} grid",
                video=truth.video_id,
            )
        return path

    # --- features -------------------------------------------------------------------------------

    def _rescaled(self, i: int) -> np.ndarray:
        truth, spec = self._truth[i], self.spec
        features = self.source.read(self._files[i], truth.video_id, spec.feature_dim)  # (n, F)
        times = None
        if not spec.rescaled:
            times = snippet_times_s(features.shape[0], spec.stride_frames, spec.window_frames, truth.fps)
        return rescale_to_grid(features, times, truth.duration_s, self.temporal_scale, already_rescaled=spec.rescaled)

    def _cache_key(self) -> dict:
        """What the cached grid depends on. Durations and fps enter through a digest."""
        timing = np.array([(t.duration_s, t.fps or 0.0) for t in self._truth], dtype=np.float64)
        return {
            "format": CACHE_FORMAT,
            "spec": asdict(self.spec),
            "temporal_scale": self.temporal_scale,
            "file_pattern": self.file_pattern,
            "feature_dir": str(self.feature_dir.resolve()),  # another folder's features are another cache
            "timing_sha1": hashlib.sha1(timing.tobytes()).hexdigest(),
            "video_ids": self.video_ids,
        }

    def _load_cache(self, cache_path: Path) -> bool:
        index_path = _index_path(cache_path)
        if not (cache_path.is_file() and index_path.is_file()):
            return False
        try:
            with open(index_path, encoding="utf-8") as f:
                if json.load(f) != self._cache_key():
                    return False
            grid = np.load(cache_path, mmap_mode="r")
        except (OSError, ValueError):
            return False  # unreadable or half-written by another version: rebuild
        expected = (len(self), self.spec.feature_dim, self.temporal_scale)
        if grid.shape != expected or grid.dtype != np.float32:
            return False
        self._grid = grid
        return True

    def _write_cache(self, cache_path: Path) -> np.ndarray:
        """Rescale every video into cache_path [N, F, T], via a temporary file and os.replace (atomic_write)."""
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        index_path = _index_path(cache_path)
        index_path.unlink(missing_ok=True)  # an index never describes a grid other than its own
        shape = (len(self), self.spec.feature_dim, self.temporal_scale)
        for path, write in ((cache_path, self._write_grid), (index_path, self._write_index)):
            with atomic_write(path, prefix=f".{path.name}.") as tmp:
                write(tmp, shape)
        return np.load(cache_path, mmap_mode="r")

    def _write_grid(self, tmp: Path, shape: tuple[int, int, int]) -> None:
        grid = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)  # (N, F, T)
        for i in tqdm(range(len(self)), desc="caching features", unit="video", leave=False,
                      disable=None):  # None: no bar when stderr is not a terminal
            grid[i] = self._rescaled(i)
        grid.flush()
        del grid

    def _write_index(self, tmp: Path, shape: tuple[int, int, int]) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self._cache_key(), f)


def grid_duration_s(video: VideoAnnotation, spec: FeatureSpec) -> float:
    """The seconds the video's features span: for BMN's rescaled rows the corrected duration
    featureFrame / numFrame × seconds, with which BMN normalises ground truth and maps detections back;
    otherwise the annotated duration (native snippets carry their own times)."""
    if spec.rescaled and video.feature_duration_s:
        return video.feature_duration_s
    return video.duration_s


def fit_segment(start: float, end: float, duration: float, tolerance_s: float) -> tuple[tuple[float, float] | None, str]:
    """[start, end] s clipped to [0, duration], or None when nothing is left; and why, when it is worth
    listing (left out, or clipped by more than tolerance_s), else ""."""
    if end == start:
        return None, f"zero-length segment [{start}, {end}] s left out"
    if end <= 0 or start >= duration:
        return None, f"segment [{start}, {end}] s outside the video (0, {duration}) s left out"
    note = ""
    if start < -tolerance_s or end > duration + tolerance_s:
        note = f"segment [{start}, {end}] s clipped to the video's {duration} s"
    return (max(start, 0.0), min(end, duration)), note


def _index_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".index.json")
