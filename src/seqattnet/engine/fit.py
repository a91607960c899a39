"""A training run: set-up, epochs, checkpoints (last and best), resume, logging, distributed processes."""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..config import Config, apply_overrides, config_from_dict, save_config
from ..data.dataset import collate
from ..devices import resolve_device
from ..errors import InputError
from ..evaluation import write_results
from ..model import SeqAttNet
from ..structures import AnnotationSet
from .build import (build_dataset, build_model, build_optimizer, build_train_dataset, ensure_synthetic_data,
                    load_ground_truth)
from .checkpoint import read_checkpoint, restore_rng_states, save_checkpoint
from .distributed import (DistInfo, cleanup, init_distributed, local_batch_size, main_first, mean_over_processes,
                          wrap_model)
from .evaluate import EvaluationReport, evaluate_model, first_difference
from .train import NonFiniteLoss, TargetCache, train_one_epoch

log = logging.getLogger("seqattnet")


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


TEST_SUBSETS = ("test", "testing")  # never used to pick a checkpoint


@dataclass
class _Run:
    """What the epochs of one training run share."""

    cfg: Config
    out: Path
    info: DistInfo
    device: torch.device
    ground_truth: AnnotationSet
    classes: list[str]
    model: SeqAttNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    progress: bool
    scalars: object = None  # a TensorBoard SummaryWriter on rank 0 when tensorboard is installed
    best: float = -1.0  # best validation average mAP so far (train.eval_every > 0)


def train(cfg: Config, out_dir: str | Path, *, progress: bool = True,
          resume: bool = False) -> EvaluationReport | None:
    """Train into out_dir (config.yaml, last.pt, best.pt, train.log, metrics.json, results, tensorboard/).

    `resume` continues from out_dir/last.pt: weights, optimizer, scheduler, epoch and every RNG state,
    so on CPU the run ends with the same weights as an uninterrupted one. A non-finite loss raises
    NonFiniteLoss and leaves the last good last.pt in place. Under torchrun every process calls this
    (engine/distributed.py); rank 0 evaluates, writes and returns the report, the others return None.
    """
    check_val_subset(cfg)
    cfg = with_absolute_root(cfg)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    generator = seed_everything(cfg.train.seed)
    info, device = init_distributed(resolve_device(cfg.train.device, "train.device"))
    try:
        return _fit(cfg, Path(out_dir), info, device, generator, progress and info.is_main, resume)
    finally:
        cleanup(info)


def _fit(cfg: Config, out: Path, info: DistInfo, device: torch.device, generator: torch.Generator,
         progress: bool, resume: bool) -> EvaluationReport | None:
    with main_first(info):  # rank 0 writes the generated data and the feature caches, the others read them
        ensure_synthetic_data(cfg, progress)
        ground_truth, classes = load_ground_truth(cfg)
        train_set = build_train_dataset(cfg, ground_truth, classes)
        build_dataset(cfg, cfg.data.val_subset, ground_truth, classes)  # fail now, not after training
    batch_size = local_batch_size(cfg.train.batch_size, info)
    model = build_model(cfg).to(device)
    optimizer, scheduler = build_optimizer(cfg, model)
    run = _Run(cfg, out, info, device, ground_truth, classes, model, optimizer, scheduler, generator, progress)
    done = _restore(run) if resume else 0
    if info.is_main:
        _start_output(out, cfg, fresh=not resume)  # only now: bad input above leaves no output folder behind
        run.scalars = _tensorboard(out)
        if resume:
            log.info("resumed from %s after epoch %d", out / "last.pt", done)
        for line in train_set.skipped:
            log.warning("skipped: %s", line)
    sampler = DistributedSampler(train_set, info.world_size, info.rank, seed=cfg.train.seed) if info.enabled else None
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=sampler is None,
                        sampler=sampler, collate_fn=collate, generator=generator)
    log.info("training on %d items, %d parameters, device %s, %d process(es)", len(train_set),
             sum(p.numel() for p in model.parameters()), device, info.world_size)
    # random windows are new items every epoch: their targets are not worth keeping
    trained, cache = wrap_model(model, info, device), TargetCache(cfg, keep=not hasattr(train_set, "set_epoch"))
    for epoch in range(done + 1, cfg.train.epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)  # RandomWindows: new windows each epoch, from the seed and the epoch
        _epoch(run, trained, loader, cache, epoch)
    return _finish(run) if info.is_main else None


def _epoch(run: _Run, trained: torch.nn.Module, loader: DataLoader, cache: TargetCache, epoch: int) -> None:
    """One epoch of training; on rank 0 also its log line, scalars, optional evaluation and last.pt."""
    cfg, start = run.cfg, time.perf_counter()
    try:
        losses = train_one_epoch(trained, loader, run.optimizer, cfg, run.device, epoch, run.generator,
                                 run.progress, cache)
    except NonFiniteLoss as e:
        raise NonFiniteLoss(_non_finite_message(e, run.out / "last.pt")) from None
    losses = mean_over_processes(losses, run.info, run.device)
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step()
    if not run.info.is_main:
        return
    _add_scalars(run.scalars, epoch, {**{f"loss/{k}": v for k, v in losses.items()}, "lr": lr})
    log.info("epoch %d/%d  %.0f s  %s", epoch, cfg.train.epochs, time.perf_counter() - start,
             "  ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    if cfg.train.eval_every > 0 and epoch % cfg.train.eval_every == 0 and epoch < cfg.train.epochs:
        _keep_best(run, _validate(run), epoch)
    save_checkpoint(run.out / "last.pt", run.model, cfg, run.classes, optimizer=run.optimizer,
                    scheduler=run.scheduler, epoch=epoch, metrics={"loss": losses, "best_average_mAP": run.best},
                    generator=run.generator)


def _validate(run: _Run) -> EvaluationReport:
    return evaluate_model(run.model, run.cfg, run.ground_truth, run.classes, run.cfg.data.val_subset, run.device,
                          run.progress)


def _finish(run: _Run) -> EvaluationReport:
    """The final model on the validation subset: metrics.json, the result JSON, best.pt if it is the best."""
    cfg, out = run.cfg, run.out
    report = _validate(run)
    if cfg.train.eval_every > 0:
        _keep_best(run, report, cfg.train.epochs)
    elif report.detection is not None:
        _add_scalars(run.scalars, cfg.train.epochs, {f"{cfg.data.val_subset}/average_mAP": report.detection.average_mAP})
    if run.scalars is not None:
        run.scalars.close()
    write_results(out / f"results_{cfg.data.val_subset}.json", report.results)
    (out / "metrics.json").write_text(json.dumps(report.summary(), indent=2))
    log.info("%s: %s", cfg.data.val_subset, json.dumps(report.summary()))
    return report


def _start_output(out: Path, cfg: Config, fresh: bool = True) -> None:
    """The run folder with its log and resolved config; stale temporary checkpoints (and, for a fresh run,
    the best.pt of an earlier run) removed."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*.pt.*.tmp"), *([out / "best.pt"] if fresh else [])]:  # *.tmp: a run killed mid-save
        stale.unlink(missing_ok=True)
    _log_to(out / "train.log")
    save_config(cfg, out / "config.yaml")


RUN_FILES = ("last.pt", "best.pt", "config.yaml", "train.log", "metrics.json")  # a folder with one holds a run


def check_run_folder(out_dir: str | Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train into a folder that holds a finished or interrupted run, unless resuming it or told
    to overwrite it."""
    out = Path(out_dir)
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found and not (resume or overwrite):
        raise InputError.at("--out", f"{str(out)!r} already holds a run ({', '.join(found)}); pass --resume to "
                            "continue it, --overwrite to replace it, or choose another --out")


def with_absolute_root(cfg: Config) -> Config:
    """A copy of `cfg` with data.root absolute, so that the run's checkpoints evaluate from any folder."""
    cfg = copy.deepcopy(cfg)
    cfg.data.root = str(Path(cfg.data.root).resolve())  # "" (the current folder) included
    return cfg


def check_val_subset(cfg: Config) -> None:
    if cfg.data.val_subset.lower() in TEST_SUBSETS:
        raise InputError.at("data.val_subset", f"{cfg.data.val_subset!r} is the test subset, which must never pick "
                            "a checkpoint; set --set data.val_subset=validation and evaluate the test subset "
                            "afterwards with `seqattnet evaluate --split`")


def resume_config(out_dir: str | Path, given: Config | None, overrides: list[str]) -> Config:
    """The config to resume out_dir with: `given` (from --config) or the saved one, plus `overrides`.

    Refuses when there is no out_dir/last.pt or when the result would build a different model.
    """
    path = Path(out_dir) / "last.pt"
    if not path.exists():
        raise InputError.at(path, "no checkpoint to resume from; train without --resume to start this run")
    saved = config_from_dict(read_checkpoint(path)["config"], str(path))
    cfg = given if given is not None else copy.deepcopy(saved)
    apply_overrides(cfg, overrides)
    changed = [f"model.{k}: {v!r} -> {getattr(cfg.model, k)!r}" for k, v in vars(saved.model).items()
               if getattr(cfg.model, k) != v]
    if changed:
        raise InputError.at("--resume", f"the run's model would change ({', '.join(changed)}); resume without "
                            "those --config/--set values, or train into a new --out")
    return cfg


def _restore(run: _Run) -> int:
    """Load out/last.pt into the run's model, optimizer, scheduler and RNGs; the epochs it finished."""
    path = run.out / "last.pt"
    state = read_checkpoint(path)
    if list(state["classes"]) != list(run.classes):
        raise InputError.at(path, f"the checkpoint's class list differs from the dataset's "
                            f"({first_difference(list(state['classes']), run.classes)}); resume with the run's data, "
                            "or train into a new --out")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    restore_rng_states(state["rng"], run.generator)
    run.best = float(state["metrics"].get("best_average_mAP", -1.0))
    return int(state["epoch"])


def _keep_best(run: _Run, report: EvaluationReport, epoch: int) -> None:
    """Write best.pt when the validation average mAP beats the best so far."""
    if report.detection is None:
        raise InputError.at("data.val_subset", f"{run.cfg.data.val_subset!r} has no ground truth to pick best.pt "
                            "with; choose a subset with annotations or set train.eval_every=0")
    mAP = report.detection.average_mAP
    _add_scalars(run.scalars, epoch, {f"{run.cfg.data.val_subset}/average_mAP": mAP})
    log.info("epoch %d  %s average mAP %.4f (best before %.4f)", epoch, run.cfg.data.val_subset, mAP, max(run.best, 0))
    if mAP > run.best:
        save_checkpoint(run.out / "best.pt", run.model, run.cfg, run.classes, epoch=epoch, metrics=report.summary())
        run.best = mAP


def _non_finite_message(error: NonFiniteLoss, last: Path) -> str:
    kept = f"kept the last good checkpoint {last}" if last.exists() else "no checkpoint was written"
    return (f"{error}; training stopped and {kept}; lower train.lr or set train.grad_clip "
            "(then --resume, or train into a new --out)")


def _tensorboard(out: Path):
    """A SummaryWriter into out/tensorboard, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("no TensorBoard scalars: pip install 'seqattnet[tensorboard]' to get them")
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _add_scalars(writer, step: int, values: dict[str, float]) -> None:
    if writer is not None:
        for name, value in values.items():
            writer.add_scalar(name, value, step)


def _log_to(path: Path) -> None:
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        if isinstance(handler, logging.FileHandler):
            log.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
