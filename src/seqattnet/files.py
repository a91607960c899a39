"""Reading JSON and text files, and writing any file atomically (write a temporary file, then os.replace)."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InputError, brief, quoted


def open_text(path: str | Path):
    """Open a text file, transparently un-gzipping `*.gz`."""
    path = Path(path)
    if not path.exists():
        raise InputError.at(path, "file not found")
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """json's object_pairs_hook: a key twice in one object (json.load keeps the last) is an error."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return out


def load_json(path: str | Path) -> Any:
    """A JSON file (or `.json.gz`); a key given twice in one object, such as a video, is refused."""
    with open_text(path) as f:
        try:
            return json.load(f, object_pairs_hook=_unique_keys)
        except _DuplicateKey as e:
            raise InputError.at(path, f"key {quoted(e.args[0], 60)} appears twice in one object (a JSON reader keeps only "
                                "the last); remove or rename one") from None
        except json.JSONDecodeError as e:
            raise InputError.at(path, f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
        except (OSError, UnicodeDecodeError) as e:  # a corrupt .gz, or bytes that are not UTF-8
            raise InputError.at(path, f"cannot read the file ({e})") from None
        except (ValueError, RecursionError) as e:  # a number of over 4,300 digits; arrays nested too deep
            raise InputError.at(path, f"not valid JSON ({brief(e)})") from None


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return mask


def temporary_file(beside: str | Path, prefix: str, suffix: str) -> tuple[int, str]:
    """(fd, path) of a new file in the folder of `beside`, readable as `open()` would create it.

    tempfile.mkstemp makes files 0600; a checkpoint or result JSON renamed from one would be unreadable to
    the other users who can read the rest of the run folder, so the mode becomes 0666 minus the umask.
    """
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=Path(beside).parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@contextmanager
def atomic_write(path: str | Path, prefix: str | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """A new temporary file beside `path` for the block to write; renamed over `path` when the block ends,
    removed when it raises. A crash while writing leaves the previous file whole, never a partial one.

    prefix: of the temporary file's name (default `<name>.`); suffix: its ending (np.savez wants `.npz`).
    """
    path = Path(path)
    fd, tmp = temporary_file(path, prefix=f"{path.name}." if prefix is None else prefix, suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
