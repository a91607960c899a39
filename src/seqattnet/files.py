"""Reading JSON and text files, writing any file atomically (write a temporary file, then os.replace),
saying what an OS error means in one line, and locking a folder for one writer."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
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
    removed when it raises. A crash while writing leaves the previous file whole, never a partial one. An
    OSError that names no file (a failed write()) or the temporary one is raised again naming `path`.

    prefix: of the temporary file's name (default `<name>.`); suffix: its ending (np.savez wants `.npz`).
    """
    path, tmp = Path(path), None
    try:
        fd, tmp = temporary_file(path, prefix=f"{path.name}." if prefix is None else prefix, suffix=suffix)
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            raise _naming(e, path) from e  # a failed write() names no file, and the temporary file is gone
        raise


def _naming(error: OSError, path: str | Path) -> OSError:
    return OSError(error.errno, error.strerror or str(error), str(path))


@contextmanager
def atomic_writes(paths: Sequence[str | Path], suffix: str = ".tmp") -> Iterator[list[Path]]:
    """`atomic_write` for several files that belong together (a report and its numbers, an export's graphs):
    one temporary file per path for the block to write, all renamed over their paths only when the block
    ends without error, so a failure while writing any of them leaves every previous file as it was.

    suffix: the temporary files' ending after their path's own suffix (`report.html.x1y2.tmp.html`), for
    writers that infer the format from the name.
    """
    paths = [Path(p) for p in paths]
    with ExitStack() as stack:
        temporary = [stack.enter_context(atomic_write(p, suffix=suffix + p.suffix)) for p in paths]
        own = dict(zip(map(str, temporary), paths))
        try:
            yield temporary
        except OSError as e:  # which output failed: the one whose temporary file it names, else their folder
            if e.filename is None or str(e.filename) in own:
                raise _naming(e, own.get(str(e.filename), paths[0].parent)) from e
            raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Path.write_text through a temporary file: a full disk leaves the previous file whole."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def failed_write(path: str | Path, error: Exception) -> OSError:
    """An OSError naming `path` for a writer that reports a failed write as another error (torch.save raises
    RuntimeError: `basic_ios::clear` or `file write failed`): "no space left on device" when the disk holding
    `path` is full, otherwise the writer's first line."""
    folder = Path(path).parent
    full = folder.is_dir() and shutil.disk_usage(folder).free < 1 << 20
    if full:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return OSError(errno.EIO, f"write failed ({str(error).splitlines()[0] if str(error) else type(error).__name__})",
                   str(path))


def _short(name: str, limit: int = 100) -> str:
    """A path as a message quotes it: names past the system's limit are cut in the middle."""
    return name if len(name) <= limit else f"{name[:limit - 30]}...{name[-27:]}"


def describe_os_error(error: OSError) -> str:
    """`path: no space left on device` (the destination of a rename), in one line, for any OSError."""
    cause = (error.strerror or str(error) or type(error).__name__).splitlines()[0]
    cause = cause[:1].lower() + cause[1:]
    name = error.filename2 if error.filename2 is not None else error.filename
    return f"{_short(os.fsdecode(name)) or repr(name)}: {cause}" if name is not None else cause


class LockHeld(Exception):
    """Another process holds the lock file `path` (its process id in `holder`, when it wrote one)."""

    def __init__(self, path: Path, holder: str):
        super().__init__(f"{path} is held by process {holder or '(unknown)'}")
        self.path, self.holder = path, holder


def lock_holder(path: str | Path) -> str | None:
    """Whether another process holds `exclusive_lock(path)`: its process id ("" when it wrote none), else None.
    A probe that takes nothing: the lock may be taken right after it answers."""
    try:
        import fcntl
    except ImportError:
        return None
    if not Path(path).is_file():
        return None
    with open(path, encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip()
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


@contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an advisory lock (flock) on the file `path`, created if missing, for the block; raises LockHeld
    at once when another process holds it. The system releases it when the process ends, crash included,
    so a killed writer never leaves a stale lock. The file stays, holding the last holder's process id.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one writer is then the user's to ensure
        yield
        return
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise LockHeld(Path(path), f.read().strip()) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
