"""Evaluation of a model on a subset: detections, mAP at the config's protocol, AR@AN, optional fusion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..config import Config
from ..data.dataset import collate
from ..devices import resolve_device
from ..errors import InputError, counted
from ..evaluation import (DetectionMetrics, ProposalMetrics, evaluate_detection, evaluate_proposals,
                          format_detection_table, format_proposal_table)
from ..evaluation.diagnosis import Diagnosis, diagnose
from ..evaluation.protocols import resolve_tious
from ..model import SeqAttNet
from ..postprocess.fusion import fuse_class_scores, read_class_scores
from ..structures import AnnotationSet, to_results
from .build import build_dataset, load_ground_truth
from .checkpoint import load_model
from .inference import predict_dataset
from .windowed import merge_windows


@dataclass
class EvaluationReport:
    detection: DetectionMetrics | None  # None: the subset has no ground truth (a test server's subset)
    proposals: ProposalMetrics | None
    results: dict[str, list[dict]]
    unfused: DetectionMetrics | None = None  # with inference.class_scores: the mAP before fusion
    truth: AnnotationSet | None = None  # the evaluated subset's ground truth

    def table(self) -> str:
        if self.detection is None or self.proposals is None:
            return f"no ground truth in this subset: detections of {counted(len(self.results), 'video')}, no metrics"
        table = format_detection_table(self.detection) + "\n\n" + format_proposal_table(self.proposals)
        if self.unfused is not None:
            table += (f"\n\naverage mAP with video-level class scores {self.detection.average_mAP:.4f}, "
                      f"without {self.unfused.average_mAP:.4f}")
        return table

    def summary(self) -> dict:
        d, p = self.detection, self.proposals
        if d is None or p is None:
            return {"videos": len(self.results), "average_mAP": None}
        out = {"tious": [round(float(t), 6) for t in d.tious], "mAP": d.mAP.tolist(), "average_mAP": d.average_mAP,
               "AR@AN": {str(k): v for k, v in p.recall_at.items()}, "AUC": p.auc}
        if self.unfused is not None:
            out["average_mAP_without_class_scores"] = self.unfused.average_mAP
        return out


def _loader(dataset, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)


def evaluate_model(model: SeqAttNet, cfg: Config, ground_truth: AnnotationSet, classes: list[str], subset: str,
                   device: torch.device, progress: bool = True) -> EvaluationReport:
    """Detections on every video of `subset` scored against its ground truth (missing videos count as misses)
    at the tIoU thresholds of data.protocol. Windowed data (data.windows) is merged per video first. A
    subset without any ground-truth instance (ActivityNet's testing) gives detections and no metrics."""
    dataset = build_dataset(cfg, subset, ground_truth, classes)
    windows = getattr(dataset, "windows", None)
    detections = predict_dataset(model, _loader(dataset, cfg.train.batch_size), cfg.inference, device, progress,
                                 desc=f"evaluate {subset}", nms=windows is None)
    if windows is not None:
        detections = merge_windows(detections, {w.item_id: w for w in windows}, cfg.inference)
    results = unfused = to_results(detections, classes)
    if cfg.inference.class_scores:
        results = fuse_with_config(unfused, cfg, classes)
    truth = ground_truth.subset(subset)
    if not any(len(v.labels) for v in truth.videos.values()):
        return EvaluationReport(None, None, results, truth=truth)
    # Labels come from the model's class list: one without an instance in this subset has no AP to count
    # in (the official taxonomy is the subset's), so its detections are dropped instead of failing.
    tious = resolve_tious(cfg.data.protocol)
    detection = evaluate_detection(truth, results, tious, ignore_unknown_labels=True)
    before = evaluate_detection(truth, unfused, tious, ignore_unknown_labels=True) if results is not unfused else None
    # proposals: class-agnostic
    return EvaluationReport(detection, evaluate_proposals(truth, unfused), results, before, truth)


def diagnose_evaluation(report: EvaluationReport, cfg: Config) -> Diagnosis:
    """The error diagnosis of an evaluation's detections (the fused ones, as its mAP), at data.protocol.
    Labels without an instance in the subset are dropped, as for the mAP."""
    if report.detection is None or report.truth is None:
        raise InputError.at("--report", "the evaluated subset has no ground truth to diagnose against")
    return diagnose(report.truth, report.results, resolve_tious(cfg.data.protocol), protocol=cfg.data.protocol,
                    ignore_unknown_labels=True)


def fuse_with_config(results: dict[str, list[dict]], cfg: Config, classes: list[str]) -> dict[str, list[dict]]:
    """Result entries fused with the video-level class scores of inference.class_scores."""
    inf = cfg.inference
    scores = read_class_scores(cfg.data.path(inf.class_scores), classes)
    return fuse_class_scores(results, scores, classes, inf.class_score_fusion, inf.class_score_top_k, inf.max_detections)


def evaluate_checkpoint(checkpoint: str | Path, subset: str | None = None, *, device: str = "auto",
                        progress: bool = True, overrides: list[str] = ()) -> tuple[EvaluationReport, Config]:
    """A checkpoint on `subset` (default: its data.val_subset), with inference.* / data.* `overrides`."""
    model, cfg, classes = load_model(checkpoint, resolve_device(device), overrides)
    ground_truth, gt_classes = load_ground_truth(cfg)
    if gt_classes != classes:
        raise InputError.at(checkpoint, f"the checkpoint's class list differs from the dataset's "
                            f"({first_difference(classes, gt_classes)}); evaluate on the data it was trained "
                            "with (its config's data.annotations and data.classes)")
    report = evaluate_model(model, cfg, ground_truth, classes, subset or cfg.data.val_subset,
                            next(model.parameters()).device, progress)
    return report, cfg


def first_difference(ours: list[str], theirs: list[str]) -> str:
    """Where two class lists part: `class 2: 'a' vs 'b'` or `4 vs 5 classes`."""
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"class {i}: {a!r} vs {b!r}"
    return f"{len(ours)} vs {len(theirs)} classes"
