"""Ground-truth readers for the formats users already have. numpy and the standard library only.

- ActivityNet JSON: {"database": {id: {"subset", "duration", "annotations": [{"segment", "label"}]}}}
  (also ActionFormer's THUMOS14 file, whose subsets are "Validation" / "Test" and which adds "fps").
- BMN pair: `anet_anno_action.json` ({id: {"duration_second", "annotations", ...}}) with
  `video_info_new.csv` (columns video, numFrame, seconds, fps, rfps, subset, featureFrame) for subsets.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, brief, quoted
from ..files import load_json, open_text
from ..structures import AnnotationSet, VideoAnnotation, canonical_video_id


@dataclass(frozen=True)
class AnnotationFormat:
    """One annotation format: whether a parsed JSON file is in it, and its reader."""

    name: str
    claims: Callable[[dict], bool]  # the JSON's top-level object -> True when it is in this format
    read: Callable[[dict, Path, Path | None], AnnotationSet]  # (that object, its path, info_csv) -> the set


def _read_activitynet(data: dict, path: Path, info_csv: Path | None) -> AnnotationSet:
    return _from_activitynet(data["database"], path)


def _read_bmn(data: dict, path: Path, info_csv: Path | None) -> AnnotationSet:
    if info_csv is None:
        info_csv = next((path.parent / n for n in BMN_INFO_NAMES if (path.parent / n).exists()), None)
    if info_csv is None:
        raise InputError.at(
            path, "no 'database' key (ActivityNet format) and no video_info_new.csv beside it (BMN format)"
        )
    return _from_bmn(data, path, Path(info_csv))


BMN_INFO_NAMES = ("video_info_new.csv", "video_info_new.csv.gz")  # looked for beside a BMN annotation file
# The one table of annotation formats, tried in order: the first that claims a file reads it (BMN's
# {id: entry} layout has no marker of its own, so it comes last and claims what is left).
ANNOTATION_FORMATS = (
    AnnotationFormat("activitynet", lambda data: "database" in data, _read_activitynet),
    AnnotationFormat("bmn", lambda data: True, _read_bmn),
)


def read_annotations(path: str | Path, info_csv: str | Path | None = None) -> AnnotationSet:
    """Read ground truth from any format of `ANNOTATION_FORMATS`, chosen by the file's content.

    `info_csv` is BMN's `video_info_new.csv`; when omitted for a BMN annotation file, a file of that
    name (or `.csv.gz`) beside it is used.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError.at(path, f"expected a JSON object at the top level, got {type(data).__name__}")
    fmt = next(f for f in ANNOTATION_FORMATS if f.claims(data))
    return fmt.read(data, path, Path(info_csv) if info_csv is not None else None)


def _number(value: Any, source: Path, video: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError.at(source, f"expected a number, got {quoted(value)}", video=video, field=field)
    if not math.isfinite(value):
        raise InputError.at(source, f"expected a finite number, got {quoted(value)}", video=video, field=field)
    return float(value)


def _positive(value: Any, source: Path, video: str, field: str) -> float:
    """A duration or an fps: a finite number > 0. Zero would divide by zero when seconds become frames or
    grid cells, a negative one would turn every time backwards, and either would train or predict nonsense."""
    number = _number(value, source, video, field)
    if not number > 0:
        raise InputError.at(source, f"must be > 0, got {quoted(value)}", video=video, field=field)
    return number


def _field(entry: dict, key: str, source: Path, video: str) -> Any:
    if not isinstance(entry, dict):
        raise InputError.at(source, f"expected an object, got {type(entry).__name__}", video=video)
    if key not in entry:
        raise InputError.at(source, "missing", video=video, field=key)
    return entry[key]


def _instances(entry: dict, source: Path, video: str, duration: float) -> tuple[np.ndarray, list[str]]:
    annotations = _field(entry, "annotations", source, video)
    if not isinstance(annotations, list):
        raise InputError.at(source, "expected a list", video=video, field="annotations")
    segments, labels = [], []
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            raise InputError.at(source, f"expected an object, got {quoted(ann)}", video=video, field=where)
        for key in ("segment", "label"):
            if key not in ann:
                raise InputError.at(source, "missing", video=video, field=f"{where}.{key}")
        segment = ann["segment"]
        if not isinstance(segment, list) or len(segment) != 2:
            raise InputError.at(source, f"expected [start, end], got {quoted(segment)}", video=video, field=f"{where}.segment")
        start = _number(segment[0], source, video, f"{where}.segment")
        end = _number(segment[1], source, video, f"{where}.segment")
        if end < start:
            raise InputError.at(source, f"end {end} < start {start}", video=video, field=f"{where}.segment")
        label = ann["label"]
        if not isinstance(label, str) or not label:
            raise InputError.at(source, f"expected a class name, got {quoted(label)}", video=video, field=f"{where}.label")
        segments.append((start, end))
        labels.append(label)
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2), labels


def _from_activitynet(database: Any, source: Path) -> AnnotationSet:
    if not isinstance(database, dict):
        raise InputError.at(source, "expected an object of videos", field="database")
    videos: dict[str, VideoAnnotation] = {}
    for raw_id, entry in database.items():
        video_id = canonical_video_id(raw_id)
        if video_id in videos:
            raise InputError.at(source, "duplicated video id (with and without 'v_')", video=raw_id)
        subset = _field(entry, "subset", source, raw_id)
        if not isinstance(subset, str):
            raise InputError.at(source, f"expected a string, got {quoted(subset)}", video=raw_id, field="subset")
        duration = _positive(_field(entry, "duration", source, raw_id), source, raw_id, "duration")
        segments, labels = _instances(entry, source, raw_id, duration)
        fps = entry.get("fps")
        fps = None if fps is None else _positive(fps, source, raw_id, "fps")
        videos[video_id] = VideoAnnotation(video_id, subset.lower(), duration, segments, labels, fps)
    return AnnotationSet(videos, _classes(videos), str(source))


def _from_bmn(data: dict, source: Path, info_csv: Path) -> AnnotationSet:
    info = read_video_info(info_csv)
    videos: dict[str, VideoAnnotation] = {}
    for raw_id, entry in data.items():
        video_id = canonical_video_id(raw_id)
        if video_id in videos:
            raise InputError.at(source, "duplicated video id (with and without 'v_')", video=raw_id)
        if video_id not in info:
            raise InputError.at(info_csv, "video of the annotation file has no row here", video=raw_id)
        duration = _positive(_field(entry, "duration_second", source, raw_id), source, raw_id, "duration_second")
        segments, labels = _instances(entry, source, raw_id, duration)
        row = info[video_id]
        videos[video_id] = VideoAnnotation(video_id, row["subset"], duration, segments, labels, row["fps"],
                                           _feature_duration_s(row))
    return AnnotationSet(videos, _classes(videos), str(source))


def read_video_timing(path: str | Path) -> dict[str, VideoAnnotation]:
    """Durations and fps per canonical video id from an annotation file (any format) or BMN's
    video_info_new.csv (`.csv` or `.csv.gz`: no segments)."""
    path = Path(path)
    if not path.name.lower().endswith((".csv", ".csv.gz")):
        return read_annotations(path).videos
    return {video: VideoAnnotation(video, row["subset"], row["seconds"], np.zeros((0, 2)), [], row["fps"],
                                   _feature_duration_s(row)) for video, row in read_video_info(path).items()}


def read_video_info(path: str | Path) -> dict[str, dict[str, Any]]:
    """BMN's `video_info_new.csv`: per canonical video id, subset, fps, numFrame, seconds, featureFrame."""
    path = Path(path)
    with open_text(path) as f:
        reader = csv.DictReader(f)
        needed = {"video", "subset", "numFrame", "seconds", "featureFrame", "fps"}
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise InputError.at(path, f"missing columns {sorted(missing)}")
        rows = {}
        for line, row in enumerate(reader, start=2):
            if None in row.values():  # csv gives None for the columns a short line lacks
                raise InputError.at(path, f"line {line}: fewer values than the {len(reader.fieldnames)} columns "
                                    "of the header", video=row["video"])
            try:
                values = {key: float(row[column]) for key, column in _INFO_NUMBERS.items()}
            except ValueError as e:
                raise InputError.at(path, f"line {line}: {brief(e)}", video=row["video"]) from None
            for key in ("fps", "seconds"):  # the video's timing: what predict and the grid divide by
                _positive(values[key], path, row["video"], _INFO_NUMBERS[key])
            rows[canonical_video_id(row["video"])] = {"subset": row["subset"].lower(), **values}
    return rows


_INFO_NUMBERS = {"fps": "fps", "num_frames": "numFrame", "seconds": "seconds", "feature_frames": "featureFrame"}


def _feature_duration_s(row: dict[str, Any]) -> float | None:
    """BMN's corrected duration featureFrame / numFrame × seconds: TSN covers only the first featureFrame
    frames (a multiple of 16), so its 100 rows span this much of the video, not all of it."""
    if not (row["num_frames"] > 0 and 0 < row["feature_frames"] and row["seconds"] > 0):
        return None
    return row["feature_frames"] / row["num_frames"] * row["seconds"]


def _classes(videos: dict[str, VideoAnnotation]) -> list[str]:
    return sorted({label for video in videos.values() for label in video.labels})


def read_class_names(path: str | Path) -> list[str]:
    """A class list: one name per line (an optional header line 'action' is skipped), or a JSON list."""
    path = Path(path)
    if path.suffix == ".json":
        names = load_json(path)
    else:
        with open_text(path) as f:
            names = [line.strip() for line in f if line.strip()]
        if names and names[0].lower() == "action":
            names = names[1:]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError.at(path, "expected a list of class names")
    if not names:
        raise InputError.at(path, "no class names; expected one per line (or a JSON list)")
    if len(set(names)) != len(names):
        raise InputError.at(path, "a class name appears twice")
    return names
