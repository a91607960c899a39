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
