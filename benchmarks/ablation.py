"""Ablation on the built-in demo data: what attention and boundary refinement are worth.

Trains the demo model four ways with the same seed and data and prints mAP and parameters for each:
  full              the paper's SeqAttNet
  no attention      uniform weights instead of the temporal attention (model.attention=uniform)
  no refinement     the full model's detections without the error head's offsets (inference.refine=false)
  proposals + class proposal stage and the class head only (no error head, no attention)

    python benchmarks/ablation.py [--out runs/ablation] [--set key=value ...] [--json]

`--set` overrides apply to every variant (e.g. --set train.epochs=2 for a quick look).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seqattnet.config import load_config
from seqattnet.engine.build import build_model, load_ground_truth, resolve_device
from seqattnet.engine.evaluate import evaluate_model
from seqattnet.engine.fit import train
from seqattnet.engine.run import parameter_table

VARIANTS = {
    "full": [],
    "no attention": ["model.attention=uniform"],
    "proposals + class head": ["model.error_head=false", "model.attention=uniform"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/ablation")
    parser.add_argument("--data", default="runs/demo/data", help="demo dataset folder (generated when missing)")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name, overrides in VARIANTS.items():
        cfg = load_config("demo", [f"data.root={args.data}"] + args.set + overrides)
        start = time.perf_counter()
        report = train(cfg, Path(args.out) / name.replace(" ", "_").replace("+", "and"), progress=False)
        params = sum(parameter_table(build_model(cfg)).values())
        rows.append(_row(name, report.detection, params, time.perf_counter() - start))
        print(_format(rows[-1]), flush=True)
        if name == "full":  # the same trained weights, scored without the error head's offsets
            from seqattnet.engine.checkpoint import load_model

            model, cfg, classes = load_model(Path(args.out) / "full" / "last.pt")
            cfg.inference.refine = False
            ground_truth, _ = load_ground_truth(cfg)
            plain = evaluate_model(model, cfg, ground_truth, classes, cfg.data.val_subset,
                                   resolve_device(cfg.train.device), progress=False)
            rows.append(_row("no refinement", plain.detection, params, 0.0))
            print(_format(rows[-1]), flush=True)
    print()
    print(f"{'variant':<24} {'params':>10} {'mAP@0.5':>8} {'mAP@0.75':>9} {'mAP@0.95':>9} {'average':>8}")
    for r in rows:
        print(_format(r))
    if args.json:
        print(json.dumps(rows))
    return 0


def _row(name: str, detection, params: int, seconds: float) -> dict:
    mAP = dict(zip([round(t, 2) for t in detection.tious.tolist()], detection.mAP.tolist()))
    return {"variant": name, "params": params, "mAP@0.5": mAP[0.5], "mAP@0.75": mAP[0.75], "mAP@0.95": mAP[0.95],
            "average_mAP": detection.average_mAP, "train_seconds": seconds}


def _format(r: dict) -> str:
    return (f"{r['variant']:<24} {r['params']:>10,} {100 * r['mAP@0.5']:>8.2f} {100 * r['mAP@0.75']:>9.2f} "
            f"{100 * r['mAP@0.95']:>9.2f} {100 * r['average_mAP']:>8.2f}")


if __name__ == "__main__":
    sys.exit(main())
