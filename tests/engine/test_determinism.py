"""The same seed gives the same run on CPU; seeds.py's mean ± std; TensorBoard scalars when available."""

import json
import sys
from pathlib import Path

import pytest
import torch

from seqattnet.cli import main
from seqattnet.engine import fit as fit_module
from tiny_runs import TINY_RUN, as_sets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import seeds  # noqa: E402

TINY = as_sets([*TINY_RUN, "train.epochs=1", "train.num_threads=1"])


class FakeWriter:
    """Records what a SummaryWriter would get."""

    def __init__(self):
        self.scalars: list[tuple[str, float, int]] = []

    def add_scalar(self, name: str, value: float, step: int) -> None:
        self.scalars.append((name, value, step))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        args = ["train", "--config", "demo", "--set", f"data.root={root / 'data'}", *TINY, "--seed", str(seed),
                "--out", str(root / name), "--quiet"]
        assert main(args) == 0
    return root


def test_same_seed_same_metrics_and_weights(two_runs):
    a, b = (json.loads((two_runs / n / "metrics.json").read_text()) for n in "ab")
    assert a == b
    wa, wb = (torch.load(two_runs / n / "last.pt", weights_only=False)["model"] for n in "ab")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_another_seed_trains_other_weights(two_runs):
    wa, wc = (torch.load(two_runs / n / "last.pt", weights_only=False)["model"] for n in "ac")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_mean_std_over_seeds(two_runs):
    runs = [json.loads((two_runs / n / "metrics.json").read_text()) for n in "abc"]
    stats = seeds.mean_std(runs)
    assert {"average_mAP", "mAP@0.50", "mAP@0.95", "AUC"} <= set(stats)
    same = seeds.mean_std(runs[:2])
    assert same["average_mAP"] == (runs[0]["average_mAP"], 0.0)
    values = [r["average_mAP"] for r in runs]
    assert stats["average_mAP"][0] == pytest.approx(sum(values) / 3)
    assert stats["average_mAP"][1] == pytest.approx(torch.tensor(values).std().item(), abs=1e-9)


def test_tensorboard_scalars(two_runs, tmp_path, monkeypatch):
    writer = FakeWriter()
    monkeypatch.setattr(fit_module, "_tensorboard", lambda out: writer)
    args = ["train", "--config", "demo", "--set", f"data.root={two_runs / 'data'}", *TINY, "--set", "train.epochs=2",
            "--set", "train.eval_every=1", "--out", str(tmp_path / "tb"), "--quiet"]
    assert main(args) == 0
    names = {(name, step) for name, _, step in writer.scalars}
    assert {("loss/total", 1), ("loss/total", 2), ("lr", 1), ("validation/average_mAP", 1),
            ("validation/average_mAP", 2)} <= names
    lr = {step: value for name, value, step in writer.scalars if name == "lr"}
    assert lr == {1: 0.001, 2: 0.001}


def test_without_tensorboard_there_is_no_writer(tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        assert fit_module._tensorboard(tmp_path) is None
        assert not (tmp_path / "tensorboard").exists()
    else:
        pytest.skip("tensorboard is installed, so the fallback is not reachable")
