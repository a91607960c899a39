"""benchmarks/lost_instances.py: the stage at which each instance is lost, on maps built by hand."""

import importlib.util
from pathlib import Path

import torch

from seqattnet.config import load_config
from seqattnet.engine.inference import candidate_detections
from seqattnet.model.proposal import ProposalMaps
from seqattnet.postprocess.decode import decode_candidates, score_candidates

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "lost_instances.py"
T = 10


def _script():
    spec = importlib.util.spec_from_file_location("lost_instances", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(segments: torch.Tensor, labels: torch.Tensor, class_of_candidates: int):
    """Maps that peak at [0.2, 0.6) alone, every candidate classed `class_of_candidates`, no refinement."""
    cfg = load_config("activitynet", [f"model.temporal_scale={T}", f"model.max_duration={T}", "inference.refine=false"])
    start, end = torch.full((1, T), 0.1), torch.full((1, T), 0.1)
    start[0, 2], end[0, 5] = 0.9, 0.8  # start candidates: 2 only; end candidates: 5 only
    confidence = torch.full((1, 2, T, T), 0.5)
    confidence[0, 1, 3, 2], confidence[0, 0, 3, 2] = 0.95, 0.7  # cell (d=3, s=2) = [0.2, 0.6)
    maps = ProposalMaps(start, end, confidence)
    candidates = decode_candidates(start, end, confidence, max_candidates=5)
    log_probs = torch.log_softmax(torch.nn.functional.one_hot(
        torch.full((len(candidates.proposals),), class_of_candidates), 3).float() * 5, dim=1)
    scored = score_candidates(candidates, None, log_probs, T)
    detections = candidate_detections(candidates, None, log_probs, T, ["v"], torch.tensor([50.0], dtype=torch.float64),
                                      cfg.inference)
    return _script().video_rows(maps, 0, candidates, scored, detections[0], segments, labels, cfg, 0.5)


def test_each_instance_is_lost_at_its_stage():
    # [0.2, 0.6) is decoded exactly; [0.73, 0.745] has no cell at IoU >= 0.5 (0.15 at best)
    rows = _rows(torch.tensor([[0.2, 0.6], [0.73, 0.745]]), torch.tensor([1, 1]), class_of_candidates=1)
    assert [len(r) for r in rows] == [12, 12]
    coverage, instances, *stages = rows[0][:8]
    assert (round(coverage, 6), instances, stages) == (0.4, 2, [1, 1, 1, 1, 1, 1])
    torch.testing.assert_close(torch.tensor(rows[0][8:]), torch.tensor([1.0, 1.0, 0.95, 0.7]))
    assert rows[1][2:8] == [0, 0, 0, 0, 0, 0]


def test_a_wrong_class_loses_the_instance_after_refinement():
    rows = _rows(torch.tensor([[0.2, 0.6]]), torch.tensor([2]), class_of_candidates=1)
    assert rows[0][2:8] == [1, 1, 1, 1, 0, 0]


def test_the_table_groups_instances_by_coverage_and_count():
    module = _script()
    rows = torch.tensor([[0.1, 6] + [1, 1, 0, 0, 0, 0] + [0.5] * 4, [0.5, 1] + [1] * 6 + [1.0] * 4]).numpy()
    lines = {line.split(" | ")[0][2:]: line for line in module.table(rows).splitlines()[2:]}
    assert lines["all"].startswith("| all | 2 | 1.00 | 1.00 | 0.50 | 0.50 |")
    assert lines["coverage <= 0.2"].startswith("| coverage <= 0.2 | 1 | 1.00 | 1.00 | 0.00 |")
    assert lines[">= 5 instances"].startswith("| >= 5 instances | 1 | 1.00 | 1.00 | 0.00 |")
    assert "2-4 instances" not in lines
