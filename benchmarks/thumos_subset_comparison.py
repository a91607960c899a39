"""The windowed recipe against the one it replaced, trained on the same subset of the built-in THUMOS-shaped data.

Both are trained with the same seed on the first `--videos` training (Validation) videos of the built-in
THUMOS-shaped data and scored on its Test videos (THUMOS14 protocol, tIoU 0.3:0.1:0.7):
- the recipe: the shipped `thumos14` (random windows a video each epoch, the cheaper proposal stage);
- the reference: the windowed recipe before random windows (every overlapping window each epoch, Table 1's
  proposal stage, 10 epochs at a constant lr: `bench_thumos_training.REFERENCE`), a few hours on 2 cores.
Runs are kept in OUT and resumed from their last epoch when the script is started again with the same
settings; the scores go to OUT/comparison.json.

    python benchmarks/thumos_subset_comparison.py --data runs/thumos-syn/data --out runs/thumos-subset
    python benchmarks/thumos_subset_comparison.py --videos 2 --test-videos 2 --set train.epochs=1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import Recipe, train_run  # noqa: E402  (benchmarks/ is not a package)
from bench_thumos_training import REFERENCE  # noqa: E402

from seqattnet.engine.build import ensure_synthetic_data  # noqa: E402


def subset_annotations(source: Path, target: Path, videos: int, test_videos: int | None) -> None:
    """source's annotation file with its first `videos` Validation videos (and the first `test_videos` Test
    videos, all by default), by video id, written to target."""
    data = json.loads(source.read_text())
    database = data["database"]
    ids = {subset: sorted(v for v in database if database[v]["subset"] == subset) for subset in ("Validation", "Test")}
    kept = ids["Validation"][:videos] + ids["Test"][:test_videos]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**data, "database": {v: database[v] for v in kept}}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="runs/thumos-syn/data", help="the built-in data (generated there if absent)")
    parser.add_argument("--out", default="runs/thumos-subset", help="runs and the subset's annotation file go here")
    parser.add_argument("--videos", type=int, default=50, help="training videos of the subset")
    parser.add_argument("--test-videos", type=int, help="Test videos scored (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for both runs, e.g. train.epochs=1 (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    recipe, scores = Recipe("thumos14"), {}
    ensure_synthetic_data(recipe.load([f"data.root={data}"]), progress=True)  # the recipe's built-in data
    subset_annotations(data / "annotations.json", out / "data" / "annotations.json", args.videos, args.test_videos)
    common = [f"data.root={out / 'data'}", "synthetic.generate=false", f"data.features={data / 'features'}",
              f"data.classes={data / 'classes.txt'}", f"train.seed={args.seed}", f"train.num_threads={args.threads}",
              *args.set]
    for name, extra in {"recipe": [], "reference": REFERENCE}.items():
        scores[name] = train_run(recipe, out, name, [*extra, *common], reuse=True)[""]
        print(f"{name}: average mAP {scores[name]['average_mAP']:.2f} on the Test videos, "
              f"{scores[name]['params']:,} parameters, {scores[name]['seconds'] / 60:.1f} min", flush=True)
    difference = scores["recipe"]["average_mAP"] - scores["reference"]["average_mAP"]
    print(f"recipe - reference: {difference:+.2f} average mAP ({args.videos} training videos, seed {args.seed})")
    (out / "comparison.json").write_text(json.dumps({"videos": args.videos, "seed": args.seed, "set": args.set,
                                                     **scores, "difference": difference}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
