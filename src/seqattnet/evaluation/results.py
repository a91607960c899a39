"""The ActivityNet result JSON: `{"version", "results": {video: [{label, score, segment}]}, "external_data"}`.

Reading validates every field and reports the first problem as one line naming the file, the video and
the field. Video ids go through `canonical_video_id`, so `v_abc` and `abc` are the same video.
Proposal files are the same format without `label`; it is optional here and required by detection.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import InputError, quoted
from ..files import atomic_write, load_json
from ..structures import canonical_video_id

Results = dict[str, list[dict]]


def read_results(path: str | Path, *, check: bool = True) -> Results:
    """Read and validate a result JSON (plain or `.gz`). -> {canonical video id: [prediction]}.

    The predictions are the parsed JSON objects, checked as `validate_results` describes.
    check=False skips that check, for a caller that passes the dict straight to `evaluate_detection` or
    `evaluate_proposals` (which check it the same way, naming the file given as `source`).
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict):
        raise InputError.at(path, f"expected a JSON object at the top level, got {type(data).__name__}")
    if "results" not in data:
        raise InputError.at(path, "missing (expected {'results': {video: [{label, score, segment}]}})",
                            field="results")
    if check:
        flatten_predictions(data["results"], path)  # the vectorised check; the precise error on a failure
    elif not isinstance(data["results"], dict):
        raise InputError.at(path, f"expected an object of videos, got {type(data['results']).__name__}",
                            field="results")
    out: Results = {}
    spelled: dict[str, str] = {}
    for video, predictions in data["results"].items():
        canonical = canonical_video_id(video)
        if canonical in out:
            raise InputError.at(path, f"video given twice, as {quoted(spelled[canonical], 80)} and {quoted(video, 80)} (the same video "
                                "with and without 'v_'); keep one", field="results")
        out[canonical], spelled[canonical] = predictions, video
    return out


def write_results(path: str | Path, results: Mapping[str, list[dict]], external_data: dict | None = None,
                  videos: Mapping[str, dict] | None = None) -> None:
    """Write a result JSON atomically (temp file in the same folder, then os.replace).

    videos: {video: {"duration_s", "fps"}}, written as a top-level "videos" object when given (the
    official evaluator reads only "results").

    Scores and segment ends may be numpy or torch scalars; they are written as plain floats, and the
    ids in canonical form (no `v_`), as the official ground truth spells them.
    """
    path = Path(path)
    try:
        plain = {video: [_plain(p) for p in preds] for video, preds in results.items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        validate_results(results, path)  # raises the precise error
        raise
    plain = validate_results(plain, path)
    document = {"version": "VERSION 1.3", "results": plain, "external_data": external_data or {}}
    if videos is not None:
        document["videos"] = {canonical_video_id(v): dict(info) for v, info in videos.items()}
    with atomic_write(path, prefix=f".{path.name}.") as tmp, open(tmp, "wb") as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="wb") if path.suffix == ".gz" else raw
        stream.write(json.dumps(document, allow_nan=False).encode("utf-8"))
        if stream is not raw:
            stream.close()


def _plain(prediction: dict) -> dict:
    """Numbers (numpy, torch or Python scalars) as Python floats; the label as it is (checked later)."""
    out = {"score": float(prediction["score"]), "segment": [float(t) for t in prediction["segment"]]}
    if prediction.get("label") is not None:
        out["label"] = prediction["label"]
    return out


def validate_results(results: Any, source: object) -> Results:
    """Check every prediction; return a new dict with canonical ids and plain values.

    Each prediction needs `segment` [start, end] (finite, end >= start, seconds) and `score` (finite,
    >= 0); `label`, when present, is a non-empty string. Other keys are dropped.
    """
    if not isinstance(results, dict):
        raise InputError.at(source, f"expected an object of videos, got {type(results).__name__}", field="results")
    clean: Results = {}
    for raw_id, predictions in results.items():
        video = canonical_video_id(str(raw_id))
        if video in clean:
            raise InputError.at(source, "video appears twice (with and without 'v_')", video=raw_id)
        if not isinstance(predictions, list):
            raise InputError.at(source, f"expected a list of predictions, got {type(predictions).__name__}",
                                video=raw_id)
        clean[video] = [_checked(p, source, raw_id, i) for i, p in enumerate(predictions)]
    return clean


def _checked(prediction: Any, source: object, video: str, i: int) -> dict:
    where = f"[{i}]"
    if not isinstance(prediction, dict):
        raise InputError.at(source, f"expected an object with label, score, segment; got {quoted(prediction)}",
                            video=video, field=where)
    for key in ("segment", "score"):
        if key not in prediction:
            raise InputError.at(source, "missing", video=video, field=f"{where}.{key}")
    segment = prediction["segment"]
    if not isinstance(segment, (list, tuple, np.ndarray)) or len(segment) != 2:
        raise InputError.at(source, f"expected [start, end], got {quoted(segment)}", video=video, field=f"{where}.segment")
    start = _finite(segment[0], source, video, f"{where}.segment")
    end = _finite(segment[1], source, video, f"{where}.segment")
    if end < start:
        raise InputError.at(source, f"end {end} < start {start}", video=video, field=f"{where}.segment")
    score = _finite(prediction["score"], source, video, f"{where}.score")
    if score < 0:
        raise InputError.at(source, f"negative score {score}", video=video, field=f"{where}.score")
    out = {"score": score, "segment": [start, end]}
    if "label" in prediction:
        label = prediction["label"]
        if not isinstance(label, str) or not label:
            raise InputError.at(source, f"expected a class name, got {quoted(label)}", video=video, field=f"{where}.label")
        out["label"] = label
    return out


def _finite(value: Any, source: object, video: str, field: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError.at(source, f"expected a number, got {quoted(value)}", video=video, field=field)
    if not math.isfinite(value):
        raise InputError.at(source, f"expected a finite number, got {quoted(value)}", video=video, field=field)
    return float(value)


@dataclass
class FlatPredictions:
    """All predictions of a result dict as arrays (P predictions over the videos of `video_ids`).

    video: int64[P] index into video_ids; position: int64[P] index in that video's list;
    segments_s: float64[P, 2]; scores: float64[P]; labels: P class names (None where absent).
    """

    video_ids: list[str]
    video: np.ndarray
    position: np.ndarray
    segments_s: np.ndarray
    scores: np.ndarray
    labels: list


def flatten_predictions(results: Mapping[str, list[dict]], source: object) -> FlatPredictions:
    """Predictions as arrays, in input order (videos in dict order, then list order).

    A fast path collects the values into lists and checks them vectorised. On any problem (or values
    that are not plain Python numbers, such as numpy scalars), the slow `validate_results` walks the
    input: it raises the precise one-line error, or returns plain values for the fast path.
    """
    try:
        return _flatten_plain(results)
    except (AttributeError, KeyError, TypeError, ValueError):
        return _flatten_plain(validate_results(results, source))


def _flatten_plain(results: Mapping[str, list[dict]]) -> FlatPredictions:
    """The fast path: raises ValueError (or KeyError, TypeError) on anything `validate_results` rejects.

    The per-prediction work is done by C-level iteration (map, itemgetter, chain), not a Python loop.
    """
    video_ids = [canonical_video_id(raw_id) for raw_id in results]
    if len(set(video_ids)) != len(video_ids):
        raise ValueError("a video appears twice")
    if not all(type(predictions) is list for predictions in results.values()):
        raise TypeError("expected lists of predictions")
    counts = np.asarray([len(predictions) for predictions in results.values()], dtype=np.int64)
    predictions = list(chain.from_iterable(results.values()))
    if not set(map(type, predictions)) <= {dict}:
        raise TypeError("expected objects")
    segments = list(map(itemgetter("segment"), predictions))
    scores = list(map(itemgetter("score"), predictions))
    labels = list(map(dict.get, predictions, repeat("label")))
    if not (set(map(type, segments)) <= {list} and set(map(len, segments)) <= {2}):
        raise TypeError("expected [start, end]")
    if not set(map(type, chain.from_iterable(segments))) | set(map(type, scores)) <= {int, float}:
        raise TypeError("not plain numbers")  # also rejects bool, which numpy would take as 0 or 1
    if not all(label is None or (type(label) is str and label) for label in set(labels)):
        raise TypeError("a label is not a non-empty string")
    segments_a = np.fromiter(chain.from_iterable(segments), dtype=np.float64, count=2 * len(segments)).reshape(-1, 2)
    scores_a = np.asarray(scores, dtype=np.float64)
    starts, ends = segments_a[:, 0], segments_a[:, 1]
    bad = ~np.isfinite(segments_a).all(axis=1) | ~np.isfinite(scores_a) | (ends < starts) | (scores_a < 0)
    if bad.any():
        raise ValueError("a bad value")
    video = np.repeat(np.arange(len(video_ids)), counts)
    position = np.arange(len(video)) - np.repeat(np.cumsum(counts) - counts, counts)
    return FlatPredictions(video_ids, video, position, segments_a, scores_a, labels)
