"""Writing outputs atomically, OS errors as one line, and the one-writer lock (seqattnet.files)."""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from seqattnet.config import load_config, save_config
from seqattnet.files import (LockHeld, atomic_writes, describe_os_error, exclusive_lock, failed_write, lock_holder,
                             write_text_atomic)
from seqattnet.plot import plot_timeline


def _full_disk_after(count: int):
    """A write() that writes `count` characters, then fails as on a full disk (naming no file)."""
    def write(self, text, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as f:
            f.write(text[:count])
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_atomic_writes_replace_all_files_or_none(tmp_path, monkeypatch):
    a, b = tmp_path / "report.html", tmp_path / "numbers.json"
    a.write_text("old page")
    b.write_text("old numbers")
    with pytest.raises(ValueError), atomic_writes([a, b]) as (ta, tb):
        ta.write_text("new page")
        raise ValueError("the second file could not be computed")
    assert (a.read_text(), b.read_text()) == ("old page", "old numbers")
    monkeypatch.setattr(type(a), "write_text", _full_disk_after(3))
    with pytest.raises(OSError) as failed, atomic_writes([a, b]) as (ta, tb):
        ta.write_text("new page")
    assert describe_os_error(failed.value) == f"{tmp_path}: no space left on device"
    assert (a.read_bytes(), b.read_bytes()) == (b"old page", b"old numbers")
    monkeypatch.undo()
    with atomic_writes([a, b]) as (ta, tb):
        assert ta.suffix == ".html" and ta.parent == tmp_path  # renamed within one file system; format by suffix
        ta.write_text("new page")
        tb.write_text("new numbers")
    assert (a.read_text(), b.read_text()) == ("new page", "new numbers")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numbers.json", "report.html"]


def test_a_failed_write_keeps_the_previous_file_and_names_it(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_text('{"average_mAP": 0.5}')
    monkeypatch.setattr(type(path), "write_text", _full_disk_after(4))
    with pytest.raises(OSError) as failed:
        write_text_atomic(path, '{"average_mAP": 0.7}')
    assert describe_os_error(failed.value) == f"{path}: no space left on device"
    monkeypatch.undo()
    assert path.read_text() == '{"average_mAP": 0.5}' and os.listdir(tmp_path) == ["metrics.json"]


def test_config_yaml_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    save_config(load_config("demo"), path)
    before = path.read_bytes()
    monkeypatch.setattr(type(path), "write_text", _full_disk_after(10))
    with pytest.raises(OSError, match="No space left"):
        save_config(load_config("thumos14"), path)
    assert path.read_bytes() == before


def test_a_timeline_png_is_written_atomically(tmp_path, monkeypatch):
    import matplotlib.figure

    path = tmp_path / "v1.png"
    draw = dict(video_id="v1", duration_s=10.0, segments_s=np.array([[1.0, 4.0]]), scores=np.array([0.9]),
                labels=["run"])
    plot_timeline(path, **draw)
    before = path.read_bytes()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"

    def savefig(self, fname, *args, **kwargs):
        open(fname, "wb").write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    with pytest.raises(OSError) as failed:
        plot_timeline(path, **draw)
    assert describe_os_error(failed.value) == f"{path}: no space left on device"
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["v1.png"]


def test_os_errors_read_as_one_line_naming_the_path():
    assert describe_os_error(IsADirectoryError(errno.EISDIR, "Is a directory", "runs/x")) == "runs/x: is a directory"
    renamed = OSError(errno.EXDEV, "Invalid cross-device link", "/tmp/a.tmp", None, "runs/x/last.pt")
    assert describe_os_error(renamed) == "runs/x/last.pt: invalid cross-device link"  # the destination
    long = "d/" + "n" * 300
    text = describe_os_error(OSError(errno.ENAMETOOLONG, "File name too long", long))
    assert text == f"{long[:70]}...{long[-27:]}: file name too long" and len(text) < 130
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"


def test_torch_write_failures_become_os_errors(tmp_path, monkeypatch):
    error = RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 1024 vs 980\nmore")
    usage = type("Usage", (), {"total": 1 << 30, "used": 1 << 30})
    monkeypatch.setattr("seqattnet.files.shutil.disk_usage", lambda p: type("U", (usage,), {"free": 0})())
    full = failed_write(tmp_path / "last.pt", error)
    assert (full.errno, describe_os_error(full)) == (errno.ENOSPC, f"{tmp_path / 'last.pt'}: no space left on device")
    monkeypatch.setattr("seqattnet.files.shutil.disk_usage", lambda p: type("U", (usage,), {"free": 1 << 30})())
    other = failed_write(tmp_path / "last.pt", error)
    assert describe_os_error(other) == (f"{tmp_path / 'last.pt'}: write failed ([enforce fail at "
                                        "inline_container.cc:595] . unexpected pos 1024 vs 980)")


def test_the_lock_admits_one_holder_and_dies_with_it(tmp_path):
    path = tmp_path / ".lock"
    with exclusive_lock(path):
        assert lock_holder(path) == str(os.getpid())  # a probe sees the holder, even in its own process
        with pytest.raises(LockHeld) as held, exclusive_lock(path):
            pass
        assert held.value.holder == str(os.getpid())
    with exclusive_lock(path):  # released at the end of the block
        pass
    script = ("import sys, time; from seqattnet.files import exclusive_lock\n"
              "with exclusive_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert proc.stdout.readline().strip() == "held"
        assert lock_holder(path) == str(proc.pid)
        with pytest.raises(LockHeld), exclusive_lock(path):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: the system releases its lock
        proc.wait()
    deadline = time.monotonic() + 10
    while lock_holder(path) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with exclusive_lock(path):
        assert path.read_text() == f"{os.getpid()}\n"
