"""The device a command runs on, from its --device option or config key."""

from __future__ import annotations

import torch

from .errors import InputError


def resolve_device(name: str, option: str = "--device") -> torch.device:
    """"auto", "cpu" or "cuda" -> torch.device; `option` (the flag or config key it came from) names it in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError.at(option, "CUDA was asked for but torch sees no GPU; use cpu or auto")
    return torch.device(name)
