"""`seqattnet check-data`: validate a dataset before training and summarise it. No model, no training code.

Every problem that would stop training or evaluating a subset (no videos in a subset, a missing or
unreadable feature file, a wrong feature dimension, NaN/inf, a label outside the class list, a class count
other than model.num_classes) is an error; segments the dataset would leave out or clip are listed as
skipped, as `VideoDataset` would list them; things that work but deserve a look are notes. An annotation
file that cannot be read is raised at once: nothing else can be checked.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputError, arg, counted, quoted
from ..structures import AnnotationSet, VideoAnnotation
from .annotations import read_annotations, read_class_names
from .dataset import FeatureSpec, fit_segment, grid_duration_s
from .features import FeatureDimensionError
from .sources import FeatureSource


@dataclass
class DataReport:
    """What check-data found. `ok` is False when training or evaluating would fail."""

    source: str = ""
    videos_per_subset: dict[str, int] = field(default_factory=dict)
    classes: int = 0
    feature_dim: int = 0  # F every file must have
    instances_per_class: dict[str, int] = field(default_factory=dict)  # in the checked subsets
    snippets: dict[str, float] = field(default_factory=dict)  # min / median / max rows of the feature files read
    duration_s: dict[str, float] = field(default_factory=dict)  # min / median / max of the checked videos
    feature_files_read: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def text(self, verbose: bool = False) -> str:
        """The report for a terminal; skipped segments and notes of one kind beyond the first few are
        counted, not listed, unless `verbose`."""
        lines = [f"annotations: {self.source}",
                 "videos per subset: " + ", ".join(f"{k} {v}" for k, v in sorted(self.videos_per_subset.items())),
                 f"classes: {self.classes}; instances per class: " + ", ".join(
                     f"{k} {v}" for k, v in sorted(self.instances_per_class.items())),
                 f"feature files read: {self.feature_files_read}; shape [snippets, {self.feature_dim}], snippets "
                 f"per file: {_stats(self.snippets)}",
                 f"durations (s): {_stats(self.duration_s)}"]
        for title, items in (("skipped", self.skipped), ("notes", self.notes), ("errors", self.errors)):
            lines.append(f"{title}: {len(items)}")
            lines.extend(f"  {item}" for item in (items if verbose or title == "errors" else _shortened(items)))
        lines.append("OK: training can start" if self.ok else f"NOT OK: {counted(len(self.errors), 'error')}; {FAILS}")
        return "\n".join(lines)


FAILS = "training or evaluating would fail"
SHOWN_PER_KIND = 3  # lines of one kind of note listed before the rest are counted


def _shortened(items: list[str]) -> list[str]:
    """The first SHOWN_PER_KIND items of each kind (the same text up to video ids and numbers), then a
    count of the others of that kind."""
    kinds: dict[str, list[str]] = defaultdict(list)
    for item in items:
        kinds[re.sub(r"'[^']*'|[-\d.,]+", "#", item)].append(item)
    out = []
    for same in kinds.values():
        out.extend(same[:SHOWN_PER_KIND])
        if len(same) > SHOWN_PER_KIND:
            rest = len(same) - SHOWN_PER_KIND
            out.append(f"... and {rest} more like {'this' if rest == 1 else 'these'} (--verbose lists all)")
    return out


def _stats(values: dict[str, float]) -> str:
    return " / ".join(f"{k} {v:g}" for k, v in values.items()) or "-"


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def check_config(cfg: Config, duration_tolerance: float = 0.1) -> DataReport:
    """Check the dataset a config points to: every subset of its annotations, the train and validation
    subsets first (the others, e.g. THUMOS14's test, are what `evaluate --split` reads).

    Raises InputError, naming the file's full path, when the annotations or the class list cannot be read.
    duration_tolerance: a video whose snippets span more or less than its duration by this fraction (and
    by over two strides) is noted, see `_check_span`."""
    d = cfg.data

    def path(relative: str) -> Path:
        return d.path(relative).absolute()  # messages name the file tried, wherever the command ran

    annotations = read_annotations(path(d.annotations), path(d.video_info) if d.video_info else None)
    classes = read_class_names(path(d.classes)) if d.classes else annotations.classes
    report = DataReport(source=str(path(d.annotations)))
    spec = FeatureSpec.from_config(cfg)
    check_dataset(report, annotations, classes, path(d.features), d.file_pattern, spec, cfg.model.temporal_scale,
                  [d.train_subset, d.val_subset, *sorted(annotations.subsets)], windows=cfg.windows.enabled,
                  duration_tolerance=duration_tolerance)
    if len(classes) != cfg.model.num_classes:
        report.errors.append(f"{counted(len(classes), 'class')}, but model.num_classes is {cfg.model.num_classes}; "
                             f"set {arg('overrides', ('model.num_classes', len(classes)))}")
    return report


def check_dataset(report: DataReport, annotations: AnnotationSet, classes: list[str], feature_dir: Path,
                  file_pattern: str, spec: FeatureSpec, temporal_scale: int, subsets: list[str], *,
                  windows: bool = False, tolerance_s: float = 1.0, duration_tolerance: float = 0.1) -> DataReport:
    """Fill `report` with the videos of `subsets`: annotations, feature files, segments."""
    report.videos_per_subset = annotations.subsets
    report.classes, report.feature_dim = len(classes), spec.feature_dim
    known = set(classes)
    instances: Counter[str] = Counter()
    rows, durations, wrong_dims = [], [], defaultdict(list)
    source = FeatureSource(feature_dir, file_pattern)
    for subset in dict.fromkeys(subsets):  # THUMOS14 trains and validates on one subset: check it once
        videos = annotations.subset(subset).videos.values()
        if not videos:
            report.errors.append(f"no videos in subset {subset!r}; subsets: {annotations.subsets}")
        usable = 0
        for video in videos:
            durations.append(video.duration_s)
            instances.update(video.labels)
            usable += _check_truth(report, video, known, spec, tolerance_s)
            n = _check_features(report, video, source, spec, temporal_scale, windows, wrong_dims)
            if n is not None:
                rows.append(n)
                _check_span(report, video, n, spec, duration_tolerance)
        if videos and not usable and subset == subsets[0]:  # as `train` refuses (engine.build.require_segments)
            report.errors.append(f"field 'annotations': no usable segment in subset {subset!r} "
                                 f"({counted(len(videos), 'video')}): every segment lies outside its video or has "
                                 "zero length (listed under skipped)")
    _wrong_dimensions(report, wrong_dims, len(rows), spec.feature_dim)
    report.instances_per_class = dict(instances)
    report.snippets, report.duration_s = _summary(rows), _summary(durations)
    report.feature_files_read = len(rows)
    return report


def _check_truth(report: DataReport, video: VideoAnnotation, known: set[str], spec: FeatureSpec,
                 tolerance_s: float) -> int:
    """Errors and skipped segments of one video's ground truth; its number of segments training keeps."""
    vid, duration = video.video_id, video.duration_s
    if not (np.isfinite(duration) and duration > 0):
        report.errors.append(f"video {vid!r}: duration must be positive, got {duration}")
        return 0
    if spec.fps is None and video.fps is None and not spec.rescaled:
        report.errors.append(f"video {vid!r}: no fps in the annotations and data.fps is not set")
    usable = 0
    for k, ((start, end), label) in enumerate(zip(video.segments_s, video.labels)):
        if label not in known:
            report.errors.append(f"video {vid!r}, annotations[{k}]: label {quoted(label)} is not one of the {len(known)} classes")
        segment, note = fit_segment(float(start), float(end), grid_duration_s(video, spec), tolerance_s)
        usable += segment is not None
        if note:
            report.skipped.append(f"video {vid!r}, annotations[{k}]: {note}")
    return usable


def _check_span(report: DataReport, video: VideoAnnotation, n: int, spec: FeatureSpec, tolerance: float) -> None:
    """Note a video whose n snippets span ((n - 1) x stride + window frames) far more or less than its
    duration x fps: features of another video, or another fps or stride than the config's."""
    fps = spec.fps if spec.fps is not None else video.fps
    if spec.rescaled or fps is None or not video.duration_s > 0:
        return
    frames, covered = video.duration_s * fps, (n - 1) * spec.stride_frames + spec.window_frames
    if abs(covered - frames) > max(tolerance * frames, 2 * spec.stride_frames):
        report.notes.append(f"video {video.video_id!r}: {n} snippets span {covered / fps:.1f} s at {fps:g} fps and "
                            f"data.stride_frames {spec.stride_frames:g}, but its duration is {video.duration_s:g} s "
                            f"(more than {tolerance:g} apart; --duration-tolerance)")


def _check_features(report: DataReport, video: VideoAnnotation, source: FeatureSource, spec: FeatureSpec,
                    temporal_scale: int, windows: bool, wrong_dims: dict[int, list[Path]]) -> int | None:
    """Read the video's features whole (NaN/inf included); its number of rows, or None on an error. A file
    of another feature dimension is added to `wrong_dims` (F -> files) unless it looks transposed."""
    vid = video.video_id
    path = source.locate(vid)
    if path is None:
        report.errors.append(f"video {vid!r}: feature file not found in {source.path} (tried {source.tried(vid)})")
        return None
    try:
        n = source.read(path, vid, spec.feature_dim).shape[0]
    except FeatureDimensionError as e:
        if e.transposed:
            report.errors.append(str(e))
        else:
            wrong_dims[e.found].append(path)
        return None
    except InputError as e:
        report.errors.append(str(e))
        return None
    if spec.rescaled and n != temporal_scale:
        report.errors.append(f"{path}: video {vid!r}: {n} rows, but data.rescaled says the rows are the "
                             f"T = {temporal_scale} grid")
    elif not spec.rescaled and not windows and n < temporal_scale:
        report.notes.append(f"video {vid!r}: {n} snippets < T = {temporal_scale}: interpolated up to T")
    return n


def _wrong_dimensions(report: DataReport, wrong_dims: dict[int, list[Path]], right: int, feature_dim: int) -> None:
    """One error per feature dimension other than model.feature_dim, with its count and its first file; the
    fix when every file read has that dimension."""
    total = right + sum(len(paths) for paths in wrong_dims.values())
    for dim, paths in sorted(wrong_dims.items()):
        fix = f"; set {arg('overrides', ('model.feature_dim', dim))}" if len(paths) == total else ""
        report.errors.append(f"{len(paths):,} of {counted(total, 'feature file')} have dimension {dim}, but "
                             f"model.feature_dim is {feature_dim} (the first: {paths[0]}){fix}")
