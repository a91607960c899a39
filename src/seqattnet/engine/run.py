"""The jobs behind the commands that are neither training nor evaluation: predict, plots, demo, info."""

from __future__ import annotations

import json
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
from ..errors import InputError
from ..structures import AnnotationSet, Detections, canonical_video_id, detections_from_results
from .build import build_model, load_ground_truth
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


def predict_files(checkpoint: str | Path, features: str | Path | list[Path], *, fps: float | None = None,
                  device: str = "auto", progress: bool = True, annotations: str | Path | None = None,
                  overrides: list[str] = ()) -> tuple[list[Detections], list[str]]:
    """Detections for one feature file, every feature file in a folder, or a list of files; times in seconds.

    A video's duration is the one of `annotations` (an annotation file or BMN's video_info_new.csv) when
    given, else the span of its snippets, ((n - 1) * stride + window) / fps with the checkpoint's stride and
    window. Features rescaled to T rows (data.rescaled) carry no duration: they need `annotations`. fps comes
    from the argument, the file's metadata (`seqattnet extract`), the annotations or the config's data.fps;
    a video without any is refused. Each Detections records the duration and fps used. Files whose metadata
    names another backbone, dimension, stride or window than the checkpoint's are refused. A config with
    windows.enabled runs sliding windows of T native snippets, merged per video as in evaluation.
    """
    from tqdm import tqdm

    from ..data.annotations import read_video_timing
    from ..data.dataset import FeatureSpec
    from ..data.features import read_feature_meta

    model, cfg, classes = load_model(checkpoint, resolve_device(device), overrides)
    if cfg.data.rescaled and annotations is None:
        raise InputError.at("--annotations", f"the checkpoint reads features rescaled to T = "
                            f"{cfg.model.temporal_scale} rows (data.rescaled), whose row count says nothing of a "
                            "video's duration: pass --annotations with the annotation JSON or video_info_new.csv")
    timing = read_video_timing(annotations) if annotations is not None else None
    spec = FeatureSpec.from_config(cfg)
    inputs = feature_inputs(features)
    out: list[Detections] = []
    for source, file, video_id in tqdm(inputs, desc="predict", disable=not progress or len(inputs) < 2, leave=False):
        meta = read_feature_meta(file) if source.store is None and file.is_file() else None
        spec.check_meta(meta, f"{file} (checkpoint {checkpoint})")
        raw = source.read(file, video_id, cfg.model.feature_dim)  # (n, F)
        if cfg.data.rescaled and raw.shape[0] != cfg.model.temporal_scale:
            raise InputError.at(file, f"{raw.shape[0]} rows, but data.rescaled says the rows are the T = "
                                f"{cfg.model.temporal_scale} grid", video=video_id)
        truth = None
        if timing is not None:
            truth = timing.get(video_id)
            if truth is None:
                raise InputError.at(annotations, f"no duration for the video of {file}", video=video_id)
        video_fps = fps or (meta or {}).get("fps") or (truth.fps if truth else None) or cfg.data.fps or None
        if video_fps is None and not cfg.data.rescaled:
            raise InputError.at(file, "no fps: not in the file's metadata, not in --annotations and data.fps is 0; "
                                "pass --fps", video=video_id)
        duration = grid_duration_s(truth, spec) if truth is not None else _snippet_duration_s(raw.shape[0], cfg, video_fps)
        detect_video = _detect_windows if cfg.windows.enabled else _detect_whole
        out.append(replace(detect_video(model, cfg, raw, video_id, video_fps, duration), duration_s=duration,
                           fps=video_fps))
    return out, classes


def feature_inputs(features: str | Path | list[Path]) -> list[tuple[FeatureSource, Path, str]]:
    """(source, file, video id) of every video in `features`: files of any registered format, a folder of
    per-video files, or a store (HDF5) holding many videos."""
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


def _snippet_duration_s(n: int, cfg: Config, fps: float) -> float:
    return ((n - 1) * cfg.data.stride_frames + cfg.data.window_frames) / fps


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


def _detect_windows(model, cfg: Config, raw: np.ndarray, video_id: str, fps: float, duration: float,
                    batch_size: int = 16) -> Detections:
    """Windows of T native snippets (the last zero-padded), `batch_size` at a time (the heads' memory grows
    with the batch), merged into one Detections. raw: float[n, F]."""
    from ..data.windows import Window, window_geometry, window_starts
    from .inference import detect
    from .windowed import merge_windows, window_shares

    d, T, n = cfg.data, cfg.model.temporal_scale, raw.shape[0]
    windows = [Window(f"{video_id}@{start}", video_id, start,
                      *window_geometry(start, T, d.stride_frames, d.window_frames, fps), duration)
               for start in window_starts(n, T, cfg.windows.overlap)]
    padded = np.zeros((windows[-1].start_idx + T, raw.shape[1]), dtype=np.float32)  # past the end: zero rows
    padded[:n] = raw
    shares = window_shares(windows) if cfg.windows.merge == "centre" else None
    device, detections = next(model.parameters()).device, []
    for lo in range(0, len(windows), batch_size):
        part = windows[lo:lo + batch_size]
        grids = np.stack([padded[w.start_idx:w.start_idx + T].T for w in part])  # (W, F, T)
        spans = torch.tensor([w.span_s for w in part], dtype=torch.float64)
        kept = None if shares is None else torch.tensor([shares[w.item_id] for w in part], dtype=torch.float64)
        detections += detect(model, torch.from_numpy(grids).to(device), [w.item_id for w in part], spans,
                             cfg.inference, nms=False, shares_norm=kept)
    return merge_windows(detections, {w.item_id: w for w in windows}, cfg.inference)[0]


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


def demo(cfg: Config, out_dir: str | Path, *, plots: int = 4, progress: bool = True) -> dict:
    """Generate the built-in dataset if absent, train, evaluate, plot a few validation videos."""
    out = Path(out_dir)
    start = time.perf_counter()
    report = train(cfg, out, progress=progress)
    params = sum(parameter_table(build_model(cfg)).values())
    ground_truth, classes = load_ground_truth(cfg)
    truth = ground_truth.subset(cfg.data.val_subset)
    shown = sorted(report.results)[:plots]
    plot_videos(detections_from_results({k: report.results[k] for k in shown}, classes), classes, out / "plots", truth)
    summary = report.summary()
    summary.update(total_params=params, average_mAP_per_million_params=100 * report.detection.average_mAP / (params / 1e6),
                   seconds=time.perf_counter() - start)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    return {"report": report, "summary": summary}
