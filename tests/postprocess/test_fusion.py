"""Fusion of detections with video-level class scores (CUHK-style JSON)."""

import json

import numpy as np
import pytest

from seqattnet.errors import InputError
from seqattnet.evaluation import evaluate_detection
from seqattnet.postprocess.fusion import fuse_class_scores, read_class_scores
from seqattnet.structures import AnnotationSet, VideoAnnotation

CLASSES = ["jump", "run", "swim"]


def test_read_both_layouts(tmp_path):
    cuhk = tmp_path / "cuhk.json"
    cuhk.write_text(json.dumps({"results": {"v_a": [0.1, 0.2, 0.7]}, "class": ["swim", "run", "jump"]}))
    np.testing.assert_allclose(read_class_scores(cuhk, CLASSES)["a"], [0.7, 0.2, 0.1])
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"a": {"run": 0.9, "jump": 0.1}}))
    np.testing.assert_allclose(read_class_scores(named, CLASSES)["a"], [0.1, 0.9, 0.0])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"a": [0.1, 0.2]}}))
    with pytest.raises(InputError, match="video 'a'.*expected 3 class scores"):
        read_class_scores(bad, CLASSES)


def test_multiply_and_replace():
    results = {"a": [{"label": "jump", "score": 0.8, "segment": [1.0, 2.0]},
                     {"label": "run", "score": 0.5, "segment": [3.0, 4.0]}]}
    scores = {"a": np.array([0.1, 0.9, 0.0])}
    multiplied = fuse_class_scores(results, scores, CLASSES, "multiply")["a"]
    assert [(p["label"], p["score"]) for p in multiplied] == [("run", pytest.approx(0.45)), ("jump", pytest.approx(0.08))]
    replaced = fuse_class_scores(results, scores, CLASSES, "replace", top_k=2)["a"]
    assert [(p["label"], p["segment"]) for p in replaced] == [("run", [1.0, 2.0]), ("run", [3.0, 4.0]),
                                                             ("jump", [1.0, 2.0]), ("jump", [3.0, 4.0])]
    with pytest.raises(InputError, match="no class scores"):
        fuse_class_scores({"b": []}, scores, CLASSES)


def test_fusion_raises_map_when_the_video_classifier_is_right():
    """Two videos; the detector finds the segments but confuses the classes, the video classifier does not."""
    truth = AnnotationSet({"a": VideoAnnotation("a", "validation", 30.0, [[2.0, 8.0]], ["jump"]),
                           "b": VideoAnnotation("b", "validation", 30.0, [[10.0, 20.0]], ["run"])}, CLASSES)
    results = {"a": [{"label": "run", "score": 0.9, "segment": [2.0, 8.0]},
                     {"label": "jump", "score": 0.3, "segment": [2.0, 8.0]}],
               "b": [{"label": "jump", "score": 0.9, "segment": [10.0, 20.0]},
                     {"label": "run", "score": 0.2, "segment": [10.0, 20.0]}]}
    scores = {"a": np.array([0.95, 0.05, 0.0]), "b": np.array([0.05, 0.95, 0.0])}
    without = evaluate_detection(truth, results).average_mAP
    fused = evaluate_detection(truth, fuse_class_scores(results, scores, CLASSES)).average_mAP
    # without: each class's true positive ranks second, behind the other video's confusion: AP 0.5
    assert without == pytest.approx(0.5) and fused == pytest.approx(1.0)
