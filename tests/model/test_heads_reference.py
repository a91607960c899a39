"""The heads against Eq. 1 written out plainly, channel-major as the paper draws X (P, F, W): outputs and
gradients for every attention mode, and a training step through `SeqAttNet.heads` (its gathers, groups,
in-place softmax pieces and backward)."""

import pytest
import torch

from seqattnet.config import ModelConfig
from seqattnet.model import SeqAttNet
from seqattnet.model.boundary_head import BoundaryErrorHead
from seqattnet.model.heads import SequentialHead, amass

T, F, OUT = 12, 5, 3
TOLERANCE = {torch.float64: dict(rtol=0, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-6)}


def eq1(head: SequentialHead, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """x: Tensor[P, F, W] (zero past each proposal's valid steps), valid: bool Tensor[P, W] -> Tensor[P, OUT].

    A = softmax over the valid steps of W x + b (or sigmoid, or 1), H = ReLU(Linear(W, 1)(A * X)),
    then Linear(F, OUT)."""
    W = x.shape[-1]
    attention = head.attention
    if attention.mode == "uniform":
        a = torch.ones_like(x)
    else:
        logits = x @ attention.linear.weight[:W, :W].T + attention.linear.bias[:W]  # (P, F, W)
        if attention.mode == "softmax":
            a = torch.softmax(logits.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)
        else:
            a = torch.sigmoid(logits)
    h = torch.relu((a * x) @ head.time.weight[0, :W] + head.time.bias)  # (P, F)
    return h @ head.content.weight.T + head.content.bias  # (P, OUT)


def padded_input(lengths: list[int], width: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Random X: Tensor[P, F, width], zero past each length, and its valid mask."""
    valid = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]  # (P, width)
    x = torch.randn(len(lengths), F, width, dtype=dtype) * valid[:, None, :]
    return x, valid


def gradients(output: torch.Tensor, inputs: list[torch.Tensor], seed: int = 3) -> list[torch.Tensor]:
    upstream = torch.randn(output.shape, generator=torch.Generator().manual_seed(seed), dtype=output.dtype)
    return list(torch.autograd.grad(output, inputs, upstream))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("attention", ["softmax", "sigmoid", "uniform"])
@pytest.mark.parametrize("width", [T, 7])
def test_sequential_head_is_equation_1_with_its_gradients(attention, width, dtype):
    torch.manual_seed(0)
    head = SequentialHead(T, F, OUT, attention).to(dtype)
    with torch.no_grad():
        for p in head.parameters():  # larger logits than the default init, so the softmax is far from uniform
            p.mul_(3)
    x, valid = padded_input([width, 1, 4, width - 1, 2], width, dtype)  # width < T: the weights' leading block
    x.requires_grad_(True)
    want = eq1(head, x, valid)
    got = head(x.transpose(1, 2), valid)  # time-major: (P, W, F)
    torch.testing.assert_close(got, want, **TOLERANCE[dtype])
    inputs = [x, *head.parameters()]
    for g, w in zip(gradients(got, inputs), gradients(want, inputs)):
        torch.testing.assert_close(g, w, **TOLERANCE[dtype])
    before = x.detach().clone()
    with torch.no_grad():  # the in-place path (no graph to keep): the same numbers, and X left as it was
        torch.testing.assert_close(head(x.transpose(1, 2), valid), want, **TOLERANCE[dtype])
    assert torch.equal(x.detach(), before)


def reference_amass(features: torch.Tensor, proposals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded X: Tensor[P, F, T] built one proposal at a time by slicing, and valid: bool Tensor[P, T]."""
    x = features.new_zeros(len(proposals), features.shape[1], features.shape[2])
    valid = torch.zeros(len(proposals), features.shape[2], dtype=torch.bool)
    for i, (b, start, end) in enumerate(proposals.tolist()):
        x[i, :, :end - start] = features[b, :, start:end]
        valid[i, :end - start] = True
    return x, valid


@pytest.mark.parametrize("attention", ["softmax", "sigmoid", "uniform"])
def test_a_training_step_through_the_heads_matches_equation_1(attention):
    """The paper's heads (class and error on the proposal's columns), grouped by length, in train mode:
    loss.backward() gives the reference's gradients for the features and every head weight."""
    torch.manual_seed(0)
    cfg = ModelConfig(F, T, T, OUT, base_channels=8, bm_channels=4, map_channels=4, num_samples=4,
                      attention=attention, error_input="proposal", conv_groups=1)
    model = SeqAttNet(cfg).double().train()
    proposals = torch.tensor([[0, 0, 12], [1, 3, 5], [0, 4, 11], [1, 10, 11], [0, 2, 3], [1, 1, 10]])
    features = torch.randn(2, F, T, dtype=torch.float64, requires_grad=True)
    assert len(model._length_groups(proposals)) > 1
    heads = model.heads(features, proposals)
    x, valid = reference_amass(features, proposals)
    want_log_probs = torch.log_softmax(eq1(model.class_head, x, valid), dim=-1)
    want_offsets = torch.tanh(eq1(model.error_head, x, valid))
    torch.testing.assert_close(heads.class_log_probs, want_log_probs, rtol=0, atol=1e-10)
    torch.testing.assert_close(heads.offsets, want_offsets, rtol=0, atol=1e-10)
    weights = [features, *model.class_head.parameters(), *model.error_head.parameters()]

    def loss(log_probs, offsets):
        return -log_probs[:, 1].sum() + (offsets ** 2).sum()

    loss(heads.class_log_probs, heads.offsets).backward()
    got = [w.grad for w in weights]
    want = torch.autograd.grad(loss(want_log_probs, want_offsets), weights)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-10)
    assert features.grad.abs().sum() > 0


@pytest.mark.parametrize("steps", [1, 2])
def test_the_boundary_head_backward_is_its_derivative(steps):
    """Numerical against analytic gradients (float64) through the interpolated windows, the attention's
    in-place pieces and, with two steps, the second step's windows that move with the first's output."""
    torch.manual_seed(0)
    head = BoundaryErrorHead(3, 10, points=4, context=0.3).double()
    proposals = torch.tensor([[0, 2, 7], [1, 0, 10], [0, 5, 6]])
    features = torch.randn(2, 3, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: head(f, proposals, steps)[0], (features,))


def test_resampled_input_backward_is_its_derivative():
    features = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    proposals = torch.tensor([[0, 1, 4], [1, 0, 6], [1, 5, 6]])
    assert torch.autograd.gradcheck(lambda f: amass(f, proposals, "resample")[0], (features,))
