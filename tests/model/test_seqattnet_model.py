import pytest
import torch
from torch.nn import functional as nnf

from seqattnet.config import InputError, ModelConfig, load_config
from seqattnet.model import SeqAttNet
from seqattnet.model.proposal import MapHead
from seqattnet.model.heads import SequentialHead, TemporalAttention, amass


@pytest.mark.parametrize("T, F, Nc", [(16, 8, 3), (24, 32, 5), (32, 12, 200)])
def test_shapes(T, F, Nc):
    model = SeqAttNet(ModelConfig(F, T, T, Nc, base_channels=16, bm_channels=8, map_channels=8, num_samples=4))
    x = torch.randn(2, F, T)
    maps = model(x)
    assert maps.start.shape == (2, T) and maps.end.shape == (2, T)
    assert maps.confidence.shape == (2, 2, T, T)
    assert 0 <= maps.confidence.min() and maps.confidence.max() <= 1
    proposals = torch.tensor([[0, 0, T], [1, 3, 5], [1, T - 1, T]])
    heads = model.heads(x, proposals)
    assert heads.offsets.shape == (3, 2) and heads.offsets.abs().max() < 1
    assert heads.class_log_probs.shape == (3, Nc)
    torch.testing.assert_close(heads.class_log_probs.exp().sum(1), torch.ones(3))


def test_paper_parameter_count():
    model = SeqAttNet(load_config("activitynet-paper").model)
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in model.proposals.parameters()) == 4_978_564  # BMN with grouped convolutions
    assert total == 5_079_968  # the paper's "5M"


def test_amass_pads_and_resamples():
    features = torch.arange(2 * 3 * 6, dtype=torch.float32).reshape(2, 3, 6)
    proposals = torch.tensor([[0, 1, 4], [1, 0, 6], [1, 5, 6]])
    x, valid = amass(features, proposals, "pad")  # (P, W, F): step j of proposal p is x[p, j]
    assert x.shape == (3, 6, 3)
    torch.testing.assert_close(x[0, :3], features[0, :, 1:4].t())
    assert torch.all(x[0, 3:] == 0)
    torch.testing.assert_close(x[1], features[1].t())
    torch.testing.assert_close(x[2, 0], features[1, :, 5])
    assert valid.sum(1).tolist() == [3, 6, 1]
    x, valid = amass(features, proposals, "resample")
    assert valid.all()
    # snippets 1..3 of video 0 spread over 6 points: 1, 1.4, 1.8, 2.2, 2.6, 3
    torch.testing.assert_close(x[0, :, 0], torch.tensor([1.0, 1.4, 1.8, 2.2, 2.6, 3.0]))
    torch.testing.assert_close(x[2, :, 0], features[1, 0, 5].expand(6))


def test_attention_softmax_ignores_padding_and_uniform_is_identity():
    torch.manual_seed(0)
    att = TemporalAttention(5, "softmax")
    x = torch.randn(2, 5, 3)  # (P, W, F)
    valid = torch.tensor([[True, True, False, False, False], [True] * 5])
    x = x * valid[:, :, None]
    e, s = att(x, valid)
    a = e / s[:, None, :]  # (P, W, F)
    logits = att.linear(x[0, :, 1])[:2]  # channel 1 of proposal 0 over its two valid steps
    torch.testing.assert_close(a[0, :2, 1], torch.softmax(logits, 0))
    assert torch.all(e[0, 2:] == 0)
    torch.testing.assert_close(a.sum(1), torch.ones(2, 3))
    assert TemporalAttention(5, "uniform")(x, valid) == (None, None)  # A = 1


def test_sequential_head_is_equation_1():
    torch.manual_seed(0)
    head = SequentialHead(4, 3, 2, attention="uniform")
    x = torch.randn(1, 3, 4)  # (P, F, W)
    h = torch.relu(x[0] @ head.time.weight[0] + head.time.bias)  # (F,)
    torch.testing.assert_close(head(x.transpose(1, 2), torch.ones(1, 4, dtype=torch.bool))[0], head.content(h))


@pytest.mark.parametrize("map_conv", ["full", "separable", "grouped"])
@pytest.mark.parametrize("D", [12, 7])
def test_map_head_on_valid_cells_equals_the_plain_stack(D, map_conv):
    torch.manual_seed(0)
    gen = SeqAttNet(ModelConfig(8, 12, D, 3, base_channels=16, bm_channels=8, map_channels=8, num_samples=4,
                                map_conv=map_conv)).double().proposals
    x = torch.randn(2, 8, 12, dtype=torch.float64)
    base = gen.base(x)
    plain = gen.map_head(gen.boundary_matching(gen.proposal_conv(base)))  # BMN's order: BM grid, then every conv
    valid = torch.arange(D)[:, None] + torch.arange(12)[None, :] < 12  # (D, T): s + d < T
    fast = gen(x).confidence
    torch.testing.assert_close(fast[:, :, valid], plain[:, :, valid], rtol=1e-12, atol=1e-12)
    assert torch.all(fast[:, :, ~valid] == 0)  # never read: losses and decoding use valid cells only


@pytest.mark.parametrize("D", [12, 7])
def test_map_head_on_valid_cells_has_the_plain_stacks_gradients(D):
    """The fast path gathers each band from the valid cells; every parameter gets the plain stack's gradient."""
    torch.manual_seed(0)
    gen = SeqAttNet(ModelConfig(8, 12, D, 3, base_channels=16, bm_channels=8, map_channels=8,
                                num_samples=4)).double().proposals
    x = torch.randn(2, 8, 12, dtype=torch.float64)
    valid = torch.arange(D)[:, None] + torch.arange(12)[None, :] < 12
    weights = torch.randn(2, 2, int(valid.sum()), dtype=torch.float64)

    def gradients(maps):
        gen.zero_grad()
        (maps[:, :, valid] * weights).sum().backward()
        return {name: p.grad.clone() for name, p in gen.named_parameters() if p.grad is not None}

    plain = gradients(gen.map_head(gen.boundary_matching(gen.proposal_conv(gen.base(x)))))
    fast = gradients(gen(x).confidence)
    assert plain.keys() == fast.keys() and "boundary_matching.weight" in fast and "map_head.conv_a.weight" in fast
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("map_conv", ["full", "separable", "grouped"])
def test_map_head_is_the_padded_convolution_stack(map_conv):
    """MapHead pads itself; the same weights in torch's padded convolutions give the same maps."""
    torch.manual_seed(0)
    head = MapHead(6, 8, map_conv).double()
    grid = torch.randn(2, 6, 5, 7, dtype=torch.float64)

    def padded(conv, h):
        if map_conv != "separable":
            return nnf.conv2d(h, conv.weight, conv.bias, padding=1, groups=4 if map_conv == "grouped" else 1)
        h = nnf.conv2d(h, conv.depthwise.weight, conv.depthwise.bias, padding=1, groups=8)
        return nnf.conv2d(h, conv.pointwise.weight, conv.pointwise.bias)

    h = torch.relu(nnf.conv2d(grid, head.reduce.weight, head.reduce.bias))
    h = torch.relu(padded(head.conv_b, torch.relu(padded(head.conv_a, h))))
    expected = torch.sigmoid(nnf.conv2d(h, head.out.weight, head.out.bias))
    torch.testing.assert_close(head(grid), expected, rtol=1e-12, atol=1e-12)


def test_separable_and_grouped_map_heads_cost_a_fraction_of_the_full_one():
    full, separable, grouped = MapHead(16, 128, "full"), MapHead(16, 128, "separable"), MapHead(16, 128, "grouped")
    count = lambda m: sum(p.numel() for p in (*m.conv_a.parameters(), *m.conv_b.parameters()))  # noqa: E731
    assert count(full) == 2 * (128 * 128 * 9 + 128)
    assert count(separable) == 2 * (128 * 9 + 128 + 128 * 128 + 128)
    assert count(grouped) == 2 * (4 * 32 * 32 * 9 + 128)  # four 32-channel 3x3 convolutions per layer


def test_grouped_map_convolutions_need_map_channels_in_four_groups():
    with pytest.raises(InputError, match=r"'model.map_conv' grouped splits 'model.map_channels' 66 into 4 groups"):
        load_config("demo", ["model.map_conv=grouped", "model.map_channels=66"])
