"""How far the decoded candidates' boundaries are from the instances they overlap (what the error head refines).

For each validation video, the `--top` best candidates by proposal confidence that overlap an instance
at IoU >= 0.5: quantiles of |ground truth - candidate| for starts and ends, in snippets and relative to
the candidate's length.

    python benchmarks/candidate_errors.py CHECKPOINT [--top 5]
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
from seqattnet.labels import iou_matrix
from seqattnet.postprocess.decode import decode_candidates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--top", type=int, default=5, help="best candidates per video")
    args = parser.parse_args(argv)
    model, cfg, classes = load_model(args.checkpoint)
    model.eval()
    ground_truth, _ = load_ground_truth(cfg)
    loader = DataLoader(build_dataset(cfg, cfg.data.val_subset, ground_truth, classes), batch_size=16,
                        collate_fn=collate)
    T, rows = cfg.model.temporal_scale, []
    with torch.no_grad():
        for batch in loader:
            maps = model(batch.features)
            c = decode_candidates(maps.start, maps.end, maps.confidence, peak_ratio=cfg.inference.peak_ratio,
                                  max_candidates=cfg.inference.max_candidates)
            for b, segments in enumerate(batch.segments_norm):
                mine = c.proposals[:, 0] == b
                proposals, confidence = c.proposals[mine][:, 1:].double() / T, c.confidence[mine]
                if len(segments) == 0 or len(proposals) == 0:
                    continue
                iou, match = iou_matrix(proposals, segments.double()).max(1)
                for i in confidence.argsort(descending=True)[:args.top].tolist():
                    error = (segments[match[i]].double() - proposals[i]) * T  # (2,) snippets
                    rows.append([*error.tolist(), float(proposals[i, 1] - proposals[i, 0]) * T, iou[i].item()])
    e = np.array(rows)
    good = e[:, 3] >= 0.5
    print(f"{len(e)} candidates, {good.mean():.1%} with IoU >= 0.5, {(e[:, 3] >= 0.9).mean():.1%} with IoU >= 0.9")
    for name, col in (("start", 0), ("end", 1)):
        cells, rel = np.abs(e[good, col]), np.abs(e[good, col] / e[good, 2])
        q = [0.25, 0.5, 0.75, 0.9]
        print(f"{name}: |error| p25/p50/p75/p90 {' / '.join(f'{v:.2f}' for v in np.quantile(cells, q))} snippets, "
              f"{' / '.join(f'{v:.3f}' for v in np.quantile(rel, q))} of the length")
    return 0


if __name__ == "__main__":
    sys.exit(main())
