"""Detection mAP on cases small enough to compute by hand."""

import numpy as np
import pytest

from seqattnet.errors import InputError
from seqattnet.evaluation import TIOUS, evaluate_detection, format_detection_table

HALF = [0.5]


def test_perfect_predictions_give_map_one(make_gt, P):
    gt = make_gt({"a": [(0, 10, "run"), (20, 40, "jump")], "b": [(5, 50, "run")]})
    results = {"a": [P("run", 0.9, 0, 10), P("jump", 0.8, 20, 40)], "b": [P("run", 0.7, 5, 50)]}
    m = evaluate_detection(gt, results)
    np.testing.assert_array_equal(m.ap, np.ones((2, 10)))
    assert m.classes == ["jump", "run"]
    assert m.average_mAP == 1.0
    np.testing.assert_allclose(m.tious, np.linspace(0.5, 0.95, 10))


def test_all_wrong_predictions_give_zero(make_gt, P):
    gt = make_gt({"a": [(0, 10, "run")], "b": [(50, 60, "jump")]})
    results = {
        "a": [P("run", 0.9, 30, 40), P("jump", 0.8, 0, 10)],  # wrong place; right place, wrong class
        "b": [P("jump", 0.5, 0, 2)],
    }
    m = evaluate_detection(gt, results, TIOUS["thumos"])
    np.testing.assert_array_equal(m.ap, np.zeros((2, 5)))
    assert m.average_mAP == 0.0


def test_precision_envelope_hand_computed(make_gt, P):
    # 3 instances; ranked TP, FP, TP, FP, TP: precisions 1, 1/2, 2/3, 2/4, 3/5.
    # Envelope at the true positives: 1, max(2/3, 2/4, 3/5) = 2/3, 3/5 -> AP = (1 + 2/3 + 3/5) / 3.
    gt = make_gt({"a": [(0, 10, "x"), (20, 30, "x"), (40, 50, "x")]})
    results = {"a": [P("x", 0.9, 0, 10), P("x", 0.8, 60, 70), P("x", 0.7, 20, 30), P("x", 0.6, 80, 90),
                     P("x", 0.5, 40, 50)]}
    m = evaluate_detection(gt, results, HALF)
    assert m.ap[0, 0] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_ties_keep_input_order(make_gt, P):
    # Equal scores: the official argsort orders them arbitrarily; here the one listed first ranks first.
    gt = make_gt({"a": [(0, 10, "x")]})
    fp, tp = P("x", 0.5, 50, 60), P("x", 0.5, 0, 10)
    assert evaluate_detection(gt, {"a": [fp, tp]}, HALF).ap[0, 0] == pytest.approx(0.5)  # FP, TP: precision 1/2
    assert evaluate_detection(gt, {"a": [tp, fp]}, HALF).ap[0, 0] == pytest.approx(1.0)
    # Across videos, input order is the order of the videos in the dict.
    gt2 = make_gt({"a": [(0, 10, "x")], "b": []})
    assert evaluate_detection(gt2, {"b": [fp], "a": [tp]}, HALF).ap[0, 0] == pytest.approx(0.5)
    assert evaluate_detection(gt2, {"a": [tp], "b": [fp]}, HALF).ap[0, 0] == pytest.approx(1.0)


def test_duplicate_predictions_count_once(make_gt, P):
    # The duplicate of the first detection finds its instance taken: FP. Ranked TP, FP, TP over 2 instances.
    gt = make_gt({"a": [(0, 10, "x"), (20, 30, "x")]})
    results = {"a": [P("x", 0.9, 0, 10), P("x", 0.8, 0, 10), P("x", 0.7, 20, 30)]}
    assert evaluate_detection(gt, results, HALF).ap[0, 0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_class_without_predictions_has_ap_zero(make_gt, P):
    gt = make_gt({"a": [(0, 10, "run"), (20, 30, "jump")]})
    m = evaluate_detection(gt, {"a": [P("run", 0.9, 0, 10)]}, HALF)
    np.testing.assert_array_equal(m.ap[:, 0], [0.0, 1.0])  # jump, run
    assert m.mAP[0] == pytest.approx(0.5)


def test_empty_prediction_lists(make_gt):
    gt = make_gt({"a": [(0, 10, "run")], "b": [(0, 5, "jump")]})
    for results in ({}, {"a": [], "b": []}):
        m = evaluate_detection(gt, results)
        np.testing.assert_array_equal(m.ap, np.zeros((2, 10)))
        assert m.average_mAP == 0.0


def test_predictions_outside_the_subset_are_false_positives(make_gt, P):
    gt = make_gt({"a": [(0, 10, "x")]})  # "t" is a training video: not in the evaluated ground truth
    results = {"t": [P("x", 0.9, 0, 10)], "a": [P("x", 0.5, 0, 10)]}
    assert evaluate_detection(gt, results, HALF).ap[0, 0] == pytest.approx(0.5)


def test_greedy_takes_the_highest_iou_instance(make_gt, P):
    # B is listed first, but p1 overlaps A more (9/11 vs 7/13 = 0.54): it takes A, leaving B for p2.
    # Taking the first eligible instance instead would leave p2 (which only fits B) a false positive.
    gt = make_gt({"a": [(4, 14, "x"), (0, 10, "x")]})
    results = {"a": [P("x", 0.9, 1, 11), P("x", 0.8, 5, 15)]}
    assert evaluate_detection(gt, results, HALF).ap[0, 0] == 1.0


def test_best_instance_taken_falls_back_to_the_next(make_gt, P):
    # p1 [0,8]: A [0,10] IoU 0.8, B [2,12] IoU 0.5 -> A. p2 [1,10]: A 0.9 (taken), B 8/11 = 0.727:
    # a true positive at tIoU 0.5, a false positive at 0.75.
    gt = make_gt({"a": [(0, 10, "x"), (2, 12, "x")]})
    m = evaluate_detection(gt, {"a": [P("x", 0.9, 0, 8), P("x", 0.8, 1, 10)]}, [0.5, 0.75])
    np.testing.assert_allclose(m.ap[0], [1.0, 0.5])


def test_iou_equal_to_threshold_matches(make_gt, P):
    gt = make_gt({"a": [(0, 10, "x")]})
    m = evaluate_detection(gt, {"a": [P("x", 1.0, 0, 5)]}, [0.5, 0.55])  # IoU exactly 0.5
    np.testing.assert_array_equal(m.ap[0], [1.0, 0.0])


def test_video_prefix_v_is_ignored(make_gt, P):
    gt = make_gt({"abc": [(0, 10, "x")]})
    assert evaluate_detection(gt, {"v_abc": [P("x", 1.0, 0, 10)]}, HALF).ap[0, 0] == 1.0


def test_classes_are_those_of_the_evaluated_ground_truth(make_gt, P):
    gt = make_gt({"a": [(0, 10, "x")]}, classes=["x", "only_in_training"])
    m = evaluate_detection(gt, {"a": [P("x", 1.0, 0, 10)]}, HALF)
    assert m.classes == ["x"] and m.mAP[0] == 1.0


def test_unknown_label_is_an_error_unless_ignored(make_gt, P):
    gt = make_gt({"a": [(0, 10, "x")]})
    results = {"a": [P("x", 0.5, 0, 10), P("y", 0.9, 0, 10)]}
    with pytest.raises(InputError) as err:
        evaluate_detection(gt, results, HALF, source="pred.json")
    message = str(err.value)
    assert message.startswith("pred.json, video 'a', field '[1].label': 'y' is not a class")
    assert "\n" not in message
    # Ignored: dropped, not counted as a false positive ranked above the true positive.
    assert evaluate_detection(gt, results, HALF, ignore_unknown_labels=True).ap[0, 0] == 1.0


def test_missing_label_and_bad_values_are_reported(make_gt):
    gt = make_gt({"a": [(0, 10, "x")]})
    cases = [
        ({"a": [{"score": 0.5, "segment": [0, 1]}]}, "field '[0].label': missing"),
        ({"a": [{"label": "x", "score": float("nan"), "segment": [0, 1]}]}, "field '[0].score': expected a finite"),
        ({"a": [{"label": "x", "score": -1.0, "segment": [0, 1]}]}, "field '[0].score': negative score"),
        ({"a": [{"label": "x", "score": 1.0, "segment": [5, 1]}]}, "field '[0].segment': end 1.0 < start 5.0"),
        ({"a": [{"label": "x", "score": 1.0}]}, "field '[0].segment': missing"),
    ]
    for results, expected in cases:
        with pytest.raises(InputError, match=None) as err:
            evaluate_detection(gt, results, source="p.json")
        assert expected in str(err.value), str(err.value)
        assert str(err.value).startswith("p.json, video 'a'")


def test_ground_truth_without_instances_is_an_error(make_gt):
    with pytest.raises(InputError, match="no ground-truth instance"):
        evaluate_detection(make_gt({"a": []}), {})


def test_format_detection_table(make_gt, P):
    gt = make_gt({"a": [(0, 10, "x")]})
    table = format_detection_table(evaluate_detection(gt, {"a": [P("x", 1.0, 0, 6)]}, [0.5, 0.7]))
    assert table.splitlines() == ["    tIoU   mAP (%)", "    0.50    100.00", "    0.70      0.00",
                                  " Average     50.00"]
