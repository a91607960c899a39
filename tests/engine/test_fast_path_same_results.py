"""The fast boundary-matching path changes no result: the same detections and mAP as BMN's dense reference."""

import numpy as np
import torch

from seqattnet.config import InferenceConfig, ModelConfig
from seqattnet.engine.inference import detect
from seqattnet.structures import to_results
from seqattnet.evaluation import evaluate_detection
from seqattnet.model import SeqAttNet
from seqattnet.structures import AnnotationSet, VideoAnnotation


def test_fast_and_reference_paths_give_the_same_detections_and_map():
    torch.manual_seed(0)
    model = SeqAttNet(ModelConfig(24, 32, 32, 5, base_channels=32, bm_channels=16, map_channels=16, num_samples=8)).double().eval()
    features = torch.randn(3, 24, 32, dtype=torch.float64)
    ids = ["a", "b", "c"]
    durations = torch.tensor([60.0, 90.0, 120.0], dtype=torch.float64)
    runs = {}
    for impl in ("sparse", "dense", "reference"):
        model.proposals.boundary_matching.impl = impl
        runs[impl] = detect(model, features, ids, durations, InferenceConfig())
    classes = [f"c{i}" for i in range(5)]
    truth = AnnotationSet({v: VideoAnnotation(v, "validation", float(d), np.array([[0.2 * d, 0.6 * d]]), [classes[i]])
                           for i, (v, d) in enumerate(zip(ids, durations.tolist()))}, classes)
    maps = {}
    for impl, detections in runs.items():
        for fast, ref in zip(detections, runs["reference"]):
            assert len(fast.scores) == len(ref.scores) > 0
            np.testing.assert_allclose(fast.segments_s, ref.segments_s, rtol=0, atol=1e-6)
            np.testing.assert_allclose(fast.scores, ref.scores, rtol=0, atol=1e-6)
            np.testing.assert_array_equal(fast.labels, ref.labels)
        maps[impl] = evaluate_detection(truth, to_results(detections, classes), ignore_unknown_labels=True).mAP
    np.testing.assert_allclose(maps["sparse"], maps["reference"], atol=1e-6)
    np.testing.assert_allclose(maps["dense"], maps["reference"], atol=1e-6)
