"""The jobs behind the commands: train, evaluate, predict, demo, info. Each takes explicit arguments."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import Config, save_config
from ..data.dataset import collate
from ..errors import InputError
from ..evaluation import (DetectionMetrics, ProposalMetrics, evaluate_detection, evaluate_proposals,
                          format_detection_table, format_proposal_table, write_results)
from ..model import SeqAttNet
from ..structures import AnnotationSet, canonical_video_id
from .build import (build_dataset, build_model, build_optimizer, ensure_synthetic_data, load_ground_truth,
                    resolve_device)
from .checkpoint import load_model, save_checkpoint
from .inference import Detections, predict_dataset, to_results
from .train import train_one_epoch

log = logging.getLogger("seqattnet")


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


@dataclass
class EvaluationReport:
    detection: DetectionMetrics
    proposals: ProposalMetrics
    results: dict[str, list[dict]]

    def table(self) -> str:
        return format_detection_table(self.detection) + "\n\n" + format_proposal_table(self.proposals)

    def summary(self) -> dict:
        d, p = self.detection, self.proposals
        return {"tious": d.tious.tolist(), "mAP": d.mAP.tolist(), "average_mAP": d.average_mAP,
                "AR@AN": {str(k): v for k, v in p.recall_at.items()}, "AUC": p.auc}


def _loader(dataset, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)


def evaluate_model(model: SeqAttNet, cfg: Config, ground_truth: AnnotationSet, classes: list[str], subset: str,
                   device: torch.device, progress: bool = True) -> EvaluationReport:
    """Detections on every video of `subset` scored against its ground truth (missing videos count as misses)."""
    dataset = build_dataset(cfg, subset, ground_truth, classes)
    detections = predict_dataset(model, _loader(dataset, cfg.train.batch_size), cfg.inference, device, progress,
                                 desc=f"evaluate {subset}")
    results = to_results(detections, classes)
    truth = ground_truth.subset(subset)
    return EvaluationReport(evaluate_detection(truth, results), evaluate_proposals(truth, results), results)


def train(cfg: Config, out_dir: str | Path, *, progress: bool = True) -> EvaluationReport:
    """Train from scratch into out_dir (config.yaml, last.pt, train.log, metrics.json, results)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _log_to(out / "train.log")
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    generator = seed_everything(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    ensure_synthetic_data(cfg, progress)
    ground_truth, classes = load_ground_truth(cfg)
    train_set = build_dataset(cfg, cfg.data.train_subset, ground_truth, classes)
    for line in train_set.skipped:
        log.warning("skipped: %s", line)
    save_config(cfg, out / "config.yaml")
    model = build_model(cfg).to(device)
    optimizer, scheduler = build_optimizer(cfg, model)
    loader = _loader(train_set, cfg.train.batch_size, shuffle=True, generator=generator)
    log.info("training on %d videos, %d parameters, device %s", len(train_set),
             sum(p.numel() for p in model.parameters()), device)
    for epoch in range(1, cfg.train.epochs + 1):
        start = time.perf_counter()
        losses = train_one_epoch(model, loader, optimizer, cfg, device, epoch, generator, progress)
        scheduler.step()
        save_checkpoint(out / "last.pt", model, cfg, classes, optimizer=optimizer, scheduler=scheduler,
                        epoch=epoch, metrics={"loss": losses})
        log.info("epoch %d/%d  %.0f s  %s", epoch, cfg.train.epochs, time.perf_counter() - start,
                 "  ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    report = evaluate_model(model, cfg, ground_truth, classes, cfg.data.val_subset, device, progress)
    write_results(out / f"results_{cfg.data.val_subset}.json", report.results)
    (out / "metrics.json").write_text(json.dumps(report.summary(), indent=2))
    log.info("validation: average mAP %.4f", report.detection.average_mAP)
    return report


def evaluate_checkpoint(checkpoint: str | Path, subset: str | None = None, *, device: str = "auto",
                        progress: bool = True) -> tuple[EvaluationReport, Config]:
    model, cfg, classes = load_model(checkpoint, resolve_device(device))
    ground_truth, gt_classes = load_ground_truth(cfg)
    if gt_classes != classes:
        raise InputError.at(checkpoint, "the checkpoint's class list differs from the dataset's "
                            f"({len(classes)} vs {len(gt_classes)} classes)")
    report = evaluate_model(model, cfg, ground_truth, classes, subset or cfg.data.val_subset,
                            next(model.parameters()).device, progress)
    return report, cfg


def _log_to(path: Path) -> None:
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        if isinstance(handler, logging.FileHandler):
            log.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)


def predict_files(checkpoint: str | Path, features: str | Path, *, fps: float | None = None,
                  device: str = "auto", progress: bool = True) -> tuple[list[Detections], list[str]]:
    """Detections for one feature file or every feature file in a folder, times in seconds.

    Durations: a file of n snippets covers ((n - 1) * stride + window) / fps seconds, with the stride and
    window of the checkpoint's config and fps from the argument, the config's data.fps, or 30.
    """
    from ..data.features import FEATURE_SUFFIXES, read_feature_file, rescale_to_grid, snippet_times_s
    from .inference import detect

    model, cfg, classes = load_model(checkpoint, resolve_device(device))
    path = Path(features)
    files = sorted(p for p in path.iterdir() if p.suffix in FEATURE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise InputError.at(path, f"no feature files ({', '.join(FEATURE_SUFFIXES)}) in this folder")
    fps = fps or cfg.data.fps or 30.0
    d = cfg.data
    T = cfg.model.temporal_scale
    device_ = next(model.parameters()).device
    out: list[Detections] = []
    from tqdm import tqdm

    for file in tqdm(files, desc="predict", disable=not progress or len(files) < 2, leave=False):
        raw = read_feature_file(file, expected_dim=cfg.model.feature_dim)
        n = raw.shape[0]
        duration = ((n - 1) * d.stride_frames + d.window_frames) / fps
        grid = rescale_to_grid(raw, snippet_times_s(n, d.stride_frames, d.window_frames, fps), duration, T,
                               already_rescaled=d.rescaled)
        video_id = canonical_video_id(file.stem)
        feats = torch.from_numpy(grid)[None].to(device_)
        out.extend(detect(model, feats, [video_id], torch.tensor([duration], dtype=torch.float64), cfg.inference))
    return out, classes


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
                      truth.segments_s if truth is not None else None, truth.labels if truth is not None else None)
        paths.append(path)
    return paths


def detections_from_results(results: dict[str, list[dict]], classes: list[str]) -> list[Detections]:
    index = {c: i for i, c in enumerate(classes)}
    return [Detections(vid, np.array([p["segment"] for p in preds], dtype=np.float64).reshape(-1, 2),
                       np.array([p["score"] for p in preds]), np.array([index[p["label"]] for p in preds], dtype=np.int64))
            for vid, preds in results.items()]


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
