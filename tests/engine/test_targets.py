import torch

from seqattnet.config import load_config
from seqattnet.data.dataset import Batch
from seqattnet.engine.train import TargetCache, batch_targets


def _batch(segments: list[list[float]]) -> Batch:
    return Batch(["v0"], torch.tensor([100.0], dtype=torch.float64), torch.zeros(1, 8, 10),
                 [torch.tensor(segments)], [torch.zeros(len(segments), dtype=torch.long)])


def _config(map_iou: str):
    return load_config("activitynet", ["model.temporal_scale=10", "model.max_duration=10", "model.feature_dim=8",
                                       f"labels.map_iou={map_iou}"])


def test_the_confidence_target_follows_labels_map_iou():
    batch = _batch([[0.2, 0.6], [0.73, 0.745]])  # the second: 0.15 of a cell
    absolute = batch_targets(batch, _config("absolute")).confidence[0]
    relative = batch_targets(batch, _config("relative")).confidence[0]
    torch.testing.assert_close(absolute[0, 7], torch.tensor(0.15))
    torch.testing.assert_close(relative[0, 7], torch.tensor(1.0))
    torch.testing.assert_close(relative[3, 2], absolute[3, 2])


def test_relative_targets_leave_the_cell_matches_of_the_heads_absolute():
    targets = TargetCache(_config("relative"))("v0", torch.tensor([[0.73, 0.745]]))
    torch.testing.assert_close(targets.matches.iou[0, 7], torch.tensor(0.15))
    torch.testing.assert_close(targets.confidence[0, 7], torch.tensor(1.0))


def test_the_boundary_targets_follow_labels_min_region():
    batch = _batch([[0.235, 0.255]])  # a fifth of a cell, between two anchors
    paper = batch_targets(batch, _config("absolute")).start[0]
    wide = batch_targets(batch, load_config("activitynet", ["model.temporal_scale=10", "model.max_duration=10",
                                                            "model.feature_dim=8", "labels.min_region=1"])).start[0]
    assert paper.max() == 0
    assert wide.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
