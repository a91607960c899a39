"""Bad input through the command line: one stderr line that says what is wrong and how to fix it,
exit code 2, no traceback (unless --debug), and no output file left behind."""

import numpy as np
import pytest
import torch

from seqattnet.cli import main
from seqattnet.errors import InputError

TINY = ["--set", "data.synthetic_train=24", "--set", "data.synthetic_val=8", "--set", "data.synthetic_classes=4",
        "--set", "model.num_classes=4", "--set", "model.feature_dim=16", "--set", "model.temporal_scale=16",
        "--set", "model.max_duration=16", "--set", "model.base_channels=16", "--set", "model.bm_channels=16",
        "--set", "model.map_channels=8", "--set", "model.num_samples=8", "--set", "train.batch_size=8",
        "--set", "train.epochs=1", "--set", "train.num_threads=1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny dataset, a checkpoint trained on it for one epoch, and broken variants of both."""
    root = tmp_path_factory.mktemp("bad")
    assert main(["train", "--config", "demo", "--set", f"data.root={root / 'data'}", *TINY, "--out",
                 str(root / "run"), "--quiet"]) == 0
    good = root / "run" / "last.pt"
    state = torch.load(good, weights_only=False)
    (root / "truncated.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "text.pt").write_text("not a checkpoint\n")
    torch.save({"weights": state["model"]}, root / "dict.pt")
    other = dict(state, config={**state["config"], "model": {**state["config"]["model"], "base_channels": 32}})
    torch.save(other, root / "other_shape.pt")
    torch.save(dict(state, classes=["a", "b", "c", "d"]), root / "other_classes.pt")
    torch.save(dict(state, config={**state["config"], "train": {"epochs": 1, "nope": 3}}), root / "bad_config.pt")
    (root / "empty").mkdir()
    (root / "wide").mkdir()
    np.save(root / "wide" / "v1.npy", np.zeros((20, 32), dtype=np.float32))
    for name, text in {"unknown_key.yaml": "model:\n  nope: 1\n", "wrong_type.yaml": "train:\n  epochs: many\n",
                       "bad.yaml": "model: [1,\n", "list.yaml": "- 1\n- 2\n"}.items():
        (root / name).write_text(text)
    return root


def _train(env, *extra: str) -> list[str]:
    return ["train", "--config", "demo", "--set", f"data.root={env / 'data'}", *TINY, "--set", "data.synthetic=false",
            *extra, "--out", str(env / "out"), "--quiet"]


def _evaluate(env, checkpoint: str = "run/last.pt", *extra: str) -> list[str]:
    return ["evaluate", "--checkpoint", str(env / checkpoint), "--out", str(env / "out.json"), *extra]


def _predict(env, features: str, *extra: str, checkpoint: str = "run/last.pt") -> list[str]:
    return ["predict", "--checkpoint", str(env / checkpoint), "--features", str(env / features),
            "--out", str(env / "out.json"), *extra]


# (id, arguments, words the one line must hold: what is wrong, and the fix)
CASES = [
    # config
    ("config unknown key", lambda e: ["info", "--config", str(e / "unknown_key.yaml")], ["'model.nope'", "expected one of"]),
    ("config wrong type", lambda e: ["info", "--config", str(e / "wrong_type.yaml")], ["'train.epochs' must be int", "'many'"]),
    ("config missing file", lambda e: ["info", "--config", str(e / "nope.yaml")], ["no such config file", "shipped configs"]),
    ("config bad YAML", lambda e: ["info", "--config", str(e / "bad.yaml")], ["not valid YAML"]),
    ("config not a mapping", lambda e: ["info", "--config", str(e / "list.yaml")], ["expected a mapping of sections"]),
    ("--set unknown section", lambda e: ["info", "--set", "nosuch.key=1"], ["unknown key 'nosuch.key'", "sections: ['data', 'inference'"]),
    ("--set without =", lambda e: ["info", "--set", "train.epochs"], ["expected key=value", "'train.epochs'"]),
    ("--set a section", lambda e: ["info", "--set", "model=3"], ["'model' is a section", "model.feature_dim="]),
    ("--set wrong type", lambda e: ["info", "--set", "train.epochs=abc"], ["'train.epochs' must be int"]),
    # data
    ("missing annotation file", lambda e: _train(e, "--set", "data.annotations=missing.json"), ["missing.json"]),
    ("missing feature folder", lambda e: _train(e, "--set", "data.features=nofeatures", "--set", "data.cache=false"), ["nofeatures"]),
    ("feature dimension", lambda e: _train(e, "--set", "model.feature_dim=32"), ["feature dimension 16, expected 32"]),
    ("class count", lambda e: _train(e, "--set", "model.num_classes=5"), ["4 classes", "model.num_classes=4"]),
    ("empty train subset", lambda e: _train(e, "--set", "data.train_subset=nosuch"), ["no videos in subset 'nosuch'", "subsets"]),
    ("test subset picks checkpoints", lambda e: _train(e, "--set", "data.val_subset=test"), ["test subset", "data.val_subset=validation"]),
    ("resume without last.pt", lambda e: ["train", "--resume", "--out", str(e / "out")], ["no checkpoint to resume from", "without --resume"]),
    # checkpoints
    ("checkpoint missing", lambda e: _evaluate(e, "nope.pt"), ["nope.pt", "checkpoint not found", "check the path"]),
    ("checkpoint truncated", lambda e: _evaluate(e, "truncated.pt"), ["truncated.pt", "not a readable checkpoint", "train again"]),
    ("checkpoint is text", lambda e: _evaluate(e, "text.pt"), ["text.pt", "not a readable checkpoint"]),
    ("checkpoint without model", lambda e: _evaluate(e, "dict.pt"), ["not a seqattnet checkpoint", "written by `seqattnet train`"]),
    ("checkpoint of another shape", lambda e: _evaluate(e, "other_shape.pt"), ["weights do not fit the model", "use a checkpoint written by one"]),
    ("checkpoint with other classes", lambda e: _evaluate(e, "other_classes.pt"), ["class list differs", "class 0:", "trained with"]),
    ("checkpoint config unknown key", lambda e: _evaluate(e, "bad_config.pt"), ["bad_config.pt", "'train.nope'"]),
    # command line
    ("evaluate unknown split", lambda e: _evaluate(e, "run/last.pt", "--split", "nosuch"), ["no videos in subset 'nosuch'"]),
    ("evaluate --out folder missing", lambda e: ["evaluate", "--checkpoint", str(e / "run" / "last.pt"), "--out",
                                                 str(e / "nofolder" / "x.json")], ["--out", "does not exist"]),
    ("predict empty folder", lambda e: _predict(e, "empty"), ["no feature files"]),
    ("predict missing file", lambda e: _predict(e, "nope.npy"), ["nope.npy", "feature file not found"]),
    ("predict wrong dimension", lambda e: _predict(e, "wide"), ["v1.npy", "feature dimension 32, expected 16"]),
    ("predict bad checkpoint", lambda e: _predict(e, "wide", checkpoint="text.pt"), ["not a readable checkpoint"]),
    ("predict --fps negative", lambda e: _predict(e, "wide", "--fps", "-1"), ["--fps", "must be > 0"]),
    ("unknown command", lambda e: ["frobnicate"], ["invalid choice: 'frobnicate'", "--help"]),
    ("train without --out", lambda e: ["train"], ["required: --out", "seqattnet train --help"]),
]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's usage errors
        return e.code


@pytest.mark.parametrize("make_args, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(env, make_args, needles, capsys):
    assert _run(make_args(env)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("seqattnet") and "error: " in lines[0]
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in lines[0]
    assert not (env / "out").exists() and not (env / "out.json").exists()  # nothing half-written
    assert not list(env.glob("*.tmp")) and not list(env.glob(".*.tmp"))


def test_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 20


def test_cuda_without_gpu(env, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert _run(_evaluate(env, "run/last.pt", "--device", "cuda")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no GPU" in err and not (env / "out.json").exists()


def test_debug_shows_the_traceback(env):
    with pytest.raises(InputError, match="checkpoint not found"):
        main(["--debug", *_evaluate(env, "nope.pt")])
