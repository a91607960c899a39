"""Options and checks that several subcommands share: --config/--set, output paths, positive numbers."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable

from ..errors import InputError, quoted


def config_names() -> str:
    """`shipped config name (activitynet, ...) or a YAML path`, the names read from the package's configs folder."""
    from ..config_files import shipped_configs

    return f"shipped config name ({', '.join(shipped_configs())}) or a YAML path"


def config_args(p: argparse.ArgumentParser, default: str | None = "demo") -> None:
    p.add_argument("--config", default=default, help=config_names() + ("" if default else "; required unless --resume"))
    set_option(p)


def set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 (repeatable)")


def config_from_args(args: argparse.Namespace):
    """The config that --config and --set name, with --seed where the command has one."""
    from ..config import load_config

    cfg = load_config(args.config, args.set)
    if getattr(args, "seed", None) is not None:
        cfg.train.seed = args.seed
    return cfg


def check_out(path: str | None, *, folder: bool = False, option: str = "--out", overwrite: bool = True,
              outputs: Iterable[str] = ()) -> None:
    """Fail before the work, not after it, when an output file (or, with `folder`, a folder that is created if
    missing) cannot be written where asked; without `overwrite`, also when it would replace results: the file
    itself, or the `outputs` (file names) already in the folder."""
    import os
    from pathlib import Path

    if path is None:
        return
    if not path.strip():
        raise InputError.at(option, f"an empty path; name the {'folder' if folder else 'file'} to write")
    out = Path(path)
    if folder and out.exists() and not out.is_dir():
        raise InputError.at(option, f"{path!r} is a file; expected a folder (created if missing)")
    if not folder and out.is_dir():
        raise InputError.at(option, f"{path!r} is a folder; expected a file name, e.g. {str(out / 'results.json')!r}")
    parent = out if folder and out.is_dir() else out.resolve().parent
    while folder and not parent.exists() and parent != parent.parent:  # a new folder: its first existing ancestor
        parent = parent.parent
    if not parent.is_dir():
        raise InputError.at(option, f"folder {str(Path(path).parent)!r} does not exist; create it or choose "
                            "another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError.at(option, f"folder {str(parent)!r} is not writable; choose another path")
    if not overwrite:
        _refuse_replacing(out, option, list(outputs) if folder else None)


def _refuse_replacing(out, option: str, outputs: list[str] | None) -> None:
    """The one rule of every command that writes: results already there are replaced only with --overwrite.
    outputs: the file names the command writes into the folder `out`; None: `out` is the file."""
    if outputs is None:
        if out.exists():
            raise InputError.at(option, f"{str(out)!r} exists; pass --overwrite to replace it, or choose another path")
        return
    found = [name for name in outputs if (out / name).exists()]
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise InputError.at(option, f"{str(out)!r} already holds {shown}; pass --overwrite to replace "
                            f"{'it' if len(found) == 1 else 'them'}, or choose another folder")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {quoted(text)}") from None
    if not (value > 0 and math.isfinite(value)):  # inf would pass `> 0` and end as NaN times or a traceback
        raise argparse.ArgumentTypeError(f"must be > 0 and finite, got {quoted(text)}")
    return value


def within_limits(key: str) -> Callable[[str], int]:
    """An argparse `type` for an option that sets the config's int `key` (--seed: train.seed): the value
    is checked against the same LIMITS as `--set key=...`, not passed on unchecked."""
    from ..config import LIMITS

    def parse(text: str) -> int:
        value = _whole_number(text)
        if not LIMITS[key].allows(value):
            raise argparse.ArgumentTypeError(f"must be {LIMITS[key]} (as {key}), got {quoted(text)}")
        return value

    return parse


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {quoted(text)}")
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {quoted(text)}") from None


CHECKPOINT_HELP = "a last.pt or best.pt written by `seqattnet train`"

DEVICE_HELP = "auto: CUDA when torch sees a GPU, else the CPU"


def checkpoint_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an inference.* or data.* value of the checkpoint's config, e.g. --set "
                        "inference.refine=false (repeatable; model.* is fixed by the weights)")


def overwrite_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier run here (without it, existing outputs are refused)")
