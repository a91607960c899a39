import numpy as np
import pytest

from seqattnet.structures import canonical_video_id, segment_iou


def test_segment_iou_hand_cases():
    a = np.array([[0.0, 10.0], [5.0, 5.0]])
    b = np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]])
    iou = segment_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 5.0 / 15.0, 0.0])
    np.testing.assert_allclose(iou[1], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("raw, canonical", [("v_QOlSCBRmfWY", "QOlSCBRmfWY"), ("QOlSCBRmfWY", "QOlSCBRmfWY"),
                                            ("video_test_0000004", "video_test_0000004")])
def test_canonical_video_id(raw, canonical):
    assert canonical_video_id(raw) == canonical
