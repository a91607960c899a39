"""Temporary files for atomic writes (write, then os.replace), with the permissions of any other new file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
