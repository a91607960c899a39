"""Checkpoints and --resume: exact continuation, SIGKILL mid-epoch, best.pt on validation, guards."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqattnet import __version__
from seqattnet.cli import main
from seqattnet.engine import fit as fit_module
from seqattnet.engine.train import NonFiniteLoss
from tiny_runs import TINY_RUN, as_sets

TINY = as_sets([*TINY_RUN, "train.num_threads=1"])


def _train(data: Path, out: Path, *extra: str) -> int:
    return main(["train", "--config", "demo", "--set", f"data.root={data}", *TINY, *extra, "--out", str(out),
                 "--quiet"])


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)  # plain data only


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One 2-epoch run and one 1-epoch run resumed for a second epoch, on the same data."""
    root = tmp_path_factory.mktemp("resume")
    assert _train(root / "data", root / "full", "--set", "train.epochs=2") == 0
    assert _train(root / "data", root / "part", "--set", "train.epochs=1") == 0
    assert main(["train", "--resume", "--set", "train.epochs=2", "--out", str(root / "part"), "--quiet"]) == 0
    return root


def test_resumed_run_ends_with_the_same_weights(runs):
    full, part = _load(runs / "full" / "last.pt"), _load(runs / "part" / "last.pt")
    assert full["epoch"] == part["epoch"] == 2
    assert full["model"].keys() == part["model"].keys()
    for name, weight in full["model"].items():
        assert torch.equal(weight, part["model"][name]), name
    assert (runs / "full" / "metrics.json").read_text() == (runs / "part" / "metrics.json").read_text()


def test_checkpoint_holds_everything_a_resume_needs(runs):
    state = _load(runs / "full" / "last.pt")
    assert state["version"] == __version__ and state["config"]["train"]["epochs"] == 2
    assert state["optimizer"]["state"] and state["scheduler"]["last_epoch"] == 2
    assert set(state["rng"]) >= {"torch", "numpy", "python", "generator"}
    assert len(state["classes"]) == 4 and state["epoch"] == 2
    assert not list((runs / "full").glob("*.tmp"))


def test_resume_without_last_pt_is_refused(tmp_path, capsys):
    assert main(["train", "--resume", "--out", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.pt" in err and "without --resume" in err


def test_resume_that_changes_the_model_is_refused(runs, capsys):
    before = (runs / "part" / "last.pt").read_bytes()
    assert main(["train", "--resume", "--set", "model.base_channels=32", "--out", str(runs / "part")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.base_channels: 16 -> 32" in err
    assert (runs / "part" / "last.pt").read_bytes() == before


def test_sigkill_mid_epoch_loses_at_most_that_epoch(runs, tmp_path):
    """Kill the run as soon as epoch 1's last.pt appears (epoch 2 is running), then resume it."""
    out = tmp_path / "killed"
    args = ["--config", "demo", "--set", f"data.root={runs / 'data'}", *TINY, "--set", "train.epochs=3",
            "--set", "train.batch_size=1", "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "seqattnet.cli", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (out / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _load(out / "last.pt")["epoch"] == 1  # epoch 2 was under way and is lost, epoch 1 is whole
    assert not (out / "metrics.json").exists()
    assert main(["train", "--resume", "--out", str(out), "--quiet"]) == 0
    state = _load(out / "last.pt")
    assert state["epoch"] == 3 and state["scheduler"]["last_epoch"] == 3
    assert (out / "metrics.json").exists() and not list(out.glob("*.tmp"))
    assert "resumed from" in (out / "train.log").read_text()


def test_best_checkpoint_is_chosen_on_validation(runs, tmp_path):
    out = tmp_path / "best"
    assert _train(runs / "data", out, "--set", "train.epochs=2", "--set", "train.eval_every=1") == 0
    best = _load(out / "best.pt")
    final = json.loads((out / "metrics.json").read_text())["average_mAP"]
    assert best["epoch"] in (1, 2) and best["metrics"]["average_mAP"] >= final
    assert _load(out / "last.pt")["metrics"]["best_average_mAP"] >= 0.0


def test_the_test_subset_never_picks_a_checkpoint(runs, tmp_path, capsys):
    code = _train(runs / "data", tmp_path / "t", "--set", "data.val_subset=testing", "--set", "train.eval_every=1")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "data.val_subset=validation" in err
    assert not (tmp_path / "t").exists()


def test_non_finite_loss_keeps_the_last_good_checkpoint(runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "nan"
    real = fit_module.train_one_epoch

    def nan_in_epoch_2(model, loader, optimizer, cfg, device, epoch, *rest):
        if epoch == 2:
            raise NonFiniteLoss("epoch 2: the loss is nan (terms: total=nan)")
        return real(model, loader, optimizer, cfg, device, epoch, *rest)

    monkeypatch.setattr(fit_module, "train_one_epoch", nan_in_epoch_2)
    assert _train(runs / "data", out, "--set", "train.epochs=2") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "loss is nan" in err and "kept the last good checkpoint" in err
    assert _load(out / "last.pt")["epoch"] == 1
    assert not (out / "metrics.json").exists()


def test_huge_learning_rate_stops_with_one_line(runs, tmp_path, capsys):
    assert _train(runs / "data", tmp_path / "lr", "--set", "train.epochs=1", "--set", "train.lr=1e30") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the loss is" in err and "train.grad_clip" in err
    assert "Traceback" not in err


def test_grad_clip_and_bfloat16_autocast_train(runs, tmp_path):
    out = tmp_path / "amp"
    assert _train(runs / "data", out, "--set", "train.epochs=1", "--set", "train.amp=true",
                  "--set", "train.grad_clip=1.0") == 0
    state = _load(out / "last.pt")
    assert all(torch.isfinite(w).all() for w in state["model"].values() if w.is_floating_point())


def test_a_checkpoint_with_numpys_own_rng_state_still_resumes(runs, tmp_path):
    """Checkpoints written before the RNG state became plain data hold numpy's tuple (a uint32 array)."""
    import numpy as np

    from seqattnet.engine.checkpoint import read_checkpoint, restore_rng_states

    state = _load(runs / "part" / "last.pt")
    np.random.seed(7)
    old = dict(state, rng={**state["rng"], "numpy": np.random.get_state()})
    expected = np.random.rand(3)
    torch.save(old, tmp_path / "old.pt")
    np.random.seed(0)
    restore_rng_states(read_checkpoint(tmp_path / "old.pt")["rng"])
    np.testing.assert_array_equal(np.random.rand(3), expected)
    current = state["rng"]
    assert isinstance(current["numpy"]["keys"], torch.Tensor)  # the current form: a dict with a tensor
    restore_rng_states(current)
    first = np.random.rand(3)
    restore_rng_states(current)
    np.testing.assert_array_equal(np.random.rand(3), first)
