import math

import numpy as np
import pytest
import torch

from seqattnet.model.boundary_matching import BoundaryMatching, dense_boundary_matching, sampling_mask


def slow_mask(T, D, N, K, ratio):
    """BM sampling weights, built one cell and one sample at a time."""
    mask = np.zeros((N, T, D, T))
    for d in range(D):
        for s in range(T):
            if s + d >= T:
                continue
            lo = s - ratio * (d + 1)
            hi = s + d + ratio * (d + 1)
            step = (hi - lo) / (N * K - 1)
            for k in range(N * K):
                pos = lo + k * step
                base = math.floor(pos)
                frac = pos - base
                for t, w in ((base, 1 - frac), (base + 1, frac)):
                    if 0 <= t <= T - 1:
                        mask[k // K, t, d, s] += w / K
    return mask


@pytest.mark.parametrize("T, D, N, K", [(8, 8, 4, 3), (10, 6, 5, 2), (12, 12, 32, 3)])
def test_sampling_mask_matches_direct_construction(T, D, N, K):
    np.testing.assert_allclose(sampling_mask(T, D, N, K, 0.5), slow_mask(T, D, N, K, 0.5), atol=1e-6)


def test_sampling_mask_bins_sum_to_one_inside_the_video():
    mask = sampling_mask(20, 20, 8, 3, 0.0)  # no widening: every sample inside [0, T-1]
    sums = mask.sum(axis=1)  # (N, D, T)
    d, s = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    np.testing.assert_allclose(sums[:, s + d < 20], 1.0, atol=1e-5)
    assert np.all(sums[:, s + d >= 20] == 0)


@pytest.mark.parametrize("impl", ["sparse", "dense"])
@pytest.mark.parametrize("T, D", [(16, 16), (20, 12)])
def test_fast_boundary_matching_matches_reference_outputs_and_gradients(impl, T, D):
    torch.manual_seed(0)
    layer = BoundaryMatching(6, 5, T, D, num_samples=8, impl=impl).double()
    x = torch.randn(3, 6, T, dtype=torch.float64, requires_grad=True)
    out = layer(x)
    ref = dense_boundary_matching(x, layer.full_mask(), layer.weight, layer.bias)
    assert out.shape == (3, 5, D, T)
    assert torch.allclose(out, ref, rtol=1e-9, atol=1e-9)
    g = torch.randn_like(out)
    grads = torch.autograd.grad((out * g).sum(), [x, layer.weight, layer.bias])
    ref_grads = torch.autograd.grad((ref * g).sum(), [x, layer.weight, layer.bias])
    for a, b in zip(grads, ref_grads):
        assert (a - b).abs().max() / b.abs().max() <= 1e-4


def test_full_size_layer_float32_relative_error():
    torch.manual_seed(1)
    layer = BoundaryMatching(32, 16, 100, 100)
    x = torch.randn(1, 32, 100)
    out = layer(x)
    ref = dense_boundary_matching(x, layer.full_mask(), layer.weight, layer.bias)
    assert (out - ref).abs().max() / ref.abs().max() <= 1e-4
