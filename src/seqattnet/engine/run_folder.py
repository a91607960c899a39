"""A training run's folder: which folders hold a run to protect, one writer at a time, and what an
interrupted run says. Messages name `train`'s arguments as the caller knows them (errors.arg): Python
keywords (`overwrite=True`) from Python, flags (`--overwrite`) from the command line."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, arg, argument, on_command_line
from ..files import LockHeld, exclusive_lock, lock_holder

PROTECTED = ("last.pt", "best.pt", "metrics.json")  # a folder with one of these holds a run worth keeping
LEFTOVERS = ("config.yaml", "train.log")  # written when a run starts: alone, a run stopped before its first checkpoint
LOCK = ".lock"  # held by the one process that writes the folder


@dataclass(frozen=True)
class FolderRules:
    """What `train` was told about its folder: resume the run in it, overwrite it, or neither."""

    resume: bool = False
    overwrite: bool = False

    def check(self, out: Path, locked: bool = False) -> str | None:
        return check_run_folder(out, resume=self.resume, overwrite=self.overwrite, locked=locked)


def check_run_folder(out_dir: str | Path, *, resume: bool, overwrite: bool, locked: bool = False) -> str | None:
    """Refuse to train into a folder that holds a run (a checkpoint or final metrics) unless resuming it or
    told to overwrite it, and to resume one without last.pt. -> a note to show when the folder holds only
    what a run stopped before its first checkpoint left (config.yaml, train.log): that is trained over.
    A folder that another process is training into is refused whatever the switches (`locked`: this process
    holds its lock already)."""
    out = Path(out_dir)
    holder = None if locked else lock_holder(out / LOCK)
    if holder is not None:
        raise _busy(out, holder)
    if resume:
        if not (out / "last.pt").exists():
            raise InputError.at(out / "last.pt", f"no checkpoint to resume from; train without {arg('resume', True)} "
                                "to start this run")
        return None
    found = [name for name in PROTECTED if (out / name).exists()]
    if found and not overwrite:
        raise InputError.at(argument("out"), f"{str(out)!r} already holds a run ({', '.join(found)}); pass "
                            f"{arg('resume', True)} to continue it, {arg('overwrite', True)} to replace it, or "
                            f"choose another {arg('out')}")
    left = [name for name in LEFTOVERS if (out / name).exists()]
    if left and not found:
        return (f"{out} holds no checkpoint ({', '.join(left)} of a run stopped before its first epoch ended): "
                "training into it again")
    return None


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """One writer per run folder (created if missing): a second `train` into it is refused in one line while
    the first holds OUT/.lock; the system releases it when the process ends, even on a crash."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(out / LOCK):
            yield
    except LockHeld as e:
        raise _busy(out, e.holder) from None


def _busy(out: Path, holder: str) -> InputError:
    return InputError.at(argument("out"), f"{str(out)!r} is being written by another training run (process "
                         f"{holder or 'unknown'}, which holds {out / LOCK}); wait for it to end, or choose "
                         f"another {arg('out')}")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what the run folder holds and how to go on."""


def interrupted_message(out: Path, epoch: int, epochs: int, saved: int) -> str:
    """What an interrupted run leaves: `saved`, the epoch last.pt holds (0: none yet)."""
    during = f"in epoch {epoch} of {epochs}" if epoch <= epochs else "while evaluating the final model"
    if saved:
        return f"training stopped {during}; {out / 'last.pt'} holds epoch {saved}: resume with `{resume_call(out)}`"
    return (f"training stopped {during}, before the first checkpoint; nothing to resume: train into {out} again "
            f"(a folder without a checkpoint needs no {arg('overwrite', True)})")


def resume_call(out: Path) -> str:
    """The call that resumes the run in `out`, as the caller would write it (the run's own config)."""
    if on_command_line():
        return f"seqattnet train --resume --out {shlex.quote(str(out))}"
    return f"seqattnet.train(None, {str(out)!r}, resume=True)"
