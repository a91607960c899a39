"""Dense, multi-label output: a segment annotated with two labels, and videos with more than 100 instances."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from seqattnet.config import InferenceConfig, load_config
from seqattnet.data.windows import Window, window_geometry
from seqattnet.engine.inference import candidate_detections
from seqattnet.engine.windowed import merge_windows
from seqattnet.evaluation import evaluate_detection
from seqattnet.evaluation.protocols import resolve_tious
from seqattnet.postprocess.decode import Candidates, score_candidates
from seqattnet.structures import AnnotationSet, Detections, VideoAnnotation, to_results

CLASSES = ["CliffDiving", "Diving", "Other"]
THUMOS = load_config("thumos14").inference


def duplicate_pair_candidates():
    """Two candidates of one video (T = 10, 10 s): [2, 5) s, which the class head splits between two
    classes (0.5 / 0.45), and [7, 9) s, clearly class 2. Returns (Candidates, class_log_probs)."""
    proposals = torch.tensor([[0, 2, 5], [0, 7, 9]])
    probs = torch.tensor([[0.5, 0.45, 0.05], [0.05, 0.05, 0.9]])
    return Candidates(proposals, torch.tensor([0.9, 0.8])), probs.log()


def truth_twice_annotated():
    video = VideoAnnotation("v", "test", 10.0, np.array([[2.0, 5.0], [2.0, 5.0], [7.0, 9.0]]),
                            ["CliffDiving", "Diving", "Other"])
    return AnnotationSet({"v": video}, CLASSES)


def average_precision(cfg: InferenceConfig) -> np.ndarray:
    candidates, log_probs = duplicate_pair_candidates()
    detections = candidate_detections(candidates, None, log_probs, 10, ["v"], torch.tensor([10.0]), cfg)
    metrics = evaluate_detection(truth_twice_annotated(), to_results(detections, CLASSES), resolve_tious("thumos"))
    return metrics.ap.mean(axis=1)  # per class, over the tIoUs


def test_a_segment_with_two_labels_is_found_twice():
    # one label per candidate (the paper's, the default): Diving is never predicted, its AP is 0
    np.testing.assert_allclose(average_precision(InferenceConfig()), [1.0, 0.0, 1.0])
    # the thumos14 config: a second label where the class head is confident in it, per-class Soft-NMS
    np.testing.assert_allclose(average_precision(THUMOS), [1.0, 1.0, 1.0])
    candidates, log_probs = duplicate_pair_candidates()
    det, = candidate_detections(candidates, None, log_probs, 10, ["v"], torch.tensor([10.0]), THUMOS)
    # each label scored S = P x Cscore_c, neither decayed by the other: they are of different classes
    np.testing.assert_allclose(det.scores, [0.8 * 0.9, 0.9 * 0.5, 0.9 * 0.45], rtol=1e-6)
    assert det.labels.tolist() == [2, 0, 1]
    # class-agnostic Soft-NMS keeps the second label, but decayed by exp(-1 / sigma) under the other
    agnostic, = candidate_detections(candidates, None, log_probs, 10, ["v"], torch.tensor([10.0]),
                                     replace(THUMOS, soft_nms_classes="agnostic"))
    assert agnostic.scores[2] == pytest.approx(0.9 * 0.45 * np.exp(-1 / THUMOS.soft_nms_sigma), rel=1e-5)


def test_class_min_score_keeps_only_confident_second_labels():
    candidates, log_probs = duplicate_pair_candidates()
    scored = score_candidates(candidates, None, log_probs, 10, top_k_classes=2, class_min_score=0.25)
    # candidate 0: 0.45 >= 0.25 x 0.5, kept; candidate 1: 0.05 < 0.25 x 0.9, dropped
    assert scored.labels.tolist() == [0, 1, 2] and scored.video_index.tolist() == [0, 0, 0]
    np.testing.assert_allclose(scored.scores, [0.45, 0.405, 0.72], rtol=1e-6)
    every = score_candidates(candidates, None, log_probs, 10, top_k_classes=2, class_min_score=0.0)
    assert every.labels.tolist() == [0, 1, 2, 0]  # 0 keeps all k (candidate 1's tie of 0.05 goes to class 0)


def window(start, T=128, duration=300.0):
    offset, span = window_geometry(start, T, 4, 16, 30.0)
    return Window(f"dense@{start}", "dense", start, offset, span, duration)


def test_a_dense_video_returns_all_its_instances():
    """150 separate 1 s actions over a 300 s video, each detected by the window it is centred in."""
    windows = [window(s) for s in range(0, 2250, 64)]
    actions = np.stack([np.arange(150) * 2.0 + 0.5, np.arange(150) * 2.0 + 1.5], axis=1)  # video seconds
    detections = []
    for w in windows:
        centre = actions.mean(axis=1)
        share = (centre >= w.offset_s + w.span_s / 4) & (centre < w.offset_s + 3 * w.span_s / 4)
        if w.start_idx == 0:
            share |= centre < w.offset_s + w.span_s / 4
        detections.append(Detections(w.item_id, actions[share] - w.offset_s, np.full(share.sum(), 0.8),
                                     np.zeros(share.sum(), np.int64)))
    by_id = {w.item_id: w for w in windows}
    assert sum(len(d.scores) for d in detections) == 150
    dense, = merge_windows(detections, by_id, THUMOS)
    assert THUMOS.max_detections == 200 and len(dense.scores) == 150  # every instance returned ...
    np.testing.assert_allclose(np.sort(dense.segments_s, axis=0), actions, atol=1e-9)
    capped, = merge_windows(detections, by_id, InferenceConfig(window_suppression="video"))
    assert len(capped.scores) == 100  # ... where ActivityNet's budget of 100 a video would drop 50;
    local, = merge_windows(detections, by_id, InferenceConfig())
    assert len(local.scores) == 150  # suppressed locally, the budget is 100 a window
