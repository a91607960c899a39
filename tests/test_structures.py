import numpy as np
import pytest

from seqattnet.structures import Detections, canonical_video_id, detections_from_results, to_results


@pytest.mark.parametrize("raw, canonical", [("v_QOlSCBRmfWY", "QOlSCBRmfWY"), ("QOlSCBRmfWY", "QOlSCBRmfWY"),
                                            ("video_test_0000004", "video_test_0000004")])
def test_canonical_video_id(raw, canonical):
    assert canonical_video_id(raw) == canonical


def test_detections_round_trip_through_result_entries():
    classes = ["jump", "run", "swim"]
    given = [Detections("a", np.array([[1.0, 2.5], [0.0, 4.0]]), np.array([0.9, 0.25]), np.array([2, 0])),
             Detections("b", np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64))]
    results = to_results(given, classes)
    assert results["a"][0] == {"label": "swim", "score": 0.9, "segment": [1.0, 2.5]} and results["b"] == []
    back = detections_from_results(results, classes)
    for d, b in zip(given, back):
        assert b.video_id == d.video_id
        np.testing.assert_array_equal(b.segments_s, d.segments_s)
        np.testing.assert_array_equal(b.scores, d.scores)
        np.testing.assert_array_equal(b.labels, d.labels)
