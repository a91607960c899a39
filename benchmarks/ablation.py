"""Ablation on both built-in data modes over seeds: the paper's model, the shipped recipe, each change removed.

For every mode (`standard`, `hard`: docs/data.md) and seed, two runs train as `seqattnet train` does:
  paper model          the demo network with the paper's error head (PAPER below)
  shipped default      the demo config as shipped
each scored with and without refinement (`inference.refine=false`, the same weights). Each kept change
then is removed alone. The changes of HEAD_ONLY touch the error head only, and the error head shares nothing with
the rest of the model: its 3D input is built from the input features, its loss reaches only its own
parameters. So a variant's error head is trained alone on the shipped default's run (its proposal stage
and class head, the same epochs, lr, batch size and data order), which is close to what training the variant
from scratch would give, less the run-to-run noise of the other parts; it is compared with the shipped
error head retrained alone the same way (HEAD_REFERENCE), so the difference is the change's alone.
A change of the whole training (RETRAINED) is removed by a run of its own, a change of inference (INFERENCE) by
scoring the shipped default's weights again without it; the paper's proposal stage (COST), Table 1's widths
in place of the shipped ones, is measured by a run of its own. Last, the accuracy-per-parameter curve: the
shipped default with the proposal stage at 1, 1/2 and 1/4 of the demo's widths (SIZES).

    python benchmarks/ablation.py [--config demo] [--seeds 0,1,2] [--modes standard,hard] [--out runs/ablation]
                                  [--parts core,removals,cost,sizes] [--reuse] [--set key=value ...] [--json]

Each mode's dataset is generated once into OUT/data-MODE (seed 0), so only training varies between seeds.
`--config activitynet` trains the ActivityNet recipe (T = 100) on the same built-in data (its runs go to
OUT/activitynet/MODE). `--config thumos14` trains the windowed recipe on the built-in THUMOS-shaped data
(200 Validation videos, generated once into OUT/data-thumos-MODE) and scores it on its 212 Test videos
(thumos protocol: mAP at tIoU 0.3, 0.5, 0.7 and their average over 0.3:0.1:0.7); its rows are the shipped
default with and without refinement, the removals of THUMOS_RETRAINED and THUMOS_INFERENCE and the cost part
(no paper model, whose training is the demo's). `--parts none` trains and scores the shipped default alone.
With `--reuse`, a finished run whose config is unchanged (but for train.num_threads) is kept and an
interrupted one resumes from its last.pt, so a long ablation can be stopped and started again.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

from seqattnet.config import Config, InferenceConfig, apply_override, config_from_dict, load_config, to_dict
from seqattnet.data.dataset import collate
from seqattnet.engine.build import build_dataset, build_model, build_optimizer, load_ground_truth, resolve_device
from seqattnet.engine.checkpoint import load_model
from seqattnet.engine.evaluate import evaluate_model, evaluate_variants
from seqattnet.engine.fit import seed_everything, train
from seqattnet.engine.train import TargetCache, batch_targets
from seqattnet.losses import error_loss

# the paper's error head, its training rows and the demo's training before the shipped recipe (constant lr)
PAPER = ["model.error_input=proposal", "labels.error_rows=cells", "loss.lambda_er=1", "train.epochs=6",
         "train.lr_step=0", "labels.map_iou=absolute", "labels.min_region=0", "inference.soft_nms_t1=0.5",
         "inference.soft_nms_t2=0.9"]
HEAD_ONLY = {  # kept changes of the error head, each removed alone: the error head retrained on the default's run
    "- boundary windows (paper's 3D input)": ["model.error_input=proposal"],
    "- jittered rows (random IoU>=0.5 cells)": ["labels.error_rows=cells"],
    "- error loss weight 10 (Table 4's 1)": ["loss.lambda_er=1"],
}
HEAD_REFERENCE = "shipped default, error head retrained alone"  # what each HEAD_ONLY removal is compared with
RETRAINED = {  # kept changes of the whole training, each removed alone: a run of its own
    "- longer training (6 epochs, constant lr)": ["train.epochs=6", "train.lr_step=0"],
    "- short-action targets (the paper's G_C and regions)": ["labels.map_iou=absolute", "labels.min_region=0"],
}
INFERENCE = {  # kept changes of inference, each removed alone: the shipped default's own weights scored again
    "- Soft-NMS on every overlap (BMN's threshold)": ["inference.soft_nms_t1=0.5", "inference.soft_nms_t2=0.9"],
}
THUMOS_INFERENCE = {  # the windowed recipe's kept changes of inference (configs/thumos14.yaml), each removed alone
    **INFERENCE,
    "- a second label per candidate": ["inference.top_k_classes=1"],
    "- class-aware Soft-NMS": ["inference.soft_nms_classes=agnostic"],
    "- 200 detections a window (100)": ["inference.max_detections=100"],
    "- centre merge (every window's candidates)": ["windows.merge=all"],
    "- local suppression (one Soft-NMS a video)": ["inference.window_suppression=video"],
}
THUMOS_RETRAINED = {  # the windowed recipe's kept changes of training, each removed alone: a run of its own
    "- longer training (4 windows a video, 6 epochs)": ["windows.train_per_video=4", "train.epochs=6",
                                                        "train.lr_step=5"],
}
THUMOS_DATA = ["synthetic.generate=true", "data.annotations=annotations.json", "data.features=features",
               "data.classes=classes.txt"]  # the THUMOS-shaped videos of the config's synthetic section
COST = {  # the paper's proposal stage against the shipped one (docs/model.md, "The proposal stage's cost")
    "Table 1 proposal stage (BM 512, map 128)": ["model.bm_channels=512", "model.map_channels=128"],
}
SIZES = {  # proposal-stage widths (base, BM, map channels): the demo's, half, quarter
    "proposal stage x1": [],
    "proposal stage x1/2": ["model.base_channels=64", "model.bm_channels=128", "model.map_channels=32"],
    "proposal stage x1/4": ["model.base_channels=32", "model.bm_channels=64", "model.map_channels=16"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="demo", help="the recipe every run starts from, trained on the built-in data")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--modes", default="standard,hard", help="built-in data modes (synthetic.mode)")
    parser.add_argument("--out", default="runs/ablation", help="runs and datasets go here")
    parser.add_argument("--parts", default="core,removals,cost,sizes",
                        help="core: the paper model and the shipped default, with and without refinement; "
                             "removals: each kept change removed alone; cost: the shipped default (with and without "
                             "refinement) against the paper's proposal stage; sizes: the proposal-stage size curve")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the finished runs in OUT whose config is unchanged (scored again)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for every run, after each variant's own (repeatable), e.g. "
                             "train.num_threads=1")
    parser.add_argument("--json", action="store_true", help="last stdout line: every row as JSON")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows, config = [], Recipe(args.config)
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        results: dict[str, list[dict]] = {}
        for seed in seeds:
            for name, scores in run_seed(config, Path(args.out), mode, seed, args.set, args.parts.split(","), args.reuse).items():
                results.setdefault(name, []).append(scores)
        rows += [summarise(mode, name, runs) for name, runs in results.items()]
        print_table([r for r in rows if r["mode"] == mode], seeds)
        print_checks(mode, results)
    if args.json:
        print(json.dumps(rows))
    return 0


class Recipe:
    """A shipped config trained on a built-in dataset. A config of whole videos gets the demo's data and
    synthetic sections (and its number of classes) in place of its own, so `activitynet` (T = 100) reads the
    same videos as `demo`; a windowed config (`thumos14`) gets the THUMOS-shaped data (THUMOS_DATA)."""

    def __init__(self, name: str):
        self.name = name
        self.windowed = load_config(name).windows.enabled
        demo = to_dict(load_config("demo"))
        self.data = [] if name == "demo" else THUMOS_DATA if self.windowed else [
            *(f"{section}.{key}={value}" for section in ("data", "synthetic") for key, value in demo[section].items()),
            f"model.num_classes={demo['synthetic']['classes']}"]
        self.paper = not self.windowed  # the paper model's training (PAPER) is the demo's
        self.inference = THUMOS_INFERENCE if self.windowed else INFERENCE
        self.retrained = THUMOS_RETRAINED if self.windowed else RETRAINED
        self.scored = "test" if self.windowed else None  # None: data.val_subset, the run's own final evaluation

    def load(self, overrides: list[str]) -> Config:
        return load_config(self.name, [*self.data, *overrides])

    def folder(self, out: Path, mode: str) -> Path:
        return out / mode if self.name == "demo" else out / self.name / mode

    def data_root(self, out: Path, mode: str) -> Path:
        return out / (f"data-thumos-{mode}" if self.windowed else f"data-{mode}")


def run_seed(recipe: Recipe, out: Path, mode: str, seed: int, overrides: list[str], parts: list[str],
             reuse: bool) -> dict[str, dict]:
    """Every variant of one mode and seed -> {variant: scores}."""
    data = [f"data.root={recipe.data_root(out, mode)}", f"synthetic.mode={mode}", f"train.seed={seed}"]
    folder, scores = recipe.folder(out, mode) / f"seed_{seed}", {}
    trained = functools.partial(train_run, recipe, folder)
    refine_off = {"refinement off": ["inference.refine=false"]}  # the same weights
    # the shipped default's weights scored as shipped and with each inference change removed, in one pass
    default = trained("shipped default", data + overrides, reuse,
                      {**(refine_off if {"core", "cost"} & set(parts) else {}),
                       **(recipe.inference if "removals" in parts else {})})
    if "core" in parts:
        if recipe.paper:
            paper = trained("paper model", data + PAPER + overrides, reuse, refine_off)
            scores |= {"paper model": paper[""], "paper model, refinement off": paper["refinement off"]}
        scores |= {"shipped default": default[""], "shipped default, refinement off": default["refinement off"]}
    if "removals" in parts:
        if recipe.paper:  # the error head's changes, as in the demo network
            shipped = recipe.load(data + overrides).inference
            for name, extra in {HEAD_REFERENCE: [], **HEAD_ONLY}.items():
                scores[name] = retrain_error_head(folder / "shipped_default" / "last.pt", extra, seed, shipped)
        scores.setdefault("shipped default", default[""])  # what each RETRAINED removal is compared with
        for name, extra in recipe.retrained.items():
            scores[name] = trained(name, data + extra + overrides, reuse)[""]
        scores |= {name: default[name] for name in recipe.inference}
    if "cost" in parts:
        scores |= {"shipped default": default[""], "shipped default, refinement off": default["refinement off"]}
        for name, extra in COST.items():
            scores[name] = trained(name, data + extra + overrides, reuse)[""]
    if "sizes" in parts:
        for name, extra in SIZES.items():
            scores[name] = trained(name, data + extra + overrides, reuse)[""] if extra else default[""]
    scores.setdefault("shipped default", default[""])  # the one row of --parts none
    for name, value in scores.items():
        print(f"{mode} seed {seed}: {name} {value['average_mAP']:.2f}", flush=True)
    return scores


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def train_run(recipe: Recipe, folder: Path, name: str, overrides: list[str], reuse: bool = False,
              variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Train the recipe with `overrides` into folder/<name>, as `seqattnet train` does (with `reuse`, a finished
    run there is kept and an interrupted one resumed) -> its scores on the recipe's scored subset: under "" with
    the config as trained, under each name of `variants` with its overrides after that (the same weights). With
    no variants on data.val_subset they are the run's own final evaluation (metrics.json: last.pt on
    data.val_subset, with the same config), not computed again."""
    run, cfg = folder / _slug(name), recipe.load(overrides)
    start = time.perf_counter()
    same = reuse and _same_config(run, cfg)
    if not (same and (run / "metrics.json").exists()):
        resume = same and (run / "last.pt").exists()
        if not resume:
            shutil.rmtree(run, ignore_errors=True)
        train(cfg, run, progress=False, resume=resume)
    variants = {"": [], **(variants or {})}
    if len(variants) > 1 or recipe.scored:
        return score(run / "last.pt", cfg, variants, time.perf_counter() - start, recipe.scored)
    params = sum(p.numel() for p in load_model(run / "last.pt")[0].parameters())
    return {"": scores_of(json.loads((run / "metrics.json").read_text()), params, time.perf_counter() - start)}


def _same_config(run: Path, cfg: Config) -> bool:
    """run/ holds a run, finished or not, of exactly cfg."""
    if not (run / "config.yaml").exists():
        return False
    saved, wanted = to_dict(config_from_dict(yaml.safe_load((run / "config.yaml").read_text()))), to_dict(cfg)
    for c in (saved, wanted):  # training stores data.root resolved; threads change the speed, not what is trained
        c["data"]["root"] = str(Path(c["data"]["root"]).resolve())
        c["train"].pop("num_threads")
    return saved == wanted


def score(checkpoint: Path, cfg: Config, variants: dict[str, list[str]], seconds: float,
          subset: str | None = None) -> dict[str, dict]:
    """mAP (%) on `subset` (default: data.val_subset) and parameters of a checkpoint's weights, scored with
    cfg's inference section and then each variant's overrides -> {variant: scores}. Variants that differ
    only in their inference section are scored in one pass over the data (`evaluate_variants`)."""
    model, saved, classes = load_model(checkpoint)
    saved.inference = copy.deepcopy(cfg.inference)
    configs = {}
    for name, overrides in variants.items():
        configs[name] = copy.deepcopy(saved)
        for item in overrides:
            apply_override(configs[name], item)
    passes: dict[str, list[str]] = {}  # the variants of one pass: equal configs but for their inference sections
    for name, c in configs.items():
        passes.setdefault(json.dumps(to_dict(dataclasses.replace(c, inference=InferenceConfig()))), []).append(name)
    ground_truth, _ = load_ground_truth(saved)
    params, out = sum(p.numel() for p in model.parameters()), {}
    for names in passes.values():
        base = configs[names[0]]
        reports = evaluate_variants(model, base, [configs[n].inference for n in names], ground_truth, classes,
                                    subset or base.data.val_subset, resolve_device("cpu"), progress=False)
        out |= {n: scores_of(r.summary(), params, seconds) for n, r in zip(names, reports)}
    return {name: out[name] for name in variants}


def score_model(model: torch.nn.Module, cfg: Config, classes: list[str], seconds: float) -> dict:
    ground_truth, _ = load_ground_truth(cfg)
    report = evaluate_model(model, cfg, ground_truth, classes, cfg.data.val_subset, resolve_device("cpu"),
                            progress=False)
    return scores_of(report.summary(), sum(p.numel() for p in model.parameters()), seconds)


def scores_of(summary: dict, params: int, seconds: float) -> dict:
    """A report's summary (metrics.json) -> the table's figures (%): mAP at the protocol's first, middle and
    last tIoU (ActivityNet 0.5, 0.75, 0.95; THUMOS14 0.3, 0.5, 0.7) and the average."""
    tious, mAP = summary["tious"], summary["mAP"]
    picked = {f"mAP@{tious[i]:g}": 100 * mAP[i] for i in (0, len(tious) // 2, len(tious) - 1)}
    return {"params": params, **picked, "average_mAP": 100 * summary["average_mAP"], "seconds": seconds}


def metric_keys(scores: dict) -> list[str]:
    return [key for key in scores if key.startswith("mAP@")] + ["average_mAP"]


def retrain_error_head(checkpoint: Path, overrides: list[str], seed: int, inference: InferenceConfig) -> dict:
    """A new error head, configured by `overrides`, trained alone on a run's frozen proposal stage and class
    head with the run's epochs, lr, batch size and data order; its scores with `inference` and refinement."""
    start = time.perf_counter()
    run_model, cfg, classes = load_model(checkpoint)
    cfg = copy.deepcopy(cfg)
    cfg.inference = copy.deepcopy(inference)
    for item in overrides:
        apply_override(cfg, item)
    model = build_model(cfg)
    kept = {k: v for k, v in run_model.state_dict().items() if k.split(".")[0] not in ("error_head", "boundary_head")}
    missing = model.load_state_dict(kept, strict=False).missing_keys
    head = model.error_head if model.error_head is not None else model.boundary_head
    assert {k.split(".")[0] for k in missing} == {"error_head", "boundary_head"} & set(dict(model.named_children())), missing
    model.requires_grad_(False)
    head.requires_grad_(True)
    generator = seed_everything(seed)
    ground_truth, _ = load_ground_truth(cfg)
    loader = DataLoader(build_dataset(cfg, cfg.data.train_subset, ground_truth, classes),
                        batch_size=cfg.train.batch_size, shuffle=True, collate_fn=collate, generator=generator)
    optimizer, scheduler = build_optimizer(cfg, head)
    cache = TargetCache(cfg)
    model.train()
    for _ in range(cfg.train.epochs):
        for batch in loader:
            targets = batch_targets(batch, cfg, generator, cache)
            heads = model.heads(batch.features, targets.proposals[targets.num_class_rows:])
            loss = cfg.loss.lambda_er * error_loss(heads, targets.error_offsets)  # as in the joint loss (Eq. 17)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    return score_model(model, cfg, classes, time.perf_counter() - start)


def summarise(mode: str, name: str, runs: list[dict]) -> dict:
    """Mean and sample std (0 for one seed) of each metric over the seeds."""
    row = {"mode": mode, "variant": name, "params": runs[0]["params"], "seeds": len(runs)}
    for key in metric_keys(runs[0]):
        values = [r[key] for r in runs]
        row[key] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return row


def print_table(rows: list[dict], seeds: list[int]) -> None:
    print(f"\n{rows[0]['mode']} data, seeds {','.join(map(str, seeds))}: mAP (%), mean ± std")
    keys = metric_keys(rows[0])
    print(f"{'variant':<42} {'params':>10} " + " ".join(f"{k.replace('_mAP', ''):>13}" for k in keys))
    for r in rows:
        cells = " ".join(f"{r[k][0]:>6.2f} ± {r[k][1]:>4.2f}" for k in keys)
        print(f"{r['variant']:<42} {r['params']:>10,} {cells}")


def print_checks(mode: str, results: dict[str, list[dict]]) -> None:
    """Per-seed differences, mean ± std: refinement's gain on the shipped default's own weights, the shipped
    default against the paper's model, and each removal against what it is removed from."""
    pairs = [("refinement gain (same weights)", "shipped default", "shipped default, refinement off"),
             ("shipped default - paper model", "shipped default", "paper model")]
    pairs += [(name, name, HEAD_REFERENCE) for name in HEAD_ONLY]
    pairs += [(name, name, "shipped default") for name in [*RETRAINED, *THUMOS_RETRAINED, *THUMOS_INFERENCE, *COST]]
    for label, a, b in pairs:
        if a not in results or b not in results:
            continue
        diffs = [x["average_mAP"] - y["average_mAP"] for x, y in zip(results[a], results[b])]
        std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        print(f"{mode}: {label}: {statistics.fmean(diffs):+.2f} ± {std:.2f} average mAP (per-seed differences: "
              + ", ".join(f"{d:+.2f}" for d in diffs) + ")", flush=True)


if __name__ == "__main__":
    sys.exit(main())
