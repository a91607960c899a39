"""Where the validation instances are lost, stage by stage, for instances by coverage and by instances per video.

For each ground-truth instance, whether some proposal still matches it at tIoU >= `--tiou` after each stage
of inference (engine/inference.py `detect`):

    grid      some map cell [s/T, (s + d + 1)/T) (the best any proposal can do without refinement)
    peaks     some cell whose start and end are start / end candidates (decode.boundary_candidates)
    top-k     some of the inference.max_candidates best candidates by P = p_s p_e M_CC M_CR
    refined   some candidate after the error head's refinement
    class     ... whose top class is the instance's
    kept      some detection of its class after Soft-NMS and inference.max_detections

and, at the instance's best grid cell, the medians of p_s and p_e over the video's maximum and of M_CC and M_CR.

    python benchmarks/lost_instances.py CHECKPOINT [--tiou 0.5] [--set inference.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader

from seqattnet.data.dataset import collate
from seqattnet.engine.build import build_dataset, load_ground_truth
from seqattnet.engine.checkpoint import load_model
from seqattnet.engine.inference import candidate_detections
from seqattnet.labels import cell_segments, iou_matrix
from seqattnet.postprocess.decode import boundary_candidates, decode_candidates, score_candidates

STAGES = ("grid", "peaks", "top-k", "refined", "class", "kept")
MAPS = ("p_s/max", "p_e/max", "M_CC", "M_CR")
GROUPS = {  # name -> (coverage, instances of its video) -> bool: DETAD's XS coverage and counts of instances
    "all": lambda cov, k: True, "coverage <= 0.2": lambda cov, k: cov <= 0.2, "coverage > 0.2": lambda cov, k: cov > 0.2,
    "1 instance": lambda cov, k: k == 1, "2-4 instances": lambda cov, k: 2 <= k <= 4, ">= 5 instances": lambda cov, k: k >= 5,
}


def video_rows(maps, b: int, candidates, scored, detections, segments: torch.Tensor, labels: torch.Tensor, cfg,
               tiou: float) -> list[list[float]]:
    """One row per instance of video b: coverage, instances, a 0/1 per stage, then the MAPS values."""
    T, D, inf = cfg.model.temporal_scale, cfg.model.max_duration, cfg.inference
    cells = cell_segments(T, D)  # (D, T, 2)
    ious, inside = iou_matrix(cells, segments.double()), cells[..., 1] <= 1.0 + 1e-9  # (D, T, K), (D, T)
    ends = (torch.arange(D)[:, None] + torch.arange(T)[None, :]).clamp(max=T - 1)  # (D, T) last snippet of each cell
    start_ok, end_ok = boundary_candidates(maps.start, inf.peak_ratio)[b], boundary_candidates(maps.end, inf.peak_ratio)[b]
    peaks = inside & start_ok[None, :] & end_ok[ends]  # (D, T)
    mine = candidates.proposals[:, 0] == b
    top_k = iou_matrix(candidates.proposals[mine][:, 1:].double() / T, segments.double())  # (P, K)
    own = scored.video_index == b
    refined = iou_matrix(scored.segments_norm[own].double(), segments.double())  # (P, K)
    kept = iou_matrix(torch.as_tensor(detections.segments_s / detections.duration_s), segments.double())  # (M, K)
    kept_labels = torch.as_tensor(detections.labels)
    rows = []
    for k, (segment, label) in enumerate(zip(segments.double(), labels)):
        cell = ious[..., k] * inside  # (D, T)
        d, s = divmod(int(cell.argmax()), T)
        hit = [cell.max() >= tiou, (cell * peaks).max() >= tiou, (top_k[:, k] >= tiou).any(), (refined[:, k] >= tiou).any(),
               ((refined[:, k] >= tiou) & (scored.labels[own] == label)).any(), ((kept[:, k] >= tiou) & (kept_labels == label)).any()]
        values = [maps.start[b, s] / maps.start[b].max(), maps.end[b, s + d] / maps.end[b].max(),
                  maps.confidence[b, 1, d, s], maps.confidence[b, 0, d, s]]
        rows.append([float(segment[1] - segment[0]), len(segments), *map(float, hit), *map(float, values)])
    return rows


def lost_instances(checkpoint: str, tiou: float = 0.5, overrides: list[str] = ()) -> np.ndarray:
    """float64[M, 2 + len(STAGES) + len(MAPS)]: `video_rows` of every validation instance."""
    model, cfg, classes = load_model(checkpoint, "cpu", list(overrides))
    ground_truth, _ = load_ground_truth(cfg)
    loader = DataLoader(build_dataset(cfg, cfg.data.val_subset, ground_truth, classes), batch_size=16, collate_fn=collate)
    T, inf, rows = cfg.model.temporal_scale, cfg.inference, []
    with torch.no_grad():
        for batch in loader:
            maps = model(batch.features)
            candidates = decode_candidates(maps.start, maps.end, maps.confidence, peak_ratio=inf.peak_ratio,
                                           max_candidates=inf.max_candidates)
            heads = model.heads(batch.features, candidates.proposals, inf.refine_steps)
            offsets = heads.offsets if inf.refine else None
            scored = score_candidates(candidates, offsets, heads.class_log_probs, T)  # top class only
            detections = candidate_detections(candidates, offsets, heads.class_log_probs, T, batch.video_ids,
                                              batch.durations_s, inf)
            for b, (segments, labels) in enumerate(zip(batch.segments_norm, batch.labels)):
                if len(segments):
                    rows += video_rows(maps, b, candidates, scored, detections[b], segments, labels, cfg, tiou)
    return np.array(rows, dtype=np.float64).reshape(-1, 2 + len(STAGES) + len(MAPS))


def table(rows: np.ndarray) -> str:
    """The share of each group's instances matched after each stage, and the MAPS medians, as a markdown table."""
    head = ["instances", "n", *STAGES, *(f"{m} (median)" for m in MAPS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rule in GROUPS.items():
        group = rows[[rule(cov, int(k)) for cov, k in rows[:, :2]]] if len(rows) else rows
        if len(group):
            stages = group[:, 2:2 + len(STAGES)].mean(axis=0)
            values = np.median(group[:, 2 + len(STAGES):], axis=0)
            lines.append(f"| {name} | {len(group)} | " + " | ".join(f"{v:.2f}" for v in [*stages, *values]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--tiou", type=float, default=0.5, help="tIoU a match needs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="inference.* / data.* override")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(table(lost_instances(args.checkpoint, args.tiou, args.set)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
