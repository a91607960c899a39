"""Checkpoints: written atomically (temporary file, then rename), read back with clear errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import Config, config_from_dict, to_dict
from ..errors import InputError
from ..model import SeqAttNet


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: Config, classes: list[str], *,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None, epoch: int = 0,
                    metrics: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": 1,
        "version": __version__,
        "model": model.state_dict(),
        "config": to_dict(cfg),
        "classes": list(classes),
        "epoch": epoch,
        "metrics": metrics or {},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"torch": torch.get_rng_state()},
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, "checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or not a torch file
        raise InputError.at(path, f"not a readable checkpoint ({type(e).__name__}: {e})".splitlines()[0]) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise InputError.at(path, "not a seqattnet checkpoint (no model weights or config)")
    return state


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[SeqAttNet, Config, list[str]]:
    """The model of a checkpoint, with its config and class list, in eval mode."""
    state = read_checkpoint(path)
    cfg = config_from_dict(state["config"], str(path))
    model = SeqAttNet.from_config(cfg.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise InputError.at(path, "weights do not fit the model of its config: " + str(e).splitlines()[1].strip()
                            if len(str(e).splitlines()) > 1 else str(e)) from None
    return model.to(device).eval(), cfg, list(state["classes"])
