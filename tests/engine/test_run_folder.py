"""A run folder: Ctrl-C says what it holds and how to go on, one writer at a time, the same rule from Python
as from the command line, and a full disk as one line that leaves no broken checkpoint."""

import errno
import os
import re
import shlex

import pytest
import torch

import seqattnet.engine.fit as fit
from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.engine.checkpoint import load_model
from seqattnet.errors import InputError
from seqattnet.files import exclusive_lock
from tiny_runs import TINY_RUN, as_sets

TINY = [*TINY_RUN, "train.num_threads=1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The tiny built-in dataset, generated once by a one-epoch run (kept as `finished`)."""
    root = tmp_path_factory.mktemp("runs")
    assert main(_train(root, root / "finished")) == 0
    return root


def _train(root, out, *extra: str) -> list[str]:
    return ["train", "--config", "demo", "--set", f"data.root={root / 'data'}", *as_sets(TINY), "--set",
            "train.epochs=1", *extra, "--out", str(out), "--quiet"]


def _interrupt_at(monkeypatch, stop_epoch: int | None, also=None) -> None:
    """train_one_epoch raises KeyboardInterrupt, as Ctrl-C does, when epoch `stop_epoch` (None: none) starts;
    `also(epoch)` runs before each epoch."""
    real = fit.train_one_epoch

    def epoch(model, loader, optimizer, cfg, device, number, *args):
        if also is not None:
            also(number)
        if number == stop_epoch:
            raise KeyboardInterrupt
        return real(model, loader, optimizer, cfg, device, number, *args)

    monkeypatch.setattr(fit, "train_one_epoch", epoch)


def test_ctrl_c_in_the_first_epoch_leaves_a_folder_to_train_into_again(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "first"
    _interrupt_at(monkeypatch, 1)
    assert main(_train(data, out)) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("seqattnet train: interrupted: training stopped in epoch 1 of 1, before the first checkpoint")
    assert f"train into {out} again (a folder without a checkpoint needs no --overwrite)" in err
    assert "before the first checkpoint" in (out / "train.log").read_text()
    assert sorted(p.name for p in out.iterdir() if p.name != "tensorboard") == [".lock", "config.yaml", "train.log"]
    monkeypatch.undo()
    assert main(_train(data, out)) == 0  # no --overwrite, no --resume: there was no run to protect
    assert f"{out} holds no checkpoint (config.yaml, train.log of a run stopped" in capsys.readouterr().err
    log = (out / "train.log").read_text()
    assert "training stopped" not in log and "holds no checkpoint" in log  # a fresh log, which says so
    assert "training on 24 videos," in log
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1


def test_ctrl_c_later_names_the_epoch_last_pt_holds_and_the_command_that_resumes(data, tmp_path, monkeypatch,
                                                                                 capsys):
    out = tmp_path / "second"
    _interrupt_at(monkeypatch, 2)
    assert main(_train(data, out, "--set", "train.epochs=3")) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"training stopped in epoch 2 of 3; {out / 'last.pt'} holds epoch 1: resume with" in err
    assert err in [f"seqattnet train: interrupted: {line.split(' WARNING ', 1)[1]}"
                   for line in (out / "train.log").read_text().splitlines() if " WARNING " in line]
    command = shlex.split(re.search(r"`(.*)`", err).group(1))
    assert command == ["seqattnet", "train", "--resume", "--out", str(out)]
    monkeypatch.undo()
    assert main([*command[1:], "--quiet"]) == 0  # the exact command it gave
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and "resumed from" in (out / "train.log").read_text()


def test_python_train_refuses_an_existing_run_naming_its_own_arguments(data):
    cfg = load_config("demo", [f"data.root={data / 'data'}", *TINY, "train.epochs=1", "synthetic.generate=false"])
    run = data / "finished"
    before = {name: (run / name).read_bytes() for name in ("last.pt", "train.log", "config.yaml")}
    with pytest.raises(InputError) as refused:
        fit.train(cfg, run, progress=False)
    message = str(refused.value)
    assert message.startswith(f"out: {str(run)!r} already holds a run (last.pt, metrics.json); pass resume=True")
    assert "overwrite=True to replace it, or choose another out=" in message and "--" not in message
    assert {name: (run / name).read_bytes() for name in before} == before  # nothing replaced, nothing appended
    with pytest.raises(InputError, match=r"last.pt: no checkpoint to resume from; train without resume=True"):
        fit.train(cfg, data / "nothing", progress=False, resume=True)
    again = data / "python"
    fit.train(cfg, again, progress=False)
    fit.train(cfg, again, progress=False, overwrite=True)
    assert (again / "train.log").read_text().count("training on 24 videos") == 1  # replaced, not appended
    fit.train(cfg, again, progress=False, resume=True)  # already at train.epochs: evaluates again
    assert (again / "train.log").read_text().count("resumed from") == 1


def test_ctrl_c_from_python_names_the_python_call_that_resumes(data, tmp_path, monkeypatch):
    import seqattnet

    out = tmp_path / "python"
    _interrupt_at(monkeypatch, 2)
    overrides = dict(item.split("=", 1) for item in [f"data.root={data / 'data'}", *TINY, "train.epochs=3"])
    with pytest.raises(fit.Interrupted) as stopped:
        seqattnet.train("demo", out, overrides, progress=False)
    call = f"seqattnet.train(None, {str(out)!r}, resume=True)"
    assert str(stopped.value) == f"training stopped in epoch 2 of 3; {out / 'last.pt'} holds epoch 1: resume with `{call}`"
    monkeypatch.undo()
    eval(call, {"seqattnet": seqattnet})  # the exact call it gave
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3


def test_a_second_writer_is_refused_while_the_first_finishes(data, tmp_path, monkeypatch, capsys):
    out, second = tmp_path / "busy", {}

    def start_another(epoch):  # a second `train` into the same folder while the first is in its epoch 1
        if epoch == 1:
            second["code"] = main(_train(data, out))
            second["err"] = capsys.readouterr().err

    _interrupt_at(monkeypatch, None, also=start_another)
    assert main(_train(data, out)) == 0
    assert second["code"] == 2
    assert second["err"].strip() == (f"seqattnet train: error: --out: {str(out)!r} is being written by another "
                                     f"training run (process {os.getpid()}, which holds {out / '.lock'}); wait "
                                     "for it to end, or choose another --out")
    model, _, _ = load_model(out / "last.pt")  # the first run's checkpoint, whole
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert "is being written" not in (out / "train.log").read_text()
    with exclusive_lock(out / ".lock"):  # released when the run ended
        pass


def test_a_full_disk_is_one_line_and_leaves_no_checkpoint(data, tmp_path, monkeypatch, capsys):
    """torch.save on a full disk raises RuntimeError (basic_ios::clear): one line that names last.pt."""
    out = tmp_path / "full"

    def save(obj, f, *args, **kwargs):
        with open(f, "wb") as partial:
            partial.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 1024 vs 980\n"
                           "basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr("seqattnet.files.shutil.disk_usage",
                        lambda path: type("Usage", (), {"total": 1 << 30, "used": 1 << 30, "free": 0})())
    assert main(_train(data, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"seqattnet train: error: {out / 'last.pt'}: no space left on device"
    assert not (out / "last.pt").exists() and not list(out.glob("*.tmp"))
    assert f"stopped: OSError: [Errno {errno.ENOSPC}] No space left on device" in (out / "train.log").read_text()



def test_the_lock_refuses_a_writer_that_passed_the_first_check(tmp_path):
    """Between `train`'s first look at the folder and its lock another run may start: the lock decides."""
    from seqattnet.engine.run_folder import run_lock

    with exclusive_lock(tmp_path / ".lock"):
        with pytest.raises(InputError, match=rf"^out: {re.escape(repr(str(tmp_path)))} is being written by "
                                             rf"another training run \(process {os.getpid()}, .*choose another out=$"):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
