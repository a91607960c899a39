"""One error type for bad input, so the command line can print it as one line without a traceback; and how
messages spell the arguments of whoever called (the command line or Python)."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class InputError(ValueError):
    """Bad input from a user: a file, a field or an option. The message names what and where.

    Build it with `InputError.at(source, "what is wrong", video=..., field=...)` so every message reads
    the same: `file.json: video 'abc', field 'annotations[0].segment': end 3.0 < start 5.0`.
    """

    @classmethod
    def at(cls, source: object, message: str, *, video: str | None = None, field: str | None = None) -> "InputError":
        where = [str(source)] if source else []
        if video is not None:
            where.append(f"video {quoted(video, 80)}")
        if field is not None:
            where.append(f"field {field!r}")
        return cls(", ".join(where) + ": " + message if where else message)


def counted(n: int, noun: str) -> str:
    """`1 video`, `2 videos`, `1 class`, `3 classes`, `1,200 videos`: for messages and summaries."""
    return f"{n:,} {noun}{'' if n == 1 else 'es' if noun.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


QUOTED_CHARS = 40  # of a bad value quoted in a message: enough to recognise it, never a whole file's worth
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # terminal colour and cursor codes


def plain(text: str) -> str:
    """`text` for a one-line message: terminal codes removed, its lines joined by one space."""
    return " ".join(line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip())


def quoted(value: object, limit: int = QUOTED_CHARS) -> str:
    """repr(value) for a message, cut to `limit` characters with what was left out counted:
    `[0, 1, 2, 3, ... (a list of 20,000 items)`, so a bad value never floods the terminal."""
    text = plain(repr(value))
    if len(text) <= limit:
        return text
    sized = isinstance(value, (list, tuple, dict, set)) and not isinstance(value, str)
    what = f"a {type(value).__name__} of {counted(len(value), 'item')}" if sized else counted(len(text), "character")
    return f"{text[:limit]}... ({what})"


def brief(error: BaseException, limit: int = 120) -> str:
    """`TypeName: first line of the message`, plain and at most about `limit` characters: a library's
    error quoted inside one of ours (its advice, tracebacks and colour codes left out)."""
    lines = str(error).strip().splitlines()
    first = plain(lines[0]) if lines else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def unpickling_refused(error: BaseException) -> str | None:
    """The class that torch.load(weights_only=True) refused to unpickle, as its error names it (`GLOBAL
    builtins.open` or `got <class 'numpy.dtypes.ObjectDType'>`); None for an error of another kind."""
    found = re.search(r"GLOBAL ([\w.]+)|got <class '([\w.]+)'>", str(error))
    if not isinstance(error, pickle.UnpicklingError) or found is None:
        return None
    return found.group(1) or found.group(2)


# Messages name the caller's own arguments: `--fps` on the command line, `fps=` from Python. The CLI's main
# sets this for the command it runs; a Python caller (seqattnet.load, seqattnet.train) never does.
_COMMAND_LINE: ContextVar[bool] = ContextVar("seqattnet_command_line", default=False)
_FLAGS = {"overrides": "--set"}  # Python arguments whose flag is not `--` + their name


@contextmanager
def command_line() -> Iterator[None]:
    """Inside this block, `arg` and `argument` spell arguments as command-line flags."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


def on_command_line() -> bool:
    return _COMMAND_LINE.get()


def argument(name: str) -> str:
    """An argument as the place a message is about (`InputError.at(argument("out"), ...)`): `--out` on the
    command line, `out` from Python."""
    return _FLAGS.get(name, "--" + name.replace("_", "-")) if on_command_line() else name


def arg(name: str, value: object = None) -> str:
    """An argument as the caller wrote it, by its Python name: `arg("fps")` is `--fps` on the command line and
    `fps=` from Python; `arg("resume", True)` is `--resume` / `resume=True`; an override, a (key, value)
    pair, `arg("overrides", ("data.fps", 25))` is `--set data.fps=25` / `overrides={'data.fps': 25}`."""
    pair = name == "overrides" and isinstance(value, tuple)
    if on_command_line():
        flag = argument(name)
        if pair:
            return f"{flag} {value[0]}={value[1]}"
        return flag if value is None or value is True else f"{flag} {value}"
    if pair:
        return f"{name}={{{value[0]!r}: {value[1]!r}}}"
    return f"{name}=" if value is None else f"{name}={value!r}"
