"""AR@AN and AUC on hand-computed cases, and the official (float) and exact (integer) proposal counts."""

import numpy as np
import pytest
from seqattnet.testing import reference_eval as ref

from seqattnet.evaluation import evaluate_proposals, format_proposal_table
from seqattnet.evaluation.proposal import exact_proposal_counts, proposal_counts


def props(*segments):
    """Proposals ranked in the order given (scores 1, 0.99, ...), without labels."""
    return [{"score": 1.0 - 0.01 * i, "segment": list(s)} for i, s in enumerate(segments)]


def far(n, start=80.0):
    return [(start + 0.1 * i, start + 0.1 * i + 0.05) for i in range(n)]


def test_single_video_hand_computed_auc(make_gt):
    # 5 proposals on average at most; the 3rd one is the instance. At point j the video keeps
    # floor(5 j / 100) proposals, so the instance is recalled from j = 60 (AN = 3) on.
    gt = make_gt({"a": [(0, 10, "x")]})
    m = evaluate_proposals(gt, {"a": props(*far(2), (0, 10), *far(2, 90))}, max_avg_proposals=5)
    np.testing.assert_allclose(m.an, np.arange(1, 101) / 20)
    np.testing.assert_array_equal(m.ar, (np.arange(1, 101) >= 60).astype(float))
    # Area: half a step of 0.05 rising to 1, then 40 steps of 0.05 at 1 -> 2.025, over AN_max = 5.
    assert m.auc == pytest.approx(2.025 / 5)
    assert m.recall_at == {1: 0.0, 5: 1.0}


def test_standard_recall_at(make_gt):
    # a: its instance is the top proposal; b: its instance is the 10th proposal; 100 proposals each.
    gt = make_gt({"a": [(0, 10, "x")], "b": [(50, 60, "y")]})
    results = {
        "a": props((0, 10), *far(99)),
        "b": props(*far(9), (50, 60), *far(90, 70)),
    }
    m = evaluate_proposals(gt, results)
    assert m.recall_at == {1: 0.5, 5: 0.5, 10: 1.0, 100: 1.0}
    # AR 0.5 on AN 1..9, 1 from AN 10: 8 * 0.5 + 0.75 + 90 = 94.75 over AN 1..100, divided by 100.
    assert m.auc == pytest.approx(0.9475)
    np.testing.assert_allclose(m.an, np.arange(1, 101))


def test_recall_is_averaged_over_thresholds(make_gt):
    # IoU 0.72 reaches the thresholds 0.50 ... 0.70 (5 of 10): average recall 0.5 everywhere.
    gt = make_gt({"a": [(0, 10, "x")]})
    m = evaluate_proposals(gt, {"a": props((0, 7.2))}, max_avg_proposals=1)
    np.testing.assert_allclose(m.recall[:, -1], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    assert m.recall_at == {1: 0.5}


def test_proposals_on_other_videos_shrink_the_budget_as_the_official_code(make_gt):
    # Video a: instances I1 [0, 10] and I2 [20, 30]; its 4 proposals rank far, I1, I2, far. The file also
    # holds 4 proposals of a training video t. At most 4 per video on average:
    gt = make_gt({"a": [(0, 10, "x"), (20, 30, "x")]})
    results = {"a": props(*far(1), (0, 10), (20, 30), *far(1, 90)), "t": props(*far(4))}
    official = evaluate_proposals(gt, results, max_avg_proposals=4)
    # Official: ratio 4 * 1 video / 8 proposals = 0.5 < 1, so a keeps int(4 * 0.5) = 2 (far, I1); point j
    # keeps int(2 * j / 100 * 4 / 2) of them: both from j = 50 on. I1 is recalled from j = 50, I2 never:
    # AR 0.5 from j = 50. AN = j / 25; area 0.5 * 0.04 / 2 + 50 * 0.04 * 0.5 = 1.01, over AN_max 4.
    np.testing.assert_array_equal(official.ar, np.where(np.arange(1, 101) >= 50, 0.5, 0.0))
    np.testing.assert_allclose(official.an, np.arange(1, 101) / 25)
    assert official.auc == pytest.approx(1.01 / 4, abs=1e-12) and official.recall_at == {1: 0.0}
    # Budget from a's proposals alone: ratio 1, all 4 kept; point j keeps int(4 j / 100): I1 (2nd) from
    # j = 50, I2 (3rd) from j = 75. Area 0.01 + 24 * 0.02 + 0.03 + 25 * 0.04 = 1.52, over 4.
    subset = evaluate_proposals(gt, results, max_avg_proposals=4, subset_budget=True)
    np.testing.assert_array_equal(subset.ar, [0.0] * 49 + [0.5] * 25 + [1.0] * 26)
    assert subset.auc == pytest.approx(1.52 / 4, abs=1e-12)
    # Without t's proposals both rules agree with the subset budget.
    alone = evaluate_proposals(gt, {"a": results["a"]}, max_avg_proposals=4)
    np.testing.assert_array_equal(alone.ar, subset.ar)
    for metrics, subset_budget in ((official, False), (subset, True)):  # the slow reference agrees on both
        _, average, an, auc = ref.proposal_curve(*ref.flatten(gt, results), 4, subset_budget=subset_budget)
        np.testing.assert_array_equal(metrics.ar, average)
        np.testing.assert_allclose(metrics.an, an, rtol=0, atol=1e-15)
        assert metrics.auc == pytest.approx(auc, abs=1e-15)
    exact = evaluate_proposals(gt, results, max_avg_proposals=4, exact_counts=True)
    np.testing.assert_array_equal(exact.ar, official.ar)  # 4 * 1 // 8 * ... : the same counts in integers


def test_file_total_sets_the_truncation_ratio():
    # 100 proposals on each of 2 evaluated videos, 400 in the file: ratio 100 * 2 / 400 = 0.5 keeps 50 each.
    np.testing.assert_array_equal(proposal_counts(np.array([100, 100]), 100, total=400)[:, -1], [50, 50])
    np.testing.assert_array_equal(exact_proposal_counts(np.array([100, 100]), 100, total=400)[:, -1], [50, 50])
    np.testing.assert_array_equal(proposal_counts(np.array([100, 100]), 100)[:, -1], [100, 100])


def test_videos_without_proposals_count(make_gt):
    gt = make_gt({"a": [(0, 10, "x")], "b": [(0, 10, "x"), (20, 30, "x")]})
    m = evaluate_proposals(gt, {"a": props((0, 10))}, max_avg_proposals=1)
    assert m.recall_at == {1: pytest.approx(1 / 3)}
    assert evaluate_proposals(gt, {}).auc == 0.0


def test_counts_floor_floats_as_the_official_code():
    counts = proposal_counts(np.array([100, 100, 100]), 100)
    # int(100 * (j / 100.0)) loses j = 29, 57 and 58 (100 * 0.29 = 28.999999999999996)
    expected = np.arange(1, 101)
    expected[[28, 56, 57]] -= 1
    np.testing.assert_array_equal(counts[0], expected)
    np.testing.assert_array_equal(exact_proposal_counts(np.array([100, 100, 100]), 100)[0], np.arange(1, 101))


def test_official_and_exact_auc_on_a_hand_computed_case(make_gt):
    # 100 proposals, the instance found by the 29th only. Exact counts: AR 0 at AN 1..28, 1 from AN 29 on,
    # AUC (0.5 + 71) / 100. The official code keeps 28 proposals at AN 29, so AR is 1 only from AN 30.
    gt = make_gt({"a": [(0, 10, "x")]})
    results = {"a": props(*far(28), (0, 10), *far(71, 50.0))}
    official = evaluate_proposals(gt, results)
    exact = evaluate_proposals(gt, results, exact_counts=True)
    assert exact.auc == pytest.approx(0.715, abs=1e-12) and official.auc == pytest.approx(0.705, abs=1e-12)
    assert official.ar[28] == 0.0 and exact.ar[28] == 1.0
    for metrics, float_counts in ((official, True), (exact, False)):  # the slow reference agrees on both
        _, average, an, auc = ref.proposal_curve(*ref.flatten(gt, results), float_counts=float_counts)
        np.testing.assert_array_equal(metrics.ar, average)
        np.testing.assert_array_equal(metrics.an, an)
        assert metrics.auc == auc


def test_counts_truncate_to_the_average():
    # 300 + 100 proposals over 2 videos, 100 on average: the official ratio 0.5 keeps 150 and 50.
    counts = proposal_counts(np.array([300, 100]), 100)
    np.testing.assert_array_equal(counts[:, -1], [150, 50])
    np.testing.assert_array_equal(counts[:, 0], [1, 0])  # floor(150 / 100), floor(50 / 100)
    np.testing.assert_array_equal(proposal_counts(np.array([0, 0]), 100), np.zeros((2, 100)))


def test_format_proposal_table(make_gt):
    gt = make_gt({"a": [(0, 10, "x")]})
    text = format_proposal_table(evaluate_proposals(gt, {"a": props((0, 10))}, max_avg_proposals=1))
    # One proposal per video: below AN = 1 a video keeps floor(j / 100) = 0 of it, so the curve is 0
    # until its last point and the area is one half-step: 0.5 %.
    assert text.splitlines() == ["      AN    AR (%)", "    AR@1    100.00", "     AUC      0.50"]
