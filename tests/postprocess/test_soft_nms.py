"""Soft-NMS against a slow per-candidate loop (BMN's), and hand-computed cases."""

import math

import pytest
import torch

from seqattnet.postprocess import batched_soft_nms, soft_nms
from seqattnet.testing.reference_soft_nms import soft_nms_loop

OPTIONS = [
    dict(),  # Gaussian, sigma 0.4, every overlap decays
    dict(adaptive=(0.5, 0.9)),  # BMN's configuration
    dict(sigma=0.1, iou_threshold=0.3),
    dict(method="linear", iou_threshold=0.3),
    dict(method="linear", adaptive=(0.2, 0.6), top_k=7),
    dict(method="hard", iou_threshold=0.5),
    dict(method="hard", iou_threshold=0.0, top_k=3),
    dict(class_agnostic=False),
    dict(method="hard", iou_threshold=0.4, class_agnostic=False, top_k=10),
    dict(adaptive=(0.5, 0.9), class_agnostic=False, top_k=200),  # the thumos14 config (per-class, 200 kept)
]


def random_candidates(n: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    ends = torch.rand(n, 2, generator=g, dtype=dtype).sort(dim=1).values
    if n > 4:
        ends[1] = ends[0]  # an exact duplicate segment (IoU 1: linear decay to exactly 0)
    scores = torch.rand(n, generator=g, dtype=dtype)
    labels = torch.randint(0, 3, (n,), generator=g)
    return ends, scores, labels


def reference(segments, scores, labels, **options):
    return soft_nms_loop(segments[:, 0].tolist(), segments[:, 1].tolist(), scores.tolist(), labels.tolist(), **options)


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_matches_the_slow_loop(options):
    for seed, n in enumerate([1, 2, 5, 40, 150]):
        segments, scores, labels = random_candidates(n, seed)
        result = soft_nms(segments, scores, labels, **options)
        expected = reference(segments, scores, labels, **options)
        assert result.indices.tolist() == [i for i, _ in expected]
        torch.testing.assert_close(result.scores, torch.tensor([s for _, s in expected], dtype=torch.float64),
                                   rtol=1e-12, atol=0)
        torch.testing.assert_close(result.segments, segments[result.indices])
        assert result.labels.tolist() == labels[result.indices].tolist()


@pytest.mark.parametrize("options", OPTIONS[:2] + OPTIONS[5:6] + OPTIONS[7:8])
def test_batched_equals_one_video_at_a_time(options):
    # Videos of different sizes padded to N; small chunks and working sets force both code paths.
    sizes = [0, 3, 60, 200, 17]
    n = max(sizes)
    segments = torch.zeros(len(sizes), n, 2, dtype=torch.float64)
    scores = torch.zeros(len(sizes), n, dtype=torch.float64)
    labels = torch.zeros(len(sizes), n, dtype=torch.long)
    valid = torch.zeros(len(sizes), n, dtype=torch.bool)
    for v, size in enumerate(sizes):
        segments[v, :size], scores[v, :size], labels[v, :size] = random_candidates(size, 100 + v)
        valid[v, :size] = True
    scores[~valid] = 5.0  # padding must be ignored whatever its score
    options = {"top_k": 30, **options}
    batch = batched_soft_nms(segments, scores, valid, labels, chunk_size=2, **options)
    assert batch.indices.shape == (5, 30) and batch.segments.shape == (5, 30, 2)
    for v, size in enumerate(sizes):
        expected = reference(segments[v, :size], scores[v, :size], labels[v, :size], **options)
        k = len(expected)
        assert batch.valid[v].tolist() == [True] * k + [False] * (30 - k)
        assert batch.indices[v, :k].tolist() == [i for i, _ in expected]
        assert batch.indices[v, k:].eq(-1).all() and batch.scores[v, k:].eq(0).all()
        assert batch.labels[v, k:].eq(-1).all()
        torch.testing.assert_close(batch.scores[v, :k], torch.tensor([s for _, s in expected], dtype=torch.float64))


def test_many_candidates_need_a_wider_working_set():
    # 3,000 candidates, Gaussian decay of every overlap: the top 100 reach deep into the ranking,
    # past the first working set (8k + 256 = 1,056), so the widening path must give the same result.
    segments, scores, labels = random_candidates(3000, 7)
    result = soft_nms(segments, scores, labels, top_k=100)
    expected = reference(segments, scores, labels, top_k=100)
    assert result.indices.tolist() == [i for i, _ in expected]
    ranks = torch.argsort(torch.argsort(scores, descending=True))
    assert ranks[result.indices].max() > 1056


def test_hand_computed_gaussian_and_hard():
    segments = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 0.5], [2.0, 3.0]])
    scores = torch.tensor([0.9, 0.8, 0.85, 0.7])
    r = soft_nms(segments, scores, sigma=0.5)
    # Keep 0 (0.9). Decay: 1 (IoU 1) -> 0.8 e^-2 = 0.1083; 2 (IoU 0.5) -> 0.85 e^-0.5 = 0.5155; 3 untouched.
    # Keep 3 (0.7), then 2 (0.5155; IoU with 3 is 0), then 1, decayed again by 2 (IoU 0.5): 0.1083 e^-0.5.
    assert r.indices.tolist() == [0, 3, 2, 1]
    expected = [0.9, 0.7, 0.85 * math.exp(-0.5), 0.8 * math.exp(-2) * math.exp(-0.5)]
    torch.testing.assert_close(r.scores, torch.tensor(expected), rtol=1e-6, atol=0)
    hard = soft_nms(segments, scores, method="hard", iou_threshold=0.5)
    assert hard.indices.tolist() == [0, 2, 3]  # 1 suppressed (IoU 1 > 0.5); 2 kept (IoU 0.5 is not > 0.5)
    torch.testing.assert_close(hard.scores, torch.tensor([0.9, 0.85, 0.7]))


def test_ties_go_to_the_lower_index_and_top_k_is_respected():
    segments = torch.tensor([[0.0, 0.1], [0.5, 0.6], [0.2, 0.3], [0.8, 0.9]])
    r = soft_nms(segments, torch.full((4,), 0.5), top_k=3)
    assert r.indices.tolist() == [0, 1, 2]


def test_linear_decay_to_zero_keeps_candidates():
    # Duplicates decay to exactly 0 with linear Soft-NMS; they remain candidates (score 0), unlike hard NMS.
    segments = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    r = soft_nms(segments, torch.tensor([0.9, 0.8, 0.7]), method="linear")
    assert r.indices.tolist() == [0, 1, 2]
    assert r.scores.tolist() == pytest.approx([0.9, 0.0, 0.0])


def test_bmn_adaptive_threshold_depends_on_the_kept_width():
    # Threshold 0.5 + 0.4 * width. Kept segment [0, 0.5]: threshold 0.7; the candidate [0, 0.4] has IoU 0.8.
    segments = torch.tensor([[0.0, 0.5], [0.0, 0.4]])
    r = soft_nms(segments, torch.tensor([1.0, 0.9]), adaptive=(0.5, 0.9), sigma=0.4)
    torch.testing.assert_close(r.scores, torch.tensor([1.0, 0.9 * math.exp(-0.64 / 0.4)]))
    # Kept segment [0, 1]: threshold 0.9; [0, 0.85] has IoU 0.85: not decayed.
    r = soft_nms(torch.tensor([[0.0, 1.0], [0.0, 0.85]]), torch.tensor([1.0, 0.9]), adaptive=(0.5, 0.9))
    torch.testing.assert_close(r.scores, torch.tensor([1.0, 0.9]))


def test_empty_and_invalid_inputs():
    r = soft_nms(torch.zeros(0, 2), torch.zeros(0))
    assert r.indices.shape == (0,) and r.segments.shape == (0, 2)
    r = soft_nms(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([float("-inf"), 0.3]))
    assert r.indices.tolist() == [1]
    with pytest.raises(ValueError, match="NaN"):
        soft_nms(torch.tensor([[0.0, 1.0]]), torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="method"):
        soft_nms(torch.tensor([[0.0, 1.0]]), torch.tensor([1.0]), method="cosine")
    with pytest.raises(ValueError, match="labels"):
        soft_nms(torch.tensor([[0.0, 1.0]]), torch.tensor([1.0]), class_agnostic=False)


def test_float32_matches_float64_on_well_separated_scores():
    segments, scores, labels = random_candidates(300, 3)
    r64 = soft_nms(segments, scores, adaptive=(0.5, 0.9))
    r32 = soft_nms(segments.float(), scores.float(), adaptive=(0.5, 0.9))
    assert r32.scores.dtype == torch.float32
    assert (r32.indices[:20] == r64.indices[:20]).all()
    torch.testing.assert_close(r32.scores[:20].double(), r64.scores[:20], rtol=1e-5, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    segments, scores, labels = random_candidates(500, 11)
    cpu = soft_nms(segments, scores, labels, adaptive=(0.5, 0.9), class_agnostic=False)
    gpu = soft_nms(segments.cuda(), scores.cuda(), labels.cuda(), adaptive=(0.5, 0.9), class_agnostic=False)
    assert gpu.indices.device.type == "cuda"
    assert gpu.indices.cpu().tolist() == cpu.indices.tolist()
    torch.testing.assert_close(gpu.scores.cpu(), cpu.scores)
