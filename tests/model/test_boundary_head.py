import pytest
import torch

from seqattnet.config import ModelConfig, load_config
from seqattnet.model import SeqAttNet
from seqattnet.model.boundary_head import BoundaryErrorHead, boundary_windows


def positions(T: int, B: int = 1) -> torch.Tensor:
    """Features whose value is the position read: column t holds t + 0.5 (its centre), video b adds 100 b."""
    centres = torch.arange(T, dtype=torch.float64) + 0.5
    return torch.stack([centres + 100 * b for b in range(B)])[:, None, :]  # (B, 1, T)


def windows(features, proposals, **kwargs):
    return boundary_windows(features, proposals[:, 0], proposals[:, 1:], **kwargs)


def test_windows_are_centred_on_each_boundary_and_the_end_window_runs_backwards():
    proposals = torch.tensor([[0, 2, 6], [1, 3, 4]])  # lengths 4 and 1
    x, half = windows(positions(10, 2), proposals, context=0.25, points=4)
    assert x.shape == (4, 4, 1)  # (2P, points, F)
    assert half.tolist() == [1.0, 1.0]  # 0.25 x 4 = 1; 0.25 x 1 raised to one snippet
    # steps -0.75, -0.25, 0.25, 0.75 of h around the start, outside -> inside
    torch.testing.assert_close(x[0, :, 0], torch.tensor([1.25, 1.75, 2.25, 2.75], dtype=torch.float64))
    torch.testing.assert_close(x[1, :, 0], 100 + torch.tensor([2.25, 2.75, 3.25, 3.75], dtype=torch.float64))
    # the end windows, from outside (after the end) to inside
    torch.testing.assert_close(x[2, :, 0], torch.tensor([6.75, 6.25, 5.75, 5.25], dtype=torch.float64))
    torch.testing.assert_close(x[3, :, 0], 100 + torch.tensor([4.75, 4.25, 3.75, 3.25], dtype=torch.float64))


def test_windows_past_the_video_read_its_edge_columns():
    x, half = windows(positions(10), torch.tensor([[0, 0, 10]]), context=0.25, points=4)
    assert half.tolist() == [2.5]
    # positions -1.875, -0.625, 0.625, 1.875: the first two before the first column's centre
    torch.testing.assert_close(x[0, :, 0], torch.tensor([0.5, 0.5, 0.625, 1.875], dtype=torch.float64))
    torch.testing.assert_close(x[1, :, 0], torch.tensor([9.5, 9.5, 9.375, 8.125], dtype=torch.float64))


def test_windows_between_grid_lines_are_read_there():
    x, half = boundary_windows(positions(10), torch.tensor([0]), torch.tensor([[2.3, 6.1]]), context=0.5, points=2)
    assert half.tolist() == [pytest.approx(1.9)]
    # steps -0.5, 0.5 of h: starts 1.35 and 3.25; ends (backwards) 7.05 and 5.15
    torch.testing.assert_close(x[:, :, 0], torch.tensor([[1.35, 3.25], [7.05, 5.15]], dtype=torch.float64))


def test_a_second_step_reads_the_windows_around_the_first_steps_boundaries():
    torch.manual_seed(0)
    T = 30
    head = BoundaryErrorHead(4, T, points=8, context=0.25)
    features, proposals = torch.randn(2, 4, T), torch.tensor([[0, 3, 11], [1, 10, 26]])
    one, scale = head(features, proposals)
    two, scale2 = head(features, proposals, steps=2)
    torch.testing.assert_close(scale2, scale)  # the loss's unit: the first step's reach
    bounds = proposals[:, 1:].float() + one * T  # refined once, in snippets
    x, half = boundary_windows(features, proposals[:, 0], bounds, 0.25, 8)
    o = torch.tanh(head.net(x, torch.ones(4, 8, dtype=torch.bool))).view(2, -1).t()
    expected = bounds + o * torch.stack([half, -half], 1)
    torch.testing.assert_close(two, (expected - proposals[:, 1:]) / T)
    assert not torch.allclose(one, two)


def test_offsets_stay_within_the_window_and_scale_is_its_half_width():
    torch.manual_seed(0)
    T = 20
    head = BoundaryErrorHead(6, T, points=8, context=0.5)
    proposals = torch.tensor([[0, 0, 20], [0, 5, 6], [1, 4, 12]])
    offsets, scale = head(torch.randn(2, 6, T), proposals)
    assert offsets.shape == (3, 2) and scale.shape == (3, 1)
    torch.testing.assert_close(scale[:, 0], torch.tensor([10.0, 1.0, 4.0]) / T)
    assert (offsets.abs() < scale).all()


def test_one_network_serves_both_boundaries_mirror_symmetry():
    """Mirroring the video in time turns a start into an end: offsets (ds, de) become (-de, -ds)."""
    torch.manual_seed(0)
    T = 24
    head = BoundaryErrorHead(5, T, points=8, context=0.3)
    features = torch.randn(1, 5, T)
    proposals = torch.tensor([[0, 3, 11], [0, 10, 22], [0, 0, 5]])
    mirrored = torch.stack([proposals[:, 0], T - proposals[:, 2], T - proposals[:, 1]], dim=1)
    offsets, _ = head(features, proposals)
    flipped, _ = head(features.flip(-1), mirrored)
    torch.testing.assert_close(flipped, -offsets.flip(-1))


def test_the_model_routes_the_boundary_head_and_keeps_the_class_head():
    torch.manual_seed(0)
    model = SeqAttNet(ModelConfig(8, 16, 16, 3, base_channels=16, bm_channels=8, map_channels=8, num_samples=4,
                      error_input="boundaries", error_context=0.25, error_points=8))
    assert model.error_head is None and model.boundary_head is not None
    features, proposals = torch.randn(2, 8, 16), torch.tensor([[0, 0, 16], [1, 3, 5]])
    heads = model.heads(features, proposals)
    assert heads.offsets.shape == (2, 2) and heads.offset_scale.shape == (2, 1)
    torch.testing.assert_close(heads.class_log_probs.exp().sum(1), torch.ones(2))
    paper = SeqAttNet(ModelConfig(8, 16, 16, 3, base_channels=16, bm_channels=8, map_channels=8, num_samples=4,
                                  error_input="proposal"))
    assert paper.heads(features, proposals).offset_scale is None  # the paper's offsets are in units of the video
    with pytest.raises(ValueError, match="error_input"):
        SeqAttNet(ModelConfig(8, 16, 16, 3, error_input="both"))


@pytest.mark.parametrize("name, expected", [("activitynet-paper", 5_079_968), ("activitynet", None)])
def test_shipped_activitynet_configs_count_parameters(name, expected):
    cfg = load_config(name)
    total = sum(p.numel() for p in SeqAttNet(cfg.model).parameters())
    if expected is not None:
        assert total == expected  # the paper's model, exactly
    else:
        assert cfg.model.error_input == "boundaries" and total <= 5_200_000
        # BMN's base, start/end and proposal convolutions as in Table 1 (126,464 + 2 x 49,665 + 196,864); the BM
        # Conv3d at 256 channels over 32 points; the map head at 64 channels: 1x1, two 3x3, 1x1 to 2 maps
        stage = 126_464 + 2 * 49_665 + 196_864 + (256 * 256 * 32 + 256) + (256 * 64 + 64) + 2 * (64 * 64 * 9 + 64) + 130
        # the error head: attention Linear(16, 16), time Linear(16, 1), content Linear(400, 1)
        assert total == stage + 90_401 + (16 * 16 + 16) + (16 + 1) + (400 + 1) == 2_701_591
