"""The boundary-matching (BM) layer of BMN followed by its Conv3d(N, 1, 1), computed exactly but fast.

BMN samples, for every proposal cell (d, s) of the D x T map, N points of the feature sequence
(3 sub-samples averaged per bin, linear interpolation, the region widened by half the proposal length
on each side) and then applies Conv3d(C -> O, kernel (N, 1, 1)). Both steps are linear, so

    out[b, o, d, s] = sum_{n, t} Y[b, o, n, t] * mask[n, t, d, s] + bias[o],
    Y[b, o, n, t]   = sum_c W[o, c, n] * x[b, c, t]          (a 1x1 convolution per sample point)

which replaces the dense (C x N x T) x (T x D x T) product with a small convolution and a contraction
over the valid cells only: ~95 non-zero (n, t) entries per cell. On the CPU the contraction is a
weighted `embedding_bag` (a sparse row gather, 4x faster than a dense matmul over the valid cells and
than torch's CSR kernels); on GPUs a dense matmul over the valid cells. `dense_boundary_matching` is
the direct BMN computation, kept as the reference the tests compare against.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn


def sampling_mask(temporal_scale: int, max_duration: int, num_samples: int = 32, samples_per_bin: int = 3,
                  boundary_ratio: float = 0.5) -> np.ndarray:
    """Interpolation weights of the BM layer.

    Returns float32[N, T, D, T]: weight of snippet t in sample point n of the proposal cell (d, s),
    i.e. the proposal covering snippets s .. s + d. Cells with s + d >= T are all zero.

    Positions are snippet indices (snippet t sits at position t). The sampled region runs from
    s - r * (d + 1) to s + d + r * (d + 1) with r = boundary_ratio; N * samples_per_bin points are spread
    evenly over it, each is linearly interpolated between floor and floor + 1 (neighbours outside
    [0, T - 1] contribute nothing), and the samples of a bin are averaged.
    """
    T, D, N, K = temporal_scale, max_duration, num_samples, samples_per_bin
    d = np.arange(D, dtype=np.float64)[:, None]  # (D, 1)
    s = np.arange(T, dtype=np.float64)[None, :]  # (1, T)
    length = d + 1.0
    lo = s - boundary_ratio * length  # (D, T)
    hi = s + d + boundary_ratio * length
    k = np.arange(N * K, dtype=np.float64)
    pos = lo[..., None] + (hi - lo)[..., None] * k / (N * K - 1.0)  # (D, T, N*K)
    floor = np.floor(pos)
    frac = pos - floor
    mask = np.zeros((N, T, D, T), dtype=np.float64)
    valid_cell = (s + d) < T  # (D, T)
    n_idx = np.broadcast_to((np.arange(N * K) // K), pos.shape)
    d_idx = np.broadcast_to(np.arange(D)[:, None, None], pos.shape)
    s_idx = np.broadcast_to(np.arange(T)[None, :, None], pos.shape)
    keep_cell = np.broadcast_to(valid_cell[..., None], pos.shape)
    for t, weight in ((floor, 1.0 - frac), (floor + 1.0, frac)):
        ok = keep_cell & (t >= 0) & (t <= T - 1)
        np.add.at(mask, (n_idx[ok], t[ok].astype(np.int64), d_idx[ok], s_idx[ok]), weight[ok] / K)
    return mask.astype(np.float32)


def valid_cells(temporal_scale: int, max_duration: int) -> torch.Tensor:
    """bool[D, T]: cell (d, s) is a proposal inside the video (s + d < T)."""
    d = torch.arange(max_duration)[:, None]
    s = torch.arange(temporal_scale)[None, :]
    return (s + d) < temporal_scale


class BoundaryMatching(nn.Module):
    """BM sampling + Conv3d(C -> O, kernel (N, 1, 1)) + ReLU, exact and fast.

    Holds the Conv3d's weight (O, C, N) and bias (O), so its parameters are the reference layer's.
    `impl`: "sparse" (weighted row gather over the valid cells), "dense" (dense matmul over the valid
    cells; faster on GPUs), "reference" (BMN's direct computation: slow, memory-hungry) or "auto"
    (sparse on the CPU, dense elsewhere).
    """

    def __init__(self, in_channels: int, out_channels: int, temporal_scale: int, max_duration: int,
                 num_samples: int = 32, samples_per_bin: int = 3, boundary_ratio: float = 0.5,
                 impl: str = "auto"):
        super().__init__()
        if impl not in ("auto", "sparse", "dense", "reference"):
            raise ValueError(f"impl must be auto, sparse, dense or reference, got {impl!r}")
        self.impl = impl
        self.T, self.D, self.N = temporal_scale, max_duration, num_samples
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, num_samples))
        self.bias = nn.Parameter(torch.empty(out_channels))
        fan_in = in_channels * num_samples  # as Conv3d's default initialisation
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        mask = torch.from_numpy(sampling_mask(temporal_scale, max_duration, num_samples, samples_per_bin,
                                              boundary_ratio))
        valid = valid_cells(temporal_scale, max_duration)
        self.register_buffer("valid", valid, persistent=False)
        # the valid cells' flat positions: a long index exports to ONNX, a boolean mask there does not
        self.register_buffer("valid_index", valid.flatten().nonzero().squeeze(1), persistent=False)  # (V,)
        # The contraction over the V valid cells (flattened d-major), rows ordered (t, n) so that the
        # per-sample-point convolution's output (B, T, N, O) is read without a copy.
        contraction = mask.permute(1, 0, 2, 3).reshape(temporal_scale * num_samples, -1)[:, valid.flatten()]
        self.register_buffer("contraction", contraction, persistent=False)  # (T*N, V)
        # The same matrix as two row gathers: forward, cell v sums rows (t, n); backward, row (t, n)
        # sums the gradients of its cells. Both are weighted embedding bags with no sorting.
        cell, row = contraction.t().nonzero(as_tuple=True)  # sorted by cell
        self.register_buffer("gather_index", row, persistent=False)
        self.register_buffer("gather_offsets", _offsets(cell, contraction.shape[1]), persistent=False)
        self.register_buffer("gather_weights", contraction[row, cell], persistent=False)
        row_t, cell_t = contraction.nonzero(as_tuple=True)  # sorted by row
        self.register_buffer("scatter_index", cell_t, persistent=False)
        self.register_buffer("scatter_offsets", _offsets(row_t, contraction.shape[0]), persistent=False)
        self.register_buffer("scatter_weights", contraction[row_t, cell_t], persistent=False)

    def _impl_for(self, device: torch.device) -> str:
        if self.impl != "auto":
            return self.impl
        return "sparse" if device.type == "cpu" else "dense"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: Tensor[B, C, T] -> Tensor[B, O, D, T] after ReLU (channels-last memory).

        Invalid cells (s + d >= T) hold ReLU(bias), as in BMN.
        """
        if self._impl_for(x.device) == "reference":
            return dense_boundary_matching(x, self.full_mask(), self.weight, self.bias)
        return self.to_grid(self.cells(x), torch.relu(self.bias))

    def cells(self, x: torch.Tensor) -> torch.Tensor:
        """x: Tensor[B, C, T] -> Tensor[B, V, O]: the output (after ReLU) at the V valid cells only."""
        impl = self._impl_for(x.device)
        if impl == "reference":
            return dense_boundary_matching(x, self.full_mask(), self.weight, self.bias).flatten(2)[
                :, :, self.valid.flatten()].transpose(1, 2)  # (B, V, O)
        B, C, T = x.shape
        O, N = self.weight.shape[0], self.N
        w = self.weight.permute(1, 2, 0).reshape(C, N * O)  # (C, N*O)
        y = torch.matmul(x.transpose(1, 2), w)  # (B, T, N*O): Y for every snippet and sample point
        if impl == "dense":
            cells = torch.matmul(self.contraction.t().to(y.dtype), y.reshape(B, T * N, O))  # (B, V, O)
        else:
            forward = _batched_bags(self.gather_index, self.gather_offsets, self.gather_weights, B, T * N)
            backward = functools.partial(_batched_bags, self.scatter_index, self.scatter_offsets,  # built if needed
                                         self.scatter_weights, B, self.contraction.shape[1])
            cells = _SparseContraction.apply(y.reshape(B * T * N, O), forward, backward)  # (B * V, O)
        # in place on a new tensor (neither matmul nor the gather saves it), viewed after: in place on a view
        # would make the backward pass copy the whole gradient
        return cells.add_(self.bias).relu_().view(B, -1, O)

    def to_grid(self, cells: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """cells: Tensor[B, V, K] at the valid cells, fill: Tensor[K] for the others -> Tensor[B, K, D, T].

        The result is channels-last in memory, which is what the following 2D convolutions read fastest.
        """
        B, _, K = cells.shape
        out = fill.to(cells.dtype).expand(B, self.D * self.T, K).clone()
        out[:, self.valid_index] = cells
        return out.view(B, self.D, self.T, K).permute(0, 3, 1, 2)  # (B, K, D, T)

    def full_mask(self) -> torch.Tensor:
        """The sampling mask, Tensor[N, T, D, T], rebuilt from the stored contraction (reference path)."""
        mask = self.contraction.new_zeros(self.T * self.N, self.D * self.T)
        mask[:, self.valid.flatten()] = self.contraction
        return mask.reshape(self.T, self.N, self.D, self.T).permute(1, 0, 2, 3)


def _offsets(bag_of_entry: torch.Tensor, num_bags: int) -> torch.Tensor:
    """Start of each bag in a list of entries sorted by bag (empty bags included)."""
    counts = torch.bincount(bag_of_entry, minlength=num_bags)
    return torch.cumsum(counts, 0) - counts


def _batched_bags(index: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, batch: int,
                  rows_per_item: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One embedding-bag structure repeated for `batch` items whose rows follow each other."""
    shift = torch.arange(batch, device=index.device)[:, None]
    return ((index[None] + shift * rows_per_item).flatten(), (offsets[None] + shift * index.numel()).flatten(),
            weights.repeat(batch))


def _bags(rows: torch.Tensor, bags: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    index, offsets, weights = bags
    return nn.functional.embedding_bag(index, rows, offsets, mode="sum", per_sample_weights=weights.to(rows.dtype))


class _SparseContraction(torch.autograd.Function):
    """cells = M^T rows with a fixed sparse M, as a gather forward and the transposed gather backward
    (`backward_bags` builds the latter's bags when a backward pass needs them: inference never does)."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, forward_bags, backward_bags) -> torch.Tensor:
        ctx.backward_bags = backward_bags
        return _bags(rows.detach().contiguous(), forward_bags)  # detached: torch's gather without its backward state

    @staticmethod
    def backward(ctx, grad_cells: torch.Tensor):
        return _bags(grad_cells.contiguous(), ctx.backward_bags()), None, None


def dense_boundary_matching(x: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor,
                            bias: torch.Tensor) -> torch.Tensor:
    """BMN's direct computation, the reference for the fast path.

    x: Tensor[B, C, T]; mask: Tensor[N, T, D, T] from `sampling_mask`; weight: Tensor[O, C, N];
    bias: Tensor[O] -> Tensor[B, O, D, T] after ReLU.
    """
    N, T, D, _ = mask.shape
    bm = torch.matmul(x, mask.reshape(N, T, D * T).permute(1, 0, 2).reshape(T, N * D * T))  # (B, C, N*D*T)
    bm = bm.reshape(x.shape[0], x.shape[1], N, D, T)  # (B, C, N, D, T)
    out = torch.nn.functional.conv3d(bm, weight[..., None, None], bias)  # (B, O, 1, D, T)
    return torch.relu(out.squeeze(2))
