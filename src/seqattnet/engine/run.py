"""The jobs behind the commands that are neither training nor evaluation: predict, plots, demo, info."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..data.dataset import grid_duration_s
from ..data.features import FEATURE_SUFFIXES
from ..data.sources import FeatureSource, feature_files
from ..devices import resolve_device
from ..errors import InputError, arg, argument, quoted
from ..files import write_text_atomic
from ..structures import AnnotationSet, Detections, VideoAnnotation, canonical_video_id, detections_from_results
from .build import build_model, load_ground_truth, read_data_annotations
from .checkpoint import load_model
from .fit import train


def parameter_table(model: torch.nn.Module) -> dict[str, int]:
    """Trainable parameters per top-level module (proposal stages split out) and the total."""
    groups: dict[str, int] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] == "proposals" else parts[0]
        groups[key] = groups.get(key, 0) + p.numel()
    return groups


FeatureInput = str | Path | list[Path] | np.ndarray | dict[str, np.ndarray]


def predict_files(checkpoint: str | Path, features: FeatureInput, *, fps: float | None = None,
                  device: str = "auto", progress: bool = True, annotations: str | Path | None = None,
                  overrides: list[str] = ()) -> tuple[list[Detections], list[str]]:
    """`predict_features` with the model of a checkpoint (`overrides`: see checkpoint_config); and its classes."""
    model, cfg, classes = load_model(checkpoint, resolve_device(device), overrides)
    return predict_features(model, cfg, features, fps=fps, annotations=annotations, progress=progress,
                            checkpoint=checkpoint), classes


def predict_features(model: torch.nn.Module, cfg: Config, features: FeatureInput, *, fps: float | None = None,
                     annotations: str | Path | None = None, progress: bool = True,
                     checkpoint: object = "") -> list[Detections]:
    """Detections for one feature file, every feature file in a folder, a list of files, or arrays in memory
    (one float[n, F] array, a video named "video", or {video id: float[n, F]}); times in seconds.

    A video's duration is the one of `annotations` (an annotation file or BMN's video_info_new.csv) when
    given, else the span of its snippets, ((n - 1) * stride + window) / fps with the checkpoint's stride and
    window. fps comes from the argument, the file's metadata (`seqattnet extract`), the annotations or the
    config's data.fps. A video that none of these times (or any video, for features rescaled to T rows,
    data.rescaled, which carry no duration) is looked up in the annotations the checkpoint was trained with
    (its data.annotations): when they list it, their fps and duration time it, as `annotations` would; else
    it is refused. Each Detections records the duration and fps used. Files whose metadata names another
    backbone, dimension, stride or window than the checkpoint's are refused. A config with windows.enabled
    runs sliding windows of T native snippets, merged per video as in evaluation.
    """
    from tqdm import tqdm

    from ..data.dataset import FeatureSpec

    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError.at(argument("fps"), f"must be a positive number of frames per second, got {quoted(fps)}")
    spec, timing = FeatureSpec.from_config(cfg), VideoTiming(cfg, annotations)
    inputs = feature_inputs(features)
    out: list[Detections] = []
    for source, item, video_id in tqdm(inputs, desc="predict", disable=not progress or len(inputs) < 2, leave=False):
        where = item if isinstance(item, Path) else f"{arg('features')} (array)"
        meta = _read_meta(source, item, spec, f"{item} (checkpoint {checkpoint})")
        raw = _read_features(source, item, video_id, where, cfg.model.feature_dim)  # (n, F)
        truth = timing.annotated(video_id, where)
        video_fps = fps or (meta or {}).get("fps") or (truth.fps if truth else None) or cfg.data.fps or None
        if truth is None and (video_fps is None or cfg.data.rescaled):
            truth = timing.trained(video_id, where)
            video_fps = video_fps or (truth.fps if truth else None)
        if video_fps is None and not cfg.data.rescaled:
            raise InputError.at(where, f"no fps: not in the file's metadata, not in {arg('annotations')}, data.fps "
                                f"is 0 and {timing.trained_text()} do not list this video; pass {arg('fps')}",
                                video=video_id)
        if cfg.data.rescaled and raw.shape[0] != cfg.model.temporal_scale:
            raise InputError.at(where, f"{raw.shape[0]} rows, but data.rescaled says the rows are the T = "
                                f"{cfg.model.temporal_scale} grid", video=video_id)
        duration = (grid_duration_s(truth, spec) if truth is not None
                    else _snippet_duration_s(raw.shape[0], cfg, video_fps, where, video_id))
        detect_video = _detect_windows if cfg.windows.enabled else _detect_whole
        out.append(replace(detect_video(model, cfg, raw, video_id, video_fps, duration), duration_s=duration,
                           fps=video_fps))
    return out


class VideoTiming:
    """Durations and fps of videos: those of `annotations` (a path) when given, and those of the annotations
    a checkpoint's config names (data.annotations, data.video_info), read when first asked for."""

    def __init__(self, cfg: Config, annotations: str | Path | None = None):
        from ..data.annotations import read_video_timing

        self.cfg, self.annotations = cfg, annotations
        self.given = read_video_timing(annotations) if annotations is not None else None
        self._trained: dict[str, VideoAnnotation] | None = None

    def annotated(self, video_id: str, where: object) -> VideoAnnotation | None:
        """The video in `annotations`; None without them; a video they do not list is refused."""
        if self.given is None:
            return None
        if video_id not in self.given:
            raise InputError.at(self.annotations, f"no duration for the video of {where}", video=video_id)
        return self.given[video_id]

    def trained(self, video_id: str, where: object) -> VideoAnnotation | None:
        """The video in the checkpoint's own annotations (None when they are absent or do not list it); for
        features rescaled to T rows, which need a duration, not finding it is refused."""
        if self._trained is None:
            path = self.cfg.data.path(self.cfg.data.annotations)
            self._trained = read_data_annotations(self.cfg).videos if path.is_file() else {}
        truth = self._trained.get(video_id)
        if truth is None and self.cfg.data.rescaled and self.given is None:
            raise InputError.at(where, f"the checkpoint reads features rescaled to T = {self.cfg.model.temporal_scale}"
                                " rows (data.rescaled), whose row count says nothing of a video's duration, and "
                                f"{self.trained_text()} do not list this video: pass {arg('annotations')} with the "
                                "annotation JSON or video_info_new.csv", video=video_id)
        return truth

    def trained_text(self) -> str:
        path = self.cfg.data.path(self.cfg.data.annotations)
        return f"the checkpoint's annotations ({path}{'' if path.is_file() else ': not found'})"


def feature_inputs(features: FeatureInput) -> list[tuple[FeatureSource | None, Path | np.ndarray, str]]:
    """(source, file, video id) of every video in `features`: files of any registered format, a folder of
    per-video files, or a store (HDF5) holding many videos; (None, array, video id) for arrays in memory."""
    if isinstance(features, dict):
        return [(None, array, canonical_video_id(str(video_id))) for video_id, array in features.items()]
    if not isinstance(features, (str, Path, list)):
        return [(None, features, "video")]
    if isinstance(features, list):
        files = [Path(f) for f in features]
    else:
        path = Path(features)
        files = feature_files(path) if path.is_dir() else [path]
        if not files:
            raise InputError.at(path, f"no feature files ({', '.join(FEATURE_SUFFIXES)}) in this folder")
    out = []
    for file in files:
        source = FeatureSource(file)
        ids = source.videos() if source.store is not None else [file.stem]
        out += [(source, file, canonical_video_id(video_id)) for video_id in ids]
    return out


def _read_meta(source: FeatureSource | None, item: Path | np.ndarray, spec, where: str) -> dict | None:
    """A per-video file's metadata (`seqattnet extract`), refused when it names other features than the
    checkpoint's; None for stores, arrays and files without any."""
    from ..data.features import read_feature_meta

    meta = read_feature_meta(item) if source is not None and source.store is None and item.is_file() else None
    spec.check_meta(meta, where)
    return meta


def _read_features(source: FeatureSource | None, item: Path | np.ndarray, video_id: str, where: object,
                   feature_dim: int) -> np.ndarray:
    """A video's features, checked -> float32[n, F]."""
    from ..data.features import check_features

    if source is not None:
        return source.read(item, video_id, feature_dim)
    if hasattr(item, "detach"):  # a torch tensor
        item = item.detach().cpu().numpy()
    return check_features(item, where, video=video_id, expected_dim=feature_dim)


def _snippet_duration_s(n: int, cfg: Config, fps: float, where: object, video_id: str) -> float:
    """The seconds n snippets span; refused when an extreme fps or stride makes it inf or 0."""
    duration = ((n - 1) * cfg.data.stride_frames + cfg.data.window_frames) / fps
    if not (math.isfinite(duration) and duration > 0):
        raise InputError.at(where, f"a duration of {duration:g} s from {n} snippets at {fps:g} fps and "
                            f"data.stride_frames {cfg.data.stride_frames:g}; check {arg('fps')} and the data.* "
                            "settings", video=video_id)
    return duration


def _detect_whole(model, cfg: Config, raw: np.ndarray, video_id: str, fps: float | None,
                  duration: float) -> Detections:
    """One video rescaled to the T grid. raw: float[n, F]; fps None only for rows already on the grid."""
    from ..data.features import rescale_to_grid, snippet_times_s
    from .inference import detect

    d, n = cfg.data, raw.shape[0]
    times = snippet_times_s(n, d.stride_frames, d.window_frames, fps) if fps else None
    grid = rescale_to_grid(raw, times, duration, cfg.model.temporal_scale, already_rescaled=d.rescaled)  # (F, T)
    feats = torch.from_numpy(grid)[None].to(next(model.parameters()).device)
    return detect(model, feats, [video_id], torch.tensor([duration], dtype=torch.float64), cfg.inference)[0]


def _detect_windows(model, cfg: Config, raw: np.ndarray, video_id: str, fps: float, duration: float) -> Detections:
    """Windows of T native snippets (the last zero-padded), each run alone, merged into one Detections by the
    code that `watch` runs on a video still being recorded (engine/stream.py), so both give the same bits.
    raw: float[n, F]."""
    from .stream import WindowStream
    from .windowed import joined, merge_video

    stream = WindowStream(model, cfg, video_id, fps)
    if cfg.inference.window_suppression == "video":  # one Soft-NMS over the whole video: no stream can give it
        return merge_video(video_id, stream.unsuppressed(raw), duration, cfg.inference)
    return joined(video_id, stream.push(raw) + stream.close())


def plot_videos(detections: list[Detections], classes: list[str], out_dir: str | Path,
                ground_truth: AnnotationSet | None = None, durations_s: dict[str, float] | None = None,
                limit: int | None = None) -> list[Path]:
    """One timeline PNG per video (at most `limit`), ground truth underneath when given."""
    from ..plot import plot_timeline

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for det in detections[:limit]:
        truth = ground_truth.videos.get(det.video_id) if ground_truth is not None else None
        duration = truth.duration_s if truth is not None else (durations_s or {}).get(
            det.video_id, float(det.segments_s.max()) if len(det.segments_s) else 1.0)
        path = out / f"{det.video_id}.png"
        plot_timeline(path, det.video_id, duration, det.segments_s, det.scores, [classes[i] for i in det.labels],
                      truth.segments_s if truth is not None else None, truth.labels if truth is not None else None,
                      classes=classes)
        paths.append(path)
    return paths


def demo(cfg: Config, out_dir: str | Path, *, plots: int = 4, progress: bool = True, overwrite: bool = False) -> dict:
    """Generate the built-in dataset if absent, train, evaluate, plot a few validation videos. A folder that
    holds a run is refused unless `overwrite`, as `train` does."""
    out = Path(out_dir)
    start = time.perf_counter()
    report = train(cfg, out, progress=progress, overwrite=overwrite)
    params = sum(parameter_table(build_model(cfg)).values())
    ground_truth, classes = load_ground_truth(cfg)
    truth = ground_truth.subset(cfg.data.val_subset)
    shown = sorted(report.results)[:plots]
    plot_videos(detections_from_results({k: report.results[k] for k in shown}, classes), classes, out / "plots", truth)
    summary = report.summary()
    summary.update(total_params=params, average_mAP_per_million_params=100 * report.detection.average_mAP / (params / 1e6),
                   seconds=time.perf_counter() - start)
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2))
    return {"report": report, "summary": summary}
