"""A training run: set-up, epochs, checkpoints (last and best), resume, logging, distributed processes."""

from __future__ import annotations

import contextlib
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

from ..config import Config, apply_overrides, config_from_dict, load_config, save_config
from ..config_files import shipped_configs
from ..data.dataset import collate
from ..data.windows import RandomWindows
from ..devices import resolve_device
from ..errors import InputError, arg, argument, counted, on_command_line
from ..evaluation import write_results
from ..files import write_text_atomic
from ..model import SeqAttNet
from ..structures import AnnotationSet
from .build import build_model, build_optimizer, build_training_sets, ensure_synthetic_data, load_ground_truth
from .checkpoint import read_checkpoint, restore_rng_states, save_checkpoint
from .distributed import (DistInfo, cleanup, init_distributed, local_batch_size, main_first, mean_over_processes,
                          wrap_model)
from .evaluate import EvaluationReport, evaluate_model, first_difference
from .run_folder import FolderRules, Interrupted, interrupted_message, run_lock
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
    saved: int = 0  # the epoch last.pt holds (0: none yet)
    rules: FolderRules = FolderRules()  # resume or overwrite
    log: logging.Handler | None = None  # the run's train.log, on rank 0


def train(cfg: Config, out: str | Path, *, progress: bool = True, resume: bool = False,
          overwrite: bool = False) -> EvaluationReport | None:
    """Train into out (config.yaml, last.pt, best.pt, train.log, metrics.json, results, tensorboard/).

    A folder that holds a run (a checkpoint or metrics.json) is refused unless `resume` (continue from
    out/last.pt: weights, optimizer, scheduler, epoch and every RNG state, so on CPU the run ends with the
    same weights as an uninterrupted one) or `overwrite` (train over it). One process writes a folder at a
    time (out/.lock). Ctrl-C raises Interrupted, saying which epoch last.pt holds and how to resume. A
    non-finite loss raises NonFiniteLoss and leaves the last good last.pt in place. Messages name `out`,
    `resume` and `overwrite` as the caller wrote them (errors.arg: Python keywords, or the command line's
    flags). Under torchrun every process calls this (engine/distributed.py); rank 0 evaluates, writes and
    returns the report, the others return None.
    """
    check_val_subset(cfg)
    rules = FolderRules(resume, overwrite)
    rules.check(Path(out))  # before any work
    cfg = with_absolute_root(cfg)
    if cfg.train.num_threads > 0:
        torch.set_num_threads(cfg.train.num_threads)
    generator = seed_everything(cfg.train.seed)
    info, device = init_distributed(resolve_device(cfg.train.device, "train.device"))
    try:
        return _fit(cfg, Path(out), info, device, generator, progress and info.is_main, rules)
    finally:
        cleanup(info)


def _fit(cfg: Config, out: Path, info: DistInfo, device: torch.device, generator: torch.Generator,
         progress: bool, rules: FolderRules) -> EvaluationReport | None:
    with main_first(info):  # rank 0 writes the generated data and the feature caches, the others read them
        ensure_synthetic_data(cfg, progress)
        ground_truth, classes = load_ground_truth(cfg)
        train_set = build_training_sets(cfg, ground_truth, classes)  # the validation set's problems show now
    batch_size = local_batch_size(cfg.train.batch_size, info)
    model = build_model(cfg).to(device)
    optimizer, scheduler = build_optimizer(cfg, model)
    run = _Run(cfg, out, info, device, ground_truth, classes, model, optimizer, scheduler, generator, progress,
               rules=rules)
    # only now, after the input checks above, so bad input leaves no output folder behind; rank 0 writes
    with run_lock(out) if info.is_main else contextlib.nullcontext(), _run_log(run):
        note = rules.check(out, locked=True) if info.is_main else None  # again: another run may have ended since
        run.saved = done = _restore(run) if rules.resume else 0
        if info.is_main:
            _start_output(run, train_set, done, note)
        sampler = DistributedSampler(train_set, info.world_size, info.rank, seed=cfg.train.seed) if info.enabled else None
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=sampler is None,
                            sampler=sampler, collate_fn=collate, generator=generator)
        return _epochs(run, wrap_model(model, info, device), loader, sampler, done)


def _epochs(run: _Run, trained: torch.nn.Module, loader: DataLoader, sampler, done: int) -> EvaluationReport | None:
    """Epochs done + 1 .. train.epochs, then the final evaluation on rank 0; Ctrl-C raises Interrupted."""
    train_set = loader.dataset
    # random windows are new items every epoch: their targets are not worth keeping
    epoch, cache = done + 1, TargetCache(run.cfg, keep=not hasattr(train_set, "set_epoch"))
    try:
        for epoch in range(done + 1, run.cfg.train.epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process
            if hasattr(train_set, "set_epoch"):
                train_set.set_epoch(epoch)  # RandomWindows: new windows each epoch, from the seed and the epoch
            _epoch(run, trained, loader, cache, epoch)
        epoch = run.cfg.train.epochs + 1
        return _finish(run) if run.info.is_main else None
    except KeyboardInterrupt:
        message = interrupted_message(run.out, epoch, run.cfg.train.epochs, run.saved)
        log.warning("%s", message)
        raise Interrupted(message) from None
    except Exception as e:  # the log says why the run stopped; the caller reports it
        log.error("stopped: %s: %s", type(e).__name__, e)
        raise


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
    run.saved = epoch


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
    write_text_atomic(out / "metrics.json", json.dumps(report.summary(), indent=2))
    log.info("%s: %s", cfg.data.val_subset, json.dumps(report.summary()))
    return report


def _start_output(run: _Run, train_set, done: int, note: str | None) -> None:
    """The run folder's resolved config, log (a fresh run starts a new train.log, a resumed one appends) and
    TensorBoard writer, and the log's first lines; stale temporary checkpoints (and, for a fresh run, the
    best.pt and metrics.json of an earlier run) removed."""
    out, fresh = run.out, not run.rules.resume
    stale = [*out.glob("*.tmp"), *([out / "best.pt", out / "metrics.json"] if fresh else [])]  # "*" matches dotfiles
    for path in stale:  # *.tmp: an output whose writer was killed before it renamed it
        path.unlink(missing_ok=True)
    save_config(run.cfg, out / "config.yaml")
    run.log = _log_to(out / "train.log", mode="w" if fresh else "a")
    run.scalars = _tensorboard(out)
    if note:
        log.warning("%s", note)
    if done:
        log.info("resumed from %s after epoch %d", out / "last.pt", done)
    for line in train_set.skipped:
        log.warning("skipped: %s", line)
    log.info("training on %s, %d parameters, device %s, %d process(es)", describe_items(train_set),
             sum(p.numel() for p in run.model.parameters()), run.device, run.info.world_size)


def describe_items(dataset) -> str:
    """What one epoch goes through: `24 videos`, `15 windows of 6 videos` with windows.enabled, or
    `12 random windows of 6 videos` with windows.train_per_video."""
    if isinstance(dataset, RandomWindows):
        return f"{counted(len(dataset), 'random window')} of {counted(len(dataset.base.video_ids), 'video')}"
    windows = getattr(dataset, "windows", None)
    if windows is None:
        return counted(len(dataset), "video")
    return f"{counted(len(windows), 'window')} of {counted(len({w.video_id for w in windows}), 'video')}"


def run_config(config: str | Path | Config | None, out: str | Path, overrides: list[str] = (), *,
               resume: bool = False, seed: int | None = None) -> Config:
    """The config a training run into `out` uses: `config` (a shipped name, a YAML path or a Config) with
    `overrides` and `seed`; with `resume`, `config` or else the run's saved one (see resume_config). The folder
    itself is `train`'s to check (run_folder.check_run_folder), before any work."""
    if config is None and not resume:
        example = ("`seqattnet train --config demo --out runs/x`; `seqattnet demo` is the demo" if on_command_line()
                   else "seqattnet.train(\"demo\", \"runs/x\")")
        raise InputError.at(argument("config"), f"train needs a config: a shipped name ({', '.join(shipped_configs())}) "
                            f"or a YAML path, unless {arg('resume', True)}; e.g. {example}")
    given = copy.deepcopy(config) if isinstance(config, Config) else None
    if given is None and config is not None:
        given = load_config(config)
    if resume:
        return resume_config(out, given, list(overrides))
    apply_overrides(given, list(overrides))
    if seed is not None:
        given.train.seed = seed
    return given


def with_absolute_root(cfg: Config) -> Config:
    """A copy of `cfg` with data.root absolute, so that the run's checkpoints evaluate from any folder."""
    cfg = copy.deepcopy(cfg)
    cfg.data.root = str(Path(cfg.data.root).resolve())  # "" (the current folder) included
    return cfg


def check_val_subset(cfg: Config) -> None:
    if cfg.data.val_subset.lower() in TEST_SUBSETS:
        raise InputError.at("data.val_subset", f"{cfg.data.val_subset!r} is the test subset, which must never pick "
                            f"a checkpoint; set {arg('overrides', ('data.val_subset', 'validation'))} and "
                            "evaluate the test subset afterwards with `seqattnet evaluate --split`")


def resume_config(out_dir: str | Path, given: Config | None, overrides: list[str]) -> Config:
    """The config to resume out_dir with: `given` (a config the caller names) or the saved one, plus `overrides`.

    Refuses when there is no out_dir/last.pt or when the result would build a different model.
    """
    path = Path(out_dir) / "last.pt"
    if not path.exists():
        raise InputError.at(path, f"no checkpoint to resume from; train without {arg('resume', True)} to start "
                            "this run")
    saved = config_from_dict(read_checkpoint(path)["config"], str(path))
    cfg = given if given is not None else copy.deepcopy(saved)
    apply_overrides(cfg, overrides)
    changed = [f"model.{k}: {v!r} -> {getattr(cfg.model, k)!r}" for k, v in vars(saved.model).items()
               if getattr(cfg.model, k) != v]
    if changed:
        raise InputError.at(argument("resume"), f"the run's model would change ({', '.join(changed)}); resume "
                            f"without those {arg('config')}/{arg('overrides')} values, or train into a new "
                            f"{arg('out')}")
    return cfg


def _restore(run: _Run) -> int:
    """Load out/last.pt into the run's model, optimizer, scheduler and RNGs; the epochs it finished."""
    path = run.out / "last.pt"
    state = read_checkpoint(path)
    if list(state["classes"]) != list(run.classes):
        raise InputError.at(path, f"the checkpoint's class list differs from the dataset's "
                            f"({first_difference(list(state['classes']), run.classes)}); resume with the run's data, "
                            f"or train into a new {arg('out')}")
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
            f"(then {arg('resume', True)}, or train into a new {arg('out')})")


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


def _log_to(path: Path, mode: str = "a") -> logging.Handler:
    log.setLevel(logging.INFO)
    for handler in list(log.handlers):
        if isinstance(handler, logging.FileHandler):
            log.removeHandler(handler)
    handler = logging.FileHandler(path, mode=mode)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    return handler


@contextlib.contextmanager
def _run_log(run: _Run):
    """Closes the run's train.log when the run ends, however it ends, so that later runs in this process (and
    a refused second run, which opens none) write nowhere near it."""
    try:
        yield
    finally:
        if run.log is not None:
            log.removeHandler(run.log)
            run.log.close()
