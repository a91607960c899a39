"""The evaluation stages alone: an evaluator fed hand-made detections (no model, no data files),
window merging, class-score fusion and scoring."""

import numpy as np
import pytest

from seqattnet.config import InferenceConfig
from seqattnet.data.windows import Window
from seqattnet.engine.evaluate import DetectionEvaluator, score_results
from seqattnet.structures import AnnotationSet, Detections, VideoAnnotation, to_results

CLASSES = ["jump", "run"]
TIOUS = np.array([0.5, 0.75])


def truth(labelled: bool = True) -> AnnotationSet:
    videos = {"a": VideoAnnotation("a", "validation", 100.0, [[10, 30]] if labelled else np.zeros((0, 2)),
                                   ["jump"] if labelled else []),
              "b": VideoAnnotation("b", "validation", 50.0, [[5, 15]] if labelled else np.zeros((0, 2)),
                                   ["run"] if labelled else [])}
    return AnnotationSet(videos, CLASSES)


def detections(video: str, segments, scores, labels, duration: float) -> Detections:
    return Detections(video, np.array(segments, dtype=np.float64), np.array(scores, dtype=np.float32),
                      np.array(labels, dtype=np.int64), duration)


EXACT = [detections("a", [[10, 30], [60, 70]], [0.9, 0.2], [0, 1], 100.0),
         detections("b", [[5, 15]], [0.8], [1], 50.0)]


def test_exact_detections_score_an_average_map_of_one():
    evaluator = DetectionEvaluator(truth(), CLASSES, TIOUS, InferenceConfig())
    evaluator.process(EXACT[:1])  # one batch at a time
    evaluator.process(EXACT[1:])
    report = evaluator.evaluate()
    assert report.detection.average_mAP == 1.0 and report.unfused is None
    assert report.results == to_results(EXACT, CLASSES)
    assert set(report.proposals.recall_at) and report.proposals.auc > 0


def test_reset_forgets_what_was_processed():
    evaluator = DetectionEvaluator(truth(), CLASSES, TIOUS, InferenceConfig())
    evaluator.process([detections("a", [[60, 70]], [0.9], [0], 100.0)])
    evaluator.reset()
    evaluator.process(EXACT)
    assert evaluator.evaluate().detection.average_mAP == 1.0


def test_windows_are_merged_into_video_seconds_before_scoring():
    windows = {"a@0": Window("a@0", "a", 0, 0.0, 50.0, 100.0), "a@8": Window("a@8", "a", 8, 40.0, 50.0, 100.0)}
    parts = [detections("a@0", [[10, 30]], [0.9], [0], 50.0),
             detections("a@8", [[-30, -10], [20, 30]], [0.3, 0.5], [0, 1], 50.0)]  # (10, 30) again; (60, 70)
    evaluator = DetectionEvaluator(truth().subset("validation"), CLASSES, TIOUS, InferenceConfig(), windows=windows)
    evaluator.process(parts)
    report = evaluator.evaluate()
    assert list(report.results) == ["a"]
    segments = [entry["segment"] for entry in report.results["a"]]
    assert segments[0] == [10.0, 30.0] and [60.0, 70.0] in segments
    assert all(0.0 <= s <= e <= 100.0 for s, e in segments)


@pytest.mark.parametrize("mode", ["multiply", "replace"])
def test_class_scores_fuse_and_the_unfused_map_is_kept(mode):
    scores = {"a": np.array([0.1, 0.9]), "b": np.array([0.5, 0.5])}
    evaluator = DetectionEvaluator(truth(), CLASSES, TIOUS, InferenceConfig(class_score_fusion=mode),
                                   class_scores=scores)
    evaluator.process(EXACT)
    report = evaluator.evaluate()
    assert report.unfused is not None and report.unfused.average_mAP == 1.0
    assert report.results != to_results(EXACT, CLASSES)
    if mode == "multiply":
        got = sorted(entry["score"] for entry in report.results["a"])  # best first after fusion: run, then jump
        assert got == pytest.approx([0.9 * 0.1, 0.2 * 0.9]) and report.results["a"][0]["label"] == "run"


def test_a_subset_without_ground_truth_gives_results_and_no_metrics():
    results = to_results(EXACT, CLASSES)
    report = score_results(truth(labelled=False), results, results, TIOUS)
    assert report.detection is None and report.proposals is None and report.results is results
    assert report.summary() == {"videos": 2, "average_mAP": None}
