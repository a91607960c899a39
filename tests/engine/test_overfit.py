"""The model can fit one small batch: proposals and classes together reach mAP >= 0.9, and the shipped
error head's refinement raises the mAP of a batch whose boundaries lie between grid lines.

The first check leaves refinement out: with the paper's 3D input (the proposal's own columns only) the
error head cannot tell which way a proposal lying inside an action should grow (docs/model.md).
"""

import numpy as np
import pytest
import torch

from seqattnet.config import Config, apply_override
from seqattnet.data.dataset import Batch
from seqattnet.engine.build import build_model, build_optimizer
from seqattnet.engine.inference import detect
from seqattnet.structures import to_results
from seqattnet.engine.train import training_loss
from seqattnet.evaluation import evaluate_detection
from seqattnet.structures import AnnotationSet, VideoAnnotation


def tiny_batch(T: int = 16, F: int = 8, num_videos: int = 4) -> tuple[Batch, AnnotationSet]:
    g = torch.Generator().manual_seed(0)
    segments = [torch.tensor([[0.25, 0.75]]), torch.tensor([[0.0, 0.5]]), torch.tensor([[0.125, 0.375], [0.625, 0.9375]]),
                torch.tensor([[0.5, 1.0]])][:num_videos]
    labels = [torch.tensor([i % 3] * len(s)) for i, s in enumerate(segments)]
    features = 0.1 * torch.randn(num_videos, F, T, generator=g)
    for b, (seg, lab) in enumerate(zip(segments, labels)):
        for (u0, u1), c in zip(seg.tolist(), lab.tolist()):
            features[b, c, round(u0 * T):round(u1 * T)] += 1.0
    ids = [f"video{i}" for i in range(num_videos)]
    batch = Batch(ids, torch.full((num_videos,), 10.0), features, segments, labels)
    classes = ["a", "b", "c"]
    videos = {vid: VideoAnnotation(vid, "training", 10.0, (seg * 10).numpy().astype(np.float64),
                                   [classes[c] for c in lab.tolist()]) for vid, seg, lab in zip(ids, segments, labels)}
    return batch, AnnotationSet(videos, classes)


def tiny_config(*overrides: str) -> Config:
    """A small network on T = 16, F = 8, 3 classes, trained fast (lr 3e-3, no weight decay), with the paper's
    error head unless `overrides` change it (the defaults are the shipped recipe's)."""
    cfg = Config()
    for item in ["model.error_input=proposal", "labels.error_rows=cells", "loss.lambda_er=1", "model.temporal_scale=16", "model.max_duration=16", "model.feature_dim=8", "model.num_classes=3",
                 "model.base_channels=32", "model.bm_channels=32", "model.map_channels=16", "model.num_samples=8",
                 "train.lr=0.003", "loss.lambda_l2=0", *overrides]:
        apply_override(cfg, item)
    return cfg


def fit(cfg: Config, batch: Batch, steps: int):
    """The model after `steps` training steps on one batch, in eval mode, and the last loss terms."""
    torch.manual_seed(0)
    model = build_model(cfg)
    optimizer, _ = build_optimizer(cfg, model)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        terms = training_loss(model, batch, cfg, generator)
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
    return model.eval(), terms


def scored(model, cfg: Config, batch: Batch, truth: AnnotationSet, refine: bool):
    cfg.inference.refine = refine
    detections = detect(model, batch.features, batch.video_ids, batch.durations_s, cfg.inference)
    return evaluate_detection(truth, to_results(detections, truth.classes))


def test_overfit_one_batch():
    cfg = tiny_config()
    batch, truth = tiny_batch()
    model, terms = fit(cfg, batch, 220)
    metrics = scored(model, cfg, batch, truth, refine=False)
    assert metrics.average_mAP >= 0.9, (metrics.mAP, terms)


def off_grid_batch(T: int = 16, F: int = 8) -> tuple[Batch, AnnotationSet]:
    """Boundaries between grid lines; each snippet's first channels hold the share of it inside the action."""
    g = torch.Generator().manual_seed(1)
    segments = [torch.tensor([[0.27, 0.77]]), torch.tensor([[0.03, 0.47]]), torch.tensor([[0.16, 0.41], [0.59, 0.91]]),
                torch.tensor([[0.52, 0.97]])]
    labels = [torch.tensor([i % 3] * len(s)) for i, s in enumerate(segments)]
    features = 0.05 * torch.randn(len(segments), F, T, generator=g)
    cells = torch.arange(T, dtype=torch.float64)
    for b, (seg, lab) in enumerate(zip(segments, labels)):
        for (u0, u1), c in zip(seg.tolist(), lab.tolist()):
            share = ((torch.clamp(cells + 1, max=u1 * T) - torch.clamp(cells, min=u0 * T)).clamp(min=0)).float()
            features[b, 3, :] += share  # actionness, shared by the classes
            features[b, c, :] += share
    ids = [f"video{i}" for i in range(len(segments))]
    batch = Batch(ids, torch.full((len(segments),), 10.0), features, segments, labels)
    classes = ["a", "b", "c"]
    videos = {vid: VideoAnnotation(vid, "training", 10.0, (seg * 10).double().numpy(),
                                   [classes[c] for c in lab.tolist()]) for vid, seg, lab in zip(ids, segments, labels)}
    return batch, AnnotationSet(videos, classes)


def test_boundary_refinement_raises_map_on_the_training_batch():
    """The shipped error head (windows around each boundary, jittered training rows) refines off-grid boundaries
    past what the T grid can express: mAP with its offsets beats the same weights without them."""
    cfg = tiny_config("model.error_input=boundaries", "model.error_context=0.25", "model.error_points=16",
                      "labels.error_rows=jitter")
    batch, truth = off_grid_batch()
    model, _ = fit(cfg, batch, 300)
    scores = {refine: scored(model, cfg, batch, truth, refine) for refine in (False, True)}
    assert scores[False].mAP[-1] == 0.0  # no grid cell reaches tIoU 0.95 with [0.27, 0.77] and its kind
    assert scores[True].average_mAP >= scores[False].average_mAP + 0.05, (scores[True].mAP, scores[False].mAP)


@pytest.mark.parametrize("error_input", ["proposal", "boundaries"])
def test_a_batch_of_videos_without_actions_trains(error_input):
    """Videos without a segment (a dataset's background videos) may fill a whole batch: no proposal
    reaches the heads, whose terms are 0, and the maps still learn that nothing happens there."""
    batch, _ = tiny_batch()
    empty = Batch(batch.video_ids, batch.durations_s, batch.features, [torch.zeros(0, 2)] * 4,
                  [torch.zeros(0, dtype=torch.int64)] * 4)
    _, terms = fit(tiny_config(f"model.error_input={error_input}"), empty, steps=2)
    assert torch.isfinite(terms.total) and terms.total > 0
    assert terms.classification == 0 and terms.error == 0 and terms.temporal > 0
