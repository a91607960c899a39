import torch

from seqattnet.labels import (boundary_targets, cell_segments, confidence_target, head_targets, match_cells,
                              segments_to_indices)

SEG = torch.tensor([[0.2, 0.6]])  # snippets 2..5 of T = 10


def test_paper_boundary_targets_one_segment():
    g = boundary_targets(SEG, 10, "paper")
    expected_start = torch.zeros(10)
    expected_start[2] = 1.0  # anchor 0.2 +- 0.01 lies inside the region 0.2 +- 0.04
    expected_end = torch.zeros(10)
    expected_end[5] = 1.0  # end anchor of snippet 5 is u = 0.6
    torch.testing.assert_close(g.start, expected_start)
    torch.testing.assert_close(g.end, expected_end)


def test_paper_boundary_targets_partial_overlap():
    # region 0.23 +- 0.02 = [0.21, 0.25]; anchor 0.2 +- 0.01 = [0.19, 0.21] touches it: 0;
    # a segment [0.225, 0.425]: region [0.205, 0.245] covers half of anchor [0.19, 0.21]: 0.25
    g = boundary_targets(torch.tensor([[0.225, 0.425]]), 10, "paper")
    torch.testing.assert_close(g.start[2], torch.tensor(0.25))
    assert g.start[3] == 0 and g.start[1] == 0


def test_min_region_gives_a_short_action_between_anchors_a_positive_anchor():
    # [0.235, 0.255] at T = 10: region 0.235 +- 0.002 misses every anchor t/10 +- 0.01 (the paper's: all 0);
    # at least +- 1/T, the anchor nearest each boundary lies inside its region
    short = torch.tensor([[0.235, 0.255]])
    paper, wide = boundary_targets(short, 10, "paper"), boundary_targets(short, 10, "paper", min_region=1.0)
    assert paper.start.max() == 0 and paper.end.max() == 0
    torch.testing.assert_close(wide.start, torch.tensor([0, 0, 1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float32))
    torch.testing.assert_close(wide.end, torch.tensor([0, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float32))
    # a segment with d_g/10 >= 1/T keeps the paper's region
    long = torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(boundary_targets(long, 10, "paper", min_region=1.0).start,
                               boundary_targets(long, 10, "paper").start)


def test_bmn_boundary_targets_one_segment():
    g = boundary_targets(SEG, 10, "bmn")
    torch.testing.assert_close(g.start, torch.tensor([0, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.float32))
    torch.testing.assert_close(g.end, torch.tensor([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=torch.float32))


def test_confidence_target_cells():
    g = confidence_target(SEG, 10, 10)
    assert g.shape == (10, 10)
    torch.testing.assert_close(g[3, 2], torch.tensor(1.0))  # cell (d=3, s=2) is [0.2, 0.6)
    torch.testing.assert_close(g[4, 2], torch.tensor(0.8))  # [0.2, 0.7): 0.4 / 0.5
    torch.testing.assert_close(g[0, 0], torch.tensor(0.0))
    assert g[9, 1] == 0  # past the end of the video
    assert (g > 0.999).sum() == 1


def test_relative_map_targets_give_a_short_action_its_best_cell():
    # [0.73, 0.745] is 0.15 of a cell of T = 10: its best cell [0.7, 0.8) has IoU 0.15, under M_CC's 0.9
    both = torch.tensor([[0.2, 0.6], [0.73, 0.745]])
    absolute, relative = confidence_target(both, 10, 10), confidence_target(both, 10, 10, "relative")
    torch.testing.assert_close(absolute[0, 7], torch.tensor(0.15))
    torch.testing.assert_close(relative[0, 7], torch.tensor(1.0))
    torch.testing.assert_close(relative[1, 6], torch.tensor(0.5))  # [0.6, 0.8): IoU 0.075 of the best 0.15
    # the long segment's best cell is exact (IoU 1): its cells keep their IoU
    torch.testing.assert_close(relative[:, :5], absolute[:, :5])
    torch.testing.assert_close(relative[4, 2], torch.tensor(0.8))
    assert int((absolute > 0.9).sum()) == 1 and int((relative > 0.9).sum()) == 2
    assert relative[9, 1] == 0  # past the end of the video


def test_cell_segments_layout():
    cells = cell_segments(10, 4)
    torch.testing.assert_close(cells[2, 3], torch.tensor([0.3, 0.6], dtype=torch.float64))


def test_segments_to_indices_round_trip():
    idx = segments_to_indices(torch.tensor([[0.2, 0.6], [0.0, 1.0], [0.51, 0.52], [0.99, 1.0]]), 10)
    assert idx.tolist() == [[2, 6], [0, 10], [5, 6], [9, 10]]


def test_head_targets():
    labels = [torch.tensor([4]), torch.tensor([], dtype=torch.long)]
    segments = [SEG, torch.zeros(0, 2)]
    matches = [match_cells(s, 10, 10) for s in segments]
    t = head_targets(segments, labels, matches, 10, error_iou=0.5, error_per_video=100)
    assert t.class_proposals.tolist() == [[0, 2, 6]]
    assert t.class_labels.tolist() == [4]
    # every error row overlaps the segment by >= 0.5 and its target moves it onto the segment
    rows = t.error_proposals
    assert len(rows) > 5 and torch.all(rows[:, 0] == 0)
    prop = rows[:, 1:].double() / 10
    torch.testing.assert_close(prop + t.error_offsets.double(), SEG.double().expand_as(prop), atol=1e-6, rtol=0)
    with_candidates = head_targets(segments, labels, matches, 10, class_iou=0.7)
    assert len(with_candidates.class_proposals) > 1 and torch.all(with_candidates.class_labels == 4)


def test_jittered_rows_without_jitter_are_the_ground_truth_on_the_grid():
    from seqattnet.labels import jittered_rows

    seg = torch.tensor([[0.26, 0.74], [0.9, 1.0]], dtype=torch.float64)
    rows = jittered_rows(seg, 3, 10, 10, 5, 0.0)
    assert rows.tolist() == [[3, 3, 7], [3, 9, 10], [3, 3, 7], [3, 9, 10], [3, 3, 7]]  # row i is segment i mod K


def test_jittered_rows_stay_on_the_grid_and_spread_with_the_length():
    from seqattnet.labels import jittered_rows

    seg = torch.tensor([[0.0, 0.1], [0.2, 1.0]], dtype=torch.float64)
    rows = jittered_rows(seg, 0, 50, 20, 4000, 0.1, torch.Generator().manual_seed(0))
    length = rows[:, 2] - rows[:, 1]
    assert rows[:, 1].min() >= 0 and rows[:, 2].max() <= 50 and length.min() >= 1 and length.max() <= 20
    long_starts = rows[1::2, 1].double()  # segment [10, 50) snippets: start moved by N(0, 4^2), rounded
    assert abs(long_starts.mean().item() - 10) < 0.3 and 3.5 < long_starts.std().item() < 4.5


def test_head_targets_with_jittered_rows_point_at_their_segment():
    from seqattnet.labels import head_targets, match_cells

    T = 20
    segments = [torch.tensor([[0.13, 0.52]]), torch.zeros(0, 2)]
    labels = [torch.tensor([1]), torch.zeros(0, dtype=torch.long)]
    matches = [match_cells(s, T, T) for s in segments]
    out = head_targets(segments, labels, matches, T, error_rows="jitter", error_jitter=0.1, error_per_video=6,
                       max_duration=T, generator=torch.Generator().manual_seed(0))
    assert out.error_proposals.shape == (6, 3) and (out.error_proposals[:, 0] == 0).all()
    refined = out.error_proposals[:, 1:].double() / T + out.error_offsets.double()
    torch.testing.assert_close(refined, torch.tensor([[0.13, 0.52]], dtype=torch.float64).expand(6, 2), atol=1e-6, rtol=0)
