"""Seed variance: train the same config with several seeds and print mean ± std of each metric.

Each seed trains into OUT/seed_<n> (its own checkpoint, log and metrics.json); the table reports the
average mAP, the mAP at each tIoU, AR@AN and AUC over the seeds (std is the sample standard deviation,
0 for one seed). A single number from one seed hides how much of a difference between two configs is
noise; run this on both before believing the difference. With the built-in data (synthetic.generate) the
dataset is generated once, by the first seed, so only the training varies between seeds.

    python benchmarks/seeds.py [--config demo] [--seeds 0,1,2] [--out runs/seeds] [--set key=value ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from seqattnet.config import load_config
from seqattnet.engine.fit import train


def flatten(summary: dict) -> dict[str, float]:
    """One metrics.json summary as {name: value}: average_mAP, mAP@tIoU, AR@AN, AUC."""
    flat = {"average_mAP": float(summary["average_mAP"])}
    flat.update({f"mAP@{t:.2f}": float(m) for t, m in zip(summary["tious"], summary["mAP"])})
    flat.update({f"AR@{k}": float(v) for k, v in summary["AR@AN"].items()})
    flat["AUC"] = float(summary["AUC"])
    return flat


def mean_std(summaries: list[dict]) -> dict[str, tuple[float, float]]:
    """(mean, sample std) of every metric over the runs; std is 0 for a single run."""
    flats = [flatten(s) for s in summaries]
    return {name: (statistics.fmean(f[name] for f in flats),
                   statistics.stdev(f[name] for f in flats) if len(flats) > 1 else 0.0)
            for name in flats[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="demo", help="shipped config name or YAML path")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--out", default="runs/seeds", help="one run folder per seed goes here")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--json", action="store_true", help="last stdout line: {metric: [mean, std]}")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    summaries = []
    for seed in seeds:
        cfg = load_config(args.config, args.set + [f"train.seed={seed}"])
        report = train(cfg, Path(args.out) / f"seed_{seed}", progress=sys.stderr.isatty())
        summaries.append(report.summary())
        print(f"seed {seed}: average mAP {100 * report.detection.average_mAP:.2f}", flush=True)
    stats = mean_std(summaries)
    print(f"\n{len(seeds)} seeds ({args.seeds}), {args.config}; mean ± std in %")
    for name, (mean, std) in stats.items():
        print(f"  {name:<12} {100 * mean:6.2f} ± {100 * std:5.2f}")
    if args.json:
        print(json.dumps({name: list(v) for name, v in stats.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
