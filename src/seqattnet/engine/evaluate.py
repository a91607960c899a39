"""Evaluation of a model on a subset: detections, mAP at the config's protocol, AR@AN, optional fusion."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import Config, InferenceConfig
from ..data.dataset import collate
from ..devices import resolve_device
from ..errors import InputError, argument, counted
from ..evaluation import (DetectionMetrics, ProposalMetrics, evaluate_detection, evaluate_proposals,
                          format_detection_table, format_proposal_table)
from ..evaluation.diagnosis import Diagnosis, diagnose
from ..evaluation.protocols import resolve_tious
from ..model import SeqAttNet
from ..postprocess.fusion import fuse_class_scores, read_class_scores
from ..data.windows import Window
from ..structures import AnnotationSet, Detections, to_results
from .build import build_dataset, load_ground_truth
from .checkpoint import load_model
from .inference import predict_batches
from .windowed import merge_windows, window_shares


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


class DetectionEvaluator:
    """The stages after inference, detectron2's evaluator: reset(), process(detections of a batch) per
    batch, evaluate() -> EvaluationReport. evaluate() merges sliding windows (`windows`: Window by item id,
    their detections unsuppressed) into one set per video, fuses video-level `class_scores` when given and
    scores the result entries against `truth` (see `score_results`)."""

    def __init__(self, truth: AnnotationSet, classes: list[str], tious: np.ndarray, inference: InferenceConfig, *,
                 windows: dict[str, Window] | None = None, class_scores: dict[str, np.ndarray] | None = None):
        self.truth, self.classes, self.tious, self.inference = truth, classes, tious, inference
        self.windows, self.class_scores = windows, class_scores
        self.reset()

    def reset(self) -> None:
        self._detections: list[Detections] = []

    def process(self, detections: list[Detections]) -> None:
        self._detections.extend(detections)

    def evaluate(self) -> EvaluationReport:
        detections = self._detections
        if self.windows is not None:
            detections = merge_windows(detections, self.windows, self.inference)
        results = unfused = to_results(detections, self.classes)
        if self.class_scores is not None:
            inf = self.inference
            results = fuse_class_scores(unfused, self.class_scores, self.classes, inf.class_score_fusion,
                                        inf.class_score_top_k, inf.max_detections)
        return score_results(self.truth, results, unfused, self.tious)


def score_results(truth: AnnotationSet, results: dict[str, list[dict]], unfused: dict[str, list[dict]],
                  tious: np.ndarray) -> EvaluationReport:
    """Result entries (fused, and as the model gave them) scored against `truth`: mAP at `tious` (missing
    videos count as misses), AR@AN on the unfused entries. No ground-truth instance: no metrics."""
    if not any(len(v.labels) for v in truth.videos.values()):
        return EvaluationReport(None, None, results, truth=truth)
    # Labels come from the model's class list: one without an instance in this subset has no AP to count
    # in (the official taxonomy is the subset's), so its detections are dropped instead of failing.
    detection = evaluate_detection(truth, results, tious, ignore_unknown_labels=True)
    before = evaluate_detection(truth, unfused, tious, ignore_unknown_labels=True) if results is not unfused else None
    # proposals: class-agnostic
    return EvaluationReport(detection, evaluate_proposals(truth, unfused), results, before, truth)


def build_evaluator(cfg: Config, truth: AnnotationSet, classes: list[str],
                    windows: list[Window] | None = None) -> DetectionEvaluator:
    """The evaluator of a config: evaluation.protocol's tIoUs, inference.class_scores read when set."""
    inf = cfg.inference
    scores = read_class_scores(cfg.data.path(inf.class_scores), classes) if inf.class_scores else None
    by_id = {w.item_id: w for w in windows} if windows is not None else None
    return DetectionEvaluator(truth, classes, resolve_tious(cfg.evaluation.protocol), inf, windows=by_id,
                              class_scores=scores)


def evaluate_model(model: SeqAttNet, cfg: Config, ground_truth: AnnotationSet, classes: list[str], subset: str,
                   device: torch.device, progress: bool = True) -> EvaluationReport:
    """Detections on every video of `subset` scored against its ground truth (missing videos count as misses)
    at the tIoU thresholds of evaluation.protocol. Windowed data (windows.enabled) is merged per video first. A
    subset without any ground-truth instance (ActivityNet's testing) gives detections and no metrics."""
    return evaluate_variants(model, cfg, [cfg.inference], ground_truth, classes, subset, device, progress)[0]


def evaluate_variants(model: SeqAttNet, cfg: Config, inferences: list[InferenceConfig], ground_truth: AnnotationSet,
                      classes: list[str], subset: str, device: torch.device,
                      progress: bool = True) -> list[EvaluationReport]:
    """`evaluate_model` with each inference section of `inferences` in place of cfg's, in one pass over the
    data: the network runs once per batch for the sections that differ only after it (`detect_variants`)."""
    dataset = build_dataset(cfg, subset, ground_truth, classes)
    windows = getattr(dataset, "windows", None)
    evaluators = [build_evaluator(replace(cfg, inference=inf), ground_truth.subset(subset), classes, windows)
                  for inf in inferences]
    shares = window_shares(windows) if windows is not None and cfg.windows.merge == "centre" else None
    for variants in predict_batches(model, _loader(dataset, cfg.train.batch_size), inferences, device, progress,
                                    desc=f"evaluate {subset}", nms=windows is None, shares=shares):
        for evaluator, detections in zip(evaluators, variants):
            evaluator.process(detections)
    return [evaluator.evaluate() for evaluator in evaluators]


def diagnose_evaluation(report: EvaluationReport, cfg: Config) -> Diagnosis:
    """The error diagnosis of an evaluation's detections (the fused ones, as its mAP), at evaluation.protocol.
    Labels without an instance in the subset are dropped, as for the mAP."""
    if report.detection is None or report.truth is None:
        raise InputError.at(argument("report"), "the evaluated subset has no ground truth to diagnose against")
    protocol = cfg.evaluation.protocol
    return diagnose(report.truth, report.results, resolve_tious(protocol), protocol=protocol,
                    ignore_unknown_labels=True)


def evaluate_checkpoint(checkpoint: str | Path, subset: str | None = None, *, device: str = "auto",
                        progress: bool = True, overrides: list[str] = ()) -> tuple[EvaluationReport, Config]:
    """A checkpoint on `subset` (default: its data.val_subset), with inference.* / data.* `overrides`."""
    model, cfg, classes = load_model(checkpoint, resolve_device(device), overrides)
    return evaluate_loaded(model, cfg, classes, subset, progress=progress, checkpoint=checkpoint), cfg


def evaluate_loaded(model: SeqAttNet, cfg: Config, classes: list[str], subset: str | None = None, *,
                    progress: bool = True, checkpoint: object = "") -> EvaluationReport:
    """A loaded checkpoint's model (its config and class list) on `subset` of its config's data (default:
    data.val_subset); refused when that data's class list is not the checkpoint's."""
    ground_truth, gt_classes = load_ground_truth(cfg)
    if gt_classes != classes:
        raise InputError.at(checkpoint, f"the checkpoint's class list differs from the dataset's "
                            f"({first_difference(classes, gt_classes)}); evaluate on the data it was trained "
                            "with (its config's data.annotations and data.classes)")
    return evaluate_model(model, cfg, ground_truth, classes, subset or cfg.data.val_subset,
                          next(model.parameters()).device, progress)


def first_difference(ours: list[str], theirs: list[str]) -> str:
    """Where two class lists part: `class 2: 'a' vs 'b'` or `4 vs 5 classes`."""
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return f"class {i}: {a!r} vs {b!r}"
    return f"{len(ours)} vs {len(theirs)} classes"
