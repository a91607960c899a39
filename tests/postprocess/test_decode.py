import torch

from seqattnet.labels import boundary_targets, confidence_target, segments_to_indices
from seqattnet.postprocess.decode import Candidates, boundary_candidates, decode_candidates, score_candidates
from seqattnet.postprocess.soft_nms import batched_soft_nms


def test_boundary_candidates_peaks_and_high_values():
    prob = torch.tensor([[0.1, 0.3, 0.2, 0.05, 0.9, 0.8, 0.1]])
    # peaks at 1 and 4; above 0.5 * 0.9 = 0.45 at 4 and 5
    assert boundary_candidates(prob).nonzero()[:, 1].tolist() == [1, 4, 5]


def ideal_maps(segments: torch.Tensor, T: int):
    """Maps a perfect network would output for `segments` (BMN regions give sharp one-cell peaks)."""
    idx = segments_to_indices(segments, T)
    start = torch.full((T,), 0.01)
    end = torch.full((T,), 0.01)
    start[idx[:, 0]] = 1.0
    end[idx[:, 1] - 1] = 1.0
    g = confidence_target(segments, T, T)
    return start[None], end[None], torch.stack([g, g])[None]


def test_decoding_round_trip_ground_truth_to_maps_to_segments():
    T = 20
    truth = torch.tensor([[0.1, 0.3], [0.5, 0.95]])
    start, end, confidence = ideal_maps(truth, T)
    candidates = decode_candidates(start, end, confidence, max_candidates=50)
    # the two ground-truth cells are the two most confident candidates
    assert candidates.proposals[:2, 1:].tolist() == [[2, 6], [10, 19]] or \
        candidates.proposals[:2, 1:].tolist() == [[10, 19], [2, 6]]
    log_probs = torch.log_softmax(torch.zeros(len(candidates.proposals), 3), dim=1)
    scored = score_candidates(candidates, None, log_probs, T)
    kept = batched_soft_nms(scored.segments_norm[None].float(), scored.scores[None].float(),
                            torch.ones(1, len(scored.scores), dtype=torch.bool), adaptive=(0.5, 0.9), top_k=2)
    got = sorted(kept.segments[0].tolist())
    torch.testing.assert_close(torch.tensor(got), torch.tensor([[0.1, 0.3], [0.5, 0.95]]), atol=1e-6, rtol=0)


def test_refinement_moves_candidates_and_scores_multiply():
    candidates = Candidates(torch.tensor([[0, 2, 6], [0, 0, 10]]), torch.tensor([0.5, 0.2]))
    offsets = torch.tensor([[0.05, -0.05], [0.5, -0.6]])  # the second would reverse: left unrefined
    log_probs = torch.log(torch.tensor([[0.7, 0.3], [0.1, 0.9]]))
    scored = score_candidates(candidates, offsets, log_probs, 10, top_k_classes=2)
    torch.testing.assert_close(scored.segments_norm[0], torch.tensor([0.25, 0.55]))
    torch.testing.assert_close(scored.segments_norm[2], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(scored.scores, torch.tensor([0.35, 0.15, 0.18, 0.02]))
    assert scored.labels.tolist() == [0, 1, 1, 0]
    assert scored.video_index.tolist() == [0, 0, 0, 0]


def test_boundary_targets_are_maximal_at_ideal_map_peaks():
    truth = torch.tensor([[0.1, 0.3]])
    g = boundary_targets(truth, 20, "paper")
    start, end, _ = ideal_maps(truth, 20)
    assert g.start.argmax() == start[0].argmax() and g.end.argmax() == end[0].argmax()
