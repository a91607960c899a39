"""The heads' invariant (model/heads.py): with zero padding, cutting X to any width >= a proposal's
length changes none of its outputs. `SeqAttNet.heads` runs proposals in groups of similar length and
relies on it; an operation over time that breaks it (a convolution across steps, a normalisation over
the whole width, unmasked padding) fails here."""

import pytest
import torch

from seqattnet.config import ModelConfig
from seqattnet.model import SeqAttNet
from seqattnet.model.heads import SequentialHead, amass, widen

T, F, NC = 32, 8, 4
ERROR_HEADS = {"proposal": dict(error_input="proposal"), "boundaries": dict(error_input="boundaries"),
               "none": dict(error_head=False)}
PROPOSALS = torch.tensor([[0, 0, 32], [1, 3, 5], [0, 4, 20], [1, 10, 11], [0, 7, 30], [1, 20, 29], [0, 31, 32]])


def tiny_model(**fields) -> SeqAttNet:
    torch.manual_seed(0)
    cfg = ModelConfig(F, T, T, NC, base_channels=8, bm_channels=4, map_channels=4, num_samples=4, **fields)
    model = SeqAttNet(cfg).double().eval()
    with torch.no_grad():  # non-zero biases everywhere, so a padded step that leaks shows
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def assert_same(got, want):
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["softmax", "sigmoid", "uniform"])
@pytest.mark.parametrize("error", ERROR_HEADS)
@pytest.mark.parametrize("amass_context", [0.0, 0.5])
def test_heads_do_not_depend_on_the_padded_width(attention, error, amass_context):
    model = tiny_model(attention=attention, amass_context=amass_context, **ERROR_HEADS[error])
    features = torch.randn(2, F, T, dtype=torch.float64)
    rows = widen(PROPOSALS, T, amass_context)
    assert len(model._length_groups(rows)) > 1  # the grouped path is taken
    with torch.no_grad():
        full = model.heads(features, PROPOSALS, width=T)  # every proposal padded to T
        assert_same(model.heads(features, PROPOSALS), full)  # each group cut to its longest member
        for index in range(len(PROPOSALS)):  # each proposal alone, cut to its own length
            one = PROPOSALS[index:index + 1]
            length = int(widen(one, T, amass_context)[0, 2] - widen(one, T, amass_context)[0, 1])
            for width in sorted({length, (length + T) // 2, T}):
                assert_same(model.heads(features, one, width=width), [o[index:index + 1] if o is not None else None
                                                                      for o in full])


@pytest.mark.parametrize("attention", ["softmax", "sigmoid", "uniform"])
def test_one_head_does_not_depend_on_the_padded_width(attention):
    torch.manual_seed(1)
    head = SequentialHead(T, F, 3, attention).double()
    features = torch.randn(2, F, T, dtype=torch.float64)
    x, valid = amass(features, PROPOSALS, "pad", T)  # (P, T, F)
    want = head(x, valid)
    for index, (_, start, end) in enumerate(PROPOSALS.tolist()):
        for width in range(end - start, T + 1):
            got = head(x[index:index + 1, :width], valid[index:index + 1, :width])
            torch.testing.assert_close(got, want[index:index + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("error", ERROR_HEADS)
def test_resampled_input_runs_as_one_group_of_width_T(error):
    """Resampling stretches every proposal to T points: there is no padding to cut, so no grouping."""
    model = tiny_model(amassment="resample", **ERROR_HEADS[error])
    groups = model._length_groups(PROPOSALS)
    assert len(groups) == 1 and groups[0][1] == T and torch.equal(groups[0][0], torch.arange(len(PROPOSALS)))
    features = torch.randn(2, F, T, dtype=torch.float64)
    with torch.no_grad():
        assert_same(model.heads(features, PROPOSALS), model.heads(features, PROPOSALS, width=T))
