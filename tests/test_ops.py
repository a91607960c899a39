import numpy as np
import torch

from seqattnet.labels import iou_matrix
from seqattnet.ops import pair_iou, segment_iou
from seqattnet.testing.reference_eval import iou as slow_iou  # one pair at a time, in plain Python


def random_segments(rng: np.random.Generator, n: int) -> np.ndarray:
    starts = rng.uniform(0, 10, n)
    lengths = np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0, 5, n))  # some of zero length
    return np.stack([starts, starts + lengths], axis=1)


def test_segment_iou_hand_cases():
    a = np.array([[0.0, 10.0], [5.0, 5.0]])
    b = np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]])
    iou = segment_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [1.0, 5.0 / 15.0, 0.0])
    np.testing.assert_allclose(iou[1], [0.0, 0.0, 0.0])


def test_numpy_and_torch_iou_match_the_slow_reference():
    rng = np.random.default_rng(0)
    a, b = random_segments(rng, 40), random_segments(rng, 30)
    slow = np.array([[slow_iou(*x, *y) for y in b] for x in a])
    np.testing.assert_array_equal(segment_iou(a, b), slow)
    np.testing.assert_array_equal(pair_iou(a[:30], b), slow[np.arange(30), np.arange(30)])
    np.testing.assert_array_equal(iou_matrix(torch.from_numpy(a), torch.from_numpy(b)).numpy(), slow)


def test_pair_iou_broadcasts_and_keeps_leading_shapes():
    rng = np.random.default_rng(1)
    a, b = random_segments(rng, 6).reshape(2, 3, 2), random_segments(rng, 3)
    assert pair_iou(a, b).shape == (2, 3)
    assert iou_matrix(torch.from_numpy(a), torch.from_numpy(b)).shape == (2, 3, 3)
