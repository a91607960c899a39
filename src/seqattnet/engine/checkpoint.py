"""Checkpoints: written atomically (temporary file, then rename), read back with clear errors."""

from __future__ import annotations

import pickle
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..version import __version__
from ..config import Config, apply_overrides, config_from_dict, to_dict
from ..data.dataset import FeatureSpec
from ..errors import InputError, arg, brief, unpickling_refused
from ..files import atomic_write, failed_write
from ..model import SeqAttNet
from .build import build_model


# What checkpoints written before the RNG state became plain data hold besides it: numpy's state, a
# uint32 array. Allowed for reading only; object arrays (ObjectDType) and every other global stay refused.
_OLD_NUMPY_STATE = [np.zeros(1).__reduce__()[0], np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def rng_states(generator: torch.Generator | None = None) -> dict:
    """Every random state a training step reads, so a resumed run draws the same numbers.

    Only tensors, numbers, strings and containers, so that `read_checkpoint` can load it with
    torch.load(weights_only=True): numpy's state (a tuple holding an array) becomes a dict with a tensor.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"torch": torch.get_rng_state(),
              "numpy": {"bit_generator": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                        "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
              "python": random.getstate(), "generator": generator.get_state() if generator is not None else None}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict, generator: torch.Generator | None = None) -> None:
    """Undo `rng_states`; states a checkpoint lacks are left as they are."""
    if states.get("torch") is not None:
        torch.set_rng_state(states["torch"])
    if states.get("numpy") is not None:
        n = states["numpy"]
        np.random.set_state(n if isinstance(n, tuple) else  # a tuple: numpy's own form, in older checkpoints
                            (n["bit_generator"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if states.get("python") is not None:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))  # a tuple, whatever container the file held
    if generator is not None and states.get("generator") is not None:
        generator.set_state(states["generator"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: Config, classes: list[str], *,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, epoch: int = 0,
                    metrics: dict | None = None, generator: torch.Generator | None = None) -> None:
    """Model, optimizer, scheduler, epoch, config, class list, RNG states and package version in one file.

    Written to a temporary file in the same folder, then renamed over `path`, so a run killed while
    saving leaves the previous checkpoint whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": 1,
        "version": __version__,
        "model": model.state_dict(),
        "config": to_dict(cfg),
        "classes": list(classes),
        "feature_spec": asdict(FeatureSpec.from_config(cfg)),  # also in the config; here for readers of the file
        "epoch": epoch,
        "metrics": metrics or {},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_states(generator),
    }
    with atomic_write(path) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as e:  # torch's writer reports a full disk as a RuntimeError (basic_ios::clear)
            raise failed_write(path, e) from None


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, "checkpoint not found; check the path (`seqattnet train --out DIR` writes "
                            "DIR/last.pt and, with train.eval_every, DIR/best.pt)")
    try:
        # weights_only: tensors, numbers, strings and containers only; unpickling anything else could run
        # code from the file, so it is refused instead
        with torch.serialization.safe_globals(_OLD_NUMPY_STATE):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holding objects that are not plain data
        what = unpickling_refused(e)
        if what is not None:
            raise InputError.at(path, f"holds objects other than tensors, numbers, strings and containers "
                                f"({what}), which seqattnet does not load because unpickling them could "
                                "run code: use a checkpoint written by this version of `seqattnet train`") from None
        reason = brief(e)
        if isinstance(e, pickle.UnpicklingError):
            reason = "not a torch file"
        raise InputError.at(path, f"not a readable checkpoint ({reason}); the file is truncated or not written by "
                            "seqattnet: use another checkpoint or train again") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError.at(path, "not a seqattnet checkpoint (no model weights or config); pass a last.pt or "
                            "best.pt written by `seqattnet train`")
    return state


# What `--set` may change in a checkpoint's config: inference and the data with how it is read and scored.
CHECKPOINT_SECTIONS = ("inference", "data", "evaluation", "synthetic", "windows")


def checkpoint_config(path: str | Path, state: dict, overrides: list[str] = ()) -> Config:
    """The config of a loaded checkpoint with `overrides` (of CHECKPOINT_SECTIONS only) applied; a relative
    data.root (of runs trained before roots were stored absolute) that does not exist from here is looked
    for from the checkpoint's folder upwards."""
    cfg = config_from_dict(state["config"], str(path))
    override_checkpoint_config(cfg, overrides)
    root = Path(cfg.data.root)
    if cfg.data.root and not root.is_absolute() and not root.exists():
        found = next((p / root for p in Path(path).resolve().parents if (p / root).is_dir()), None)
        if found is not None:
            cfg.data.root = str(found)
    return cfg


def override_checkpoint_config(cfg: Config, overrides: list[str]) -> None:
    """`section.key=value` items applied to a checkpoint's config, of CHECKPOINT_SECTIONS only."""
    apply_overrides(cfg, list(overrides), sections=CHECKPOINT_SECTIONS,
                    why="the checkpoint's weights and training fix the model.*, labels.*, loss.* and train.* "
                        f"sections; {arg('overrides')} takes inference.* and data.* keys (and evaluation.*, "
                        "synthetic.*, windows.*)")


def load_model(path: str | Path, device: torch.device | str = "cpu",
               overrides: list[str] = ()) -> tuple[SeqAttNet, Config, list[str]]:
    """The model of a checkpoint, with its config (plus `overrides`, see checkpoint_config) and class list,
    in eval mode."""
    state = read_checkpoint(path)
    cfg = checkpoint_config(path, state, overrides)
    model = build_model(cfg)  # the one builder, so every variant it composes loads
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        lines = str(e).splitlines()
        detail = lines[1].strip() if len(lines) > 1 else lines[0]
        raise InputError.at(path, f"weights do not fit the model of its config ({detail}); the file mixes two "
                            "models: use a checkpoint written by one `seqattnet train` run") from None
    return model.to(device).eval(), cfg, list(state["classes"])
