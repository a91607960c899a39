"""Bad input through the command line: one stderr line that says what is wrong and how to fix it,
exit code 2, no traceback (unless --debug), and no output file left behind."""

import argparse
import errno
import json
import os
import pathlib
import shutil
import warnings

import numpy as np
import pytest
import torch

import seqattnet.cli
from seqattnet.cli import main
from seqattnet.errors import InputError
from seqattnet.files import exclusive_lock
from tiny_runs import TINY_RUN, as_sets

TINY = as_sets([*TINY_RUN, "train.epochs=1", "train.num_threads=1"])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny dataset, a checkpoint trained on it for one epoch, broken variants of both, the outputs of earlier
    commands, and a run folder that another writer holds (its lock is held while the module's tests run)."""
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
    torch.save(dict(state, config={**state["config"], "data": {**state["config"]["data"], "rescaled": True}}),
               root / "rescaled.pt")
    torch.save(dict(state, extra=np.array([print], dtype=object)), root / "object_array.pt")
    torch.save(dict(state, extra=_CreatesAFile(str(root / "pwned"))), root / "crafted.pt")
    (root / "crafted_run").mkdir()
    (root / "crafted_run" / "last.pt").write_bytes((root / "crafted.pt").read_bytes())
    (root / "empty").mkdir()
    (root / "wide").mkdir()
    np.save(root / "wide" / "v1.npy", np.zeros((20, 32), dtype=np.float32))
    (root / "one").mkdir()  # a feature file of the checkpoint's dimension, no metadata (so no fps)
    np.save(root / "one" / "v1.npy", np.zeros((20, 16), dtype=np.float32))
    (root / "text").mkdir()
    (root / "text" / "v1.npy").write_text("0.1,0.2\n")
    (root / "a_file").write_text("x\n")
    for name, text in {"unknown_key.yaml": "model:\n  nope: 1\n", "wrong_type.yaml": "train:\n  epochs: many\n",
                       "bad.yaml": "model: [1,\n", "list.yaml": "- 1\n- 2\n", "typo.yaml": "train:\n  epoch: 3\n",
                       "range.yaml": "model:\n  temporal_scale: 1\n", "twice.yaml": "train:\n  epochs: 3\n  epochs: 4\n",
                       "cycle.yaml": "base: cycle_base.yaml\n", "cycle_base.yaml": "base: cycle.yaml\n"}.items():
        (root / name).write_text(text)
    gt = {"database": {"abc": {"subset": "validation", "duration": 100.0,
                               "annotations": [{"segment": [10.0, 30.0], "label": "run"}]}}}
    (root / "gt.json").write_text(json.dumps(gt))
    (root / "gt_twice.json").write_text('{"database": {"abc": {}, "abc": {}}}')
    hit = {"label": "run", "score": 0.9, "segment": [10.0, 30.0]}
    (root / "pred.json").write_text(json.dumps({"results": {"abc": [hit]}}))
    (root / "pred_twice.json").write_text(json.dumps({"results": {"abc": [hit], "v_abc": [hit]}}))
    (root / "pred_label.json").write_text(json.dumps({"results": {"abc": [dict(hit, label="Run")]}}))
    (root / "other_video.json").write_text(json.dumps({"database": {"zzz": gt["database"]["abc"]}}))
    _broken_data(root)
    for folder, name in [("exported", "export.json"), ("diagnosed", "report.html"), ("plots", "v1.png"), ("busy", ".lock")]:
        (root / folder).mkdir()
        (root / folder / name).write_text("an earlier output\n")
    with exclusive_lock(root / "busy" / ".lock"):
        yield root


def _broken_data(root):
    """Annotations with an impossible fps or duration, or without one usable segment; feature files of
    complex numbers, code, or wrong metadata; values far too long to quote. For video 'syn00' of the
    tiny dataset (root/data) or 'v1' of predict's folders."""
    data = root / "data"
    truth = json.loads((data / "annotations.json").read_text())

    def variant(name: str, change, videos=("syn00",)) -> None:
        copy = json.loads(json.dumps(truth))
        for video_id in videos or list(copy["database"]):
            change(copy["database"][video_id])
        (data / name).write_text(json.dumps(copy))

    variant("fps0.json", lambda v: v.update(fps=0))
    variant("fps_negative.json", lambda v: v.update(fps=-30.0))
    variant("outside.json", lambda v: [a.update(segment=[v["duration"] + 10, v["duration"] + 20]) for a in v["annotations"]],
            videos=None)  # every segment of every video starts after its video ends
    (data / "classes_empty.txt").write_text("")
    for name, v1 in {"duration0.json": {"duration": 0.0}, "v1_fps_negative.json": {"duration": 10.0, "fps": -30.0}}.items():
        (root / name).write_text(json.dumps({"database": {"v1": {"subset": "validation", "annotations": [], **v1}}}))
    header = "video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
    (root / "info_nan.csv").write_text(header + "v1,300,10,nan,30,validation,288\n")
    (root / "info_short.csv").write_text(header + "v1,300\n")
    (root / "long_list.yaml").write_text("train:\n  epochs: [" + ", ".join(map(str, range(20000))) + "]\n")
    (root / "digits.yaml").write_text("train:\n  epochs: " + "9" * 5000 + "\n")
    (root / "deep.yaml").write_text("train:\n  epochs: " + "[" * 5000 + "]" * 5000 + "\n")
    (root / "long_label.json").write_text(json.dumps({"results": {"abc": [{"label": "x" * 5000, "score": 0.9,
                                                                            "segment": [10.0, 30.0]}]}}))
    rows = np.zeros((20, 16), dtype=np.float32)
    folders = {name: root / name for name in ("complex", "code_pt", "text_pt", "empty_csv", "meta_negative",
                                               "meta_text", "meta_list")}
    for folder in folders.values():
        folder.mkdir()
    np.save(folders["complex"] / "v1.npy", rows.astype(np.complex64))
    torch.save({"features": torch.from_numpy(rows), "x": _CreatesAFile(str(root / "pwned"))}, folders["code_pt"] / "v1.pt")
    (folders["text_pt"] / "v1.pt").write_text("hello\n")
    (folders["empty_csv"] / "v1.csv").write_text("")
    for name, meta in {"meta_negative": {"fps": -30.0}, "meta_text": {"fps": "thirty"}, "meta_list": [30.0]}.items():
        np.savez(folders[name] / "v1.npz", features=rows, meta=np.array(json.dumps(meta)))
    shutil.copytree(data / "features", root / "complex_one")  # the dataset's features, syn00's complex
    np.save(root / "complex_one" / "syn00.npy", np.load(data / "features" / "syn00.npy").astype(np.complex64))


class _CreatesAFile:
    """Unpickling this runs open(path, "w"): a checkpoint holding it must not take effect."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _train(env, *extra: str) -> list[str]:
    return ["train", "--config", "demo", "--set", f"data.root={env / 'data'}", *TINY, "--set", "synthetic.generate=false",
            *extra, "--out", str(env / "out"), "--quiet"]


def _evaluate(env, checkpoint: str = "run/last.pt", *extra: str) -> list[str]:
    return ["evaluate", "--checkpoint", str(env / checkpoint), "--out", str(env / "out.json"), *extra]


def _predict(env, features: str, *extra: str, checkpoint: str = "run/last.pt") -> list[str]:
    return ["predict", "--checkpoint", str(env / checkpoint), "--features", str(env / features),
            "--out", str(env / "out.json"), *extra]


def _json(env, gt: str, pred: str, *extra: str) -> list[str]:
    return ["evaluate-json", str(env / gt), str(env / pred), *extra]


def _check_data(env, *extra: str) -> list[str]:
    return ["check-data", "--config", "demo", "--set", f"data.root={env / 'data'}", *TINY, *extra]


# (id, arguments, words the one line must hold: what is wrong, and the fix)
CASES = [
    # config
    ("config unknown key", lambda e: ["info", "--config", str(e / "unknown_key.yaml")], ["'model.nope'", "expected one of"]),
    ("config wrong type", lambda e: ["info", "--config", str(e / "wrong_type.yaml")], ["'train.epochs' must be int", "'many'"]),
    ("config missing file", lambda e: ["info", "--config", str(e / "nope.yaml")], ["no such config file", "shipped configs"]),
    ("config bad YAML", lambda e: ["info", "--config", str(e / "bad.yaml")], ["not valid YAML"]),
    ("config not a mapping", lambda e: ["info", "--config", str(e / "list.yaml")], ["expected a mapping of sections"]),
    ("config key twice", lambda e: ["config", "show", str(e / "twice.yaml")], ["twice.yaml", "'epochs' appears twice"]),
    ("config base cycle", lambda e: ["info", "--config", str(e / "cycle.yaml")], ["cycle_base.yaml", "makes a cycle"]),
    ("--set unknown section", lambda e: ["info", "--set", "nosuch.key=1"], ["unknown key 'nosuch.key'", "sections: ['data', 'evaluation', 'inference'"]),
    ("--set without =", lambda e: ["info", "--set", "train.epochs"], ["expected key=value", "'train.epochs'"]),
    ("--set a section", lambda e: ["info", "--set", "model=3"], ["'model' is a section", "model.feature_dim="]),
    ("--set wrong type", lambda e: ["info", "--set", "train.epochs=abc"], ["'train.epochs' must be int"]),
    # data
    ("missing annotation file", lambda e: _train(e, "--set", "data.annotations=missing.json"), ["missing.json"]),
    ("missing feature folder", lambda e: _train(e, "--set", "data.features=nofeatures", "--set", "data.cache=false"), ["nofeatures"]),
    ("feature dimension", lambda e: _train(e, "--set", "model.feature_dim=32"),
     ["feature dimension 16, expected 32", "set --set model.feature_dim=16"]),
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
    # configs checked when read, before anything is written
    ("train.epochs=-1", lambda e: _train(e, "--set", "train.epochs=-1"), ["'train.epochs' must be >= 1, got -1"]),
    ("train.batch_size=0", lambda e: _train(e, "--set", "train.batch_size=0"), ["'train.batch_size' must be >= 1, got 0"]),
    ("train.lr=-1", lambda e: _train(e, "--set", "train.lr=-1"), ["'train.lr' must be > 0, got -1"]),
    ("model.attention=bogus", lambda e: _train(e, "--set", "model.attention=bogus"),
     ["'model.attention' must be one of 'softmax', 'sigmoid', 'uniform', got 'bogus'"]),
    ("train.device=gpu", lambda e: _train(e, "--set", "train.device=gpu"), ["'train.device' must be one of 'auto', 'cpu', 'cuda'"]),
    ("model.temporal_scale=0", lambda e: _train(e, "--set", "model.temporal_scale=0"), ["'model.temporal_scale' must be >= 2"]),
    ("evaluation.protocol=foo", lambda e: _train(e, "--set", "evaluation.protocol=foo"),
     ["'evaluation.protocol' must be one of 'activitynet'"]),
    ("max_duration > temporal_scale", lambda e: _train(e, "--set", "model.max_duration=17"),
     ["'model.max_duration' 17 must be <= 'model.temporal_scale' 16"]),
    ("--set misspelt key", lambda e: _train(e, "--set", "train.epoch=3"), ["unknown key 'train.epoch'", "did you mean 'train.epochs'?"]),
    ("YAML misspelt key", lambda e: ["info", "--config", str(e / "typo.yaml")], ["typo.yaml", "did you mean 'train.epochs'?"]),
    ("YAML value out of range", lambda e: ["info", "--config", str(e / "range.yaml")], ["range.yaml", "'model.temporal_scale' must be >= 2, got 1"]),
    ("conv_groups must divide", lambda e: ["info", "--set", "model.conv_groups=3"], ["'model.conv_groups' 3 must divide"]),
    ("train without --config", lambda e: ["train", "--out", str(e / "out")], ["--config", "seqattnet demo"]),
    # outputs
    ("train into a finished run", lambda e: [*_train(e), "--out", str(e / "run")],
     ["--out", "already holds a run", "--overwrite"]),
    ("demo into a finished run", lambda e: ["demo", "--out", str(e / "run")], ["--out", "already holds a run"]),
    ("train --out is a file", lambda e: [*_train(e), "--out", str(e / "a_file")], ["--out", "is a file"]),
    ("evaluate --out is a folder", lambda e: ["evaluate", "--checkpoint", str(e / "run" / "last.pt"), "--out", str(e / "empty")],
     ["--out", "is a folder", "expected a file name"]),
    ("predict --out is a folder", lambda e: _predict(e, "one", "--fps", "30", "--out", str(e / "empty")), ["--out", "is a folder"]),
    ("predict --plot is a file", lambda e: _predict(e, "one", "--fps", "30", "--plot", str(e / "a_file")), ["--plot", "is a file"]),
    ("export --out is a file", lambda e: ["export", "--checkpoint", str(e / "run" / "last.pt"), "--out", str(e / "a_file")],
     ["--out", "is a file"]),
    ("extract --out is a file", lambda e: ["extract", str(e / "empty"), "--out", str(e / "a_file")], ["--out", "is a file"]),
    ("detect --out is a folder", lambda e: ["detect", str(e / "empty"), "--checkpoint", str(e / "run" / "last.pt"),
                                            "--out", str(e / "empty")], ["--out", "is a folder"]),
    # overrides on a checkpoint
    ("evaluate --set model.*", lambda e: _evaluate(e, "run/last.pt", "--set", "model.base_channels=32"),
     ["'model.base_channels' cannot be changed here", "inference.* and data.*"]),
    ("evaluate --set out of range", lambda e: _evaluate(e, "run/last.pt", "--set", "inference.soft_nms_sigma=0"),
     ["'inference.soft_nms_sigma' must be > 0, got 0"]),
    ("predict --set data.fps=-1", lambda e: _predict(e, "one", "--set", "data.fps=-1"), ["'data.fps' must be >= 0, got -1"]),
    # no silent wrong numbers
    ("predict rescaled without durations", lambda e: _predict(e, "one", checkpoint="rescaled.pt"),
     ["--annotations", "data.rescaled", "video_info_new.csv"]),
    ("predict without fps", lambda e: _predict(e, "one"), ["v1.npy", "video 'v1'", "no fps", "--fps"]),
    ("predict video not in --annotations", lambda e: _predict(e, "one", "--annotations", str(e / "gt.json")),
     ["gt.json", "video 'v1'", "no duration"]),
    ("predict --fps 0", lambda e: _predict(e, "one", "--fps", "0"), ["--fps", "must be > 0"]),
    ("predict text file named .npy", lambda e: _predict(e, "text", "--fps", "30"), ["v1.npy", "not a numpy array file"]),
    ("evaluate-json x and v_x", lambda e: _json(e, "gt.json", "pred_twice.json"), ["pred_twice.json", "'abc' and 'v_abc'"]),
    ("evaluate-json unknown label", lambda e: _json(e, "gt.json", "pred_label.json"),
     ["'Run' is not a class", "(1 class)", "--ignore-unknown-labels to drop"]),
    ("evaluate-json unknown video", lambda e: _json(e, "other_video.json", "pred.json"), ["video 'abc'", "1 such video)"]),
    ("evaluate-json bad --tious", lambda e: _json(e, "gt.json", "pred.json", "--tious", "0.5,x"), ["--tious", "'x' is not a number"]),
    ("evaluate-json duplicate ground-truth key", lambda e: _json(e, "gt_twice.json", "pred.json"),
     ["gt_twice.json", "key 'abc' appears twice"]),
    ("diagnose x and v_x", lambda e: ["diagnose", str(e / "gt.json"), str(e / "pred_twice.json"), "--out", str(e / "diag")],
     ["pred_twice.json", "'abc' and 'v_abc'"]),
    ("diagnose --out is a file", lambda e: ["diagnose", str(e / "gt.json"), str(e / "pred.json"), "--out", str(e / "a_file")],
     ["--out", "a_file"]),
    ("evaluate --report is a file", lambda e: _evaluate(e, "run/last.pt", "--report", str(e / "a_file")), ["--report", "a_file"]),
    ("check-data --duration-tolerance 0", lambda e: ["check-data", "--duration-tolerance", "0"], ["--duration-tolerance", "must be > 0"]),
    ("check-data duplicate video key", lambda e: ["check-data", "--set", f"data.root={e}", "--set", "data.annotations=gt_twice.json"],
     ["gt_twice.json", "key 'abc' appears twice"]),
    ("bench --repeats 0", lambda e: ["bench", "--repeats", "0"], ["--repeats", "must be >= 1"]),
    # what the system refuses: one line naming the path and the cause
    ("--config is a folder", lambda e: ["info", "--config", str(e / "empty")], ["empty: is a folder; expected a YAML config file"]),
    ("evaluate-json results path is a folder", lambda e: _json(e, "gt.json", "empty"), ["empty: is a directory"]),
    ("--out over the name length limit", lambda e: [*_evaluate(e), "--out", str(e / ("r" * 300 + ".json"))],
     ["rrrrr...rrrrr", "rr.json: file name too long"]),
    ("--out empty", lambda e: ["export", "--checkpoint", str(e / "run" / "last.pt"), "--out", ""],
     ["--out: an empty path; name the folder to write"]),
    ("predict --out empty", lambda e: _predict(e, "one", "--fps", "30", "--out", ""), ["--out: an empty path; name the file"]),
    # one rule for every command that writes: existing outputs are replaced only with --overwrite
    ("predict --out exists", lambda e: _predict(e, "one", "--fps", "30", "--out", str(e / "pred.json")),
     ["--out", "pred.json' exists; pass --overwrite to replace it"]),
    ("predict --plot holds the video's PNG", lambda e: _predict(e, "one", "--fps", "30", "--plot", str(e / "plots")),
     ["--plot", "plots' already holds v1.png; pass --overwrite to replace it"]),
    ("evaluate --out exists", lambda e: [*_evaluate(e), "--out", str(e / "gt.json")], ["--out", "gt.json' exists", "--overwrite"]),
    ("evaluate --report holds a report", lambda e: [*_evaluate(e), "--report", str(e / "diagnosed")],
     ["--report", "diagnosed' already holds report.html", "--overwrite"]),
    ("diagnose --out holds a report", lambda e: ["diagnose", str(e / "gt.json"), str(e / "pred.json"), "--out", str(e / "diagnosed")],
     ["--out", "diagnosed' already holds report.html; pass --overwrite to replace it"]),
    ("export --out holds an export", lambda e: ["export", "--checkpoint", str(e / "run" / "last.pt"), "--out", str(e / "exported")],
     ["--out", "exported' already holds export.json; pass --overwrite"]),
    ("detect --out exists", lambda e: ["detect", str(e / "empty"), "--checkpoint", str(e / "run" / "last.pt"), "--out",
                                       str(e / "pred.json")], ["--out", "pred.json' exists", "--overwrite"]),
    ("watch --out exists", lambda e: ["watch", str(e / "empty"), "--checkpoint", str(e / "run" / "last.pt"), "--out",
                                      str(e / "pred.json")], ["--out", "pred.json' exists", "--overwrite"]),
    ("watch a checkpoint that rescales videos", lambda e: ["watch", "-", "--checkpoint", str(e / "run" / "last.pt")],
     ["last.pt", "each video rescaled to T", "needs the whole video", "windows.enabled", "thumos14"]),
    ("train into a folder another run writes", lambda e: [*_train(e), "--out", str(e / "busy")],
     ["--out", "busy' is being written by another training run", "choose another --out"]),
    # checkpoints that would run code, or hold objects that are not plain data
    ("checkpoint that runs code", lambda e: _evaluate(e, "crafted.pt"), ["crafted.pt", "holds objects other than tensors", "could run code"]),
    ("checkpoint with a numpy object array", lambda e: _predict(e, "one", "--fps", "30", checkpoint="object_array.pt"),
     ["object_array.pt", "holds objects other than tensors", "ObjectDType"]),
    ("detect crafted checkpoint", lambda e: ["detect", str(e / "empty"), "--checkpoint", str(e / "crafted.pt")], ["crafted.pt", "could run code"]),
    ("export crafted checkpoint", lambda e: ["export", "--checkpoint", str(e / "crafted.pt"), "--out", str(e / "out")], ["crafted.pt", "could run code"]),
    ("resume from a crafted checkpoint", lambda e: ["train", "--resume", "--out", str(e / "crafted_run")], ["last.pt", "could run code"]),
    # an fps or duration that is zero, negative or not finite; no segment left to train on: check-data
    # refuses what train refuses, and predict and evaluate-json refuse the same files
    ("train fps 0", lambda e: _train(e, "--set", "data.annotations=fps0.json"),
     ["fps0.json", "video 'syn00'", "field 'fps'", "must be > 0, got 0"]),
    ("check-data fps 0", lambda e: _check_data(e, "--set", "data.annotations=fps0.json"),
     ["fps0.json", "video 'syn00'", "field 'fps'", "must be > 0, got 0"]),
    ("train negative fps", lambda e: _train(e, "--set", "data.annotations=fps_negative.json"),
     ["fps_negative.json", "video 'syn00'", "field 'fps'", "must be > 0, got -30.0"]),
    ("check-data negative fps", lambda e: _check_data(e, "--set", "data.annotations=fps_negative.json"),
     ["fps_negative.json", "video 'syn00'", "field 'fps'", "must be > 0, got -30.0"]),
    ("train every segment outside its video", lambda e: _train(e, "--set", "data.annotations=outside.json"),
     ["outside.json", "field 'annotations'", "no usable segment in subset 'training' (24 videos)", "the first: video 'syn00'"]),
    ("check-data every segment outside its video", lambda e: _check_data(e, "--set", "data.annotations=outside.json"),
     ["outside.json", "1 error;", "no usable segment in subset 'training'"]),
    ("predict --annotations duration 0", lambda e: _predict(e, "one", "--annotations", str(e / "duration0.json")),
     ["duration0.json", "video 'v1'", "field 'duration'", "must be > 0, got 0.0"]),
    ("predict --annotations negative fps", lambda e: _predict(e, "one", "--annotations", str(e / "v1_fps_negative.json")),
     ["v1_fps_negative.json", "video 'v1'", "field 'fps'", "must be > 0"]),
    ("predict --annotations CSV fps nan", lambda e: _predict(e, "one", "--annotations", str(e / "info_nan.csv")),
     ["info_nan.csv", "video 'v1'", "field 'fps'", "finite"]),
    ("predict --annotations CSV short line", lambda e: _predict(e, "one", "--annotations", str(e / "info_short.csv")),
     ["info_short.csv", "line 2: fewer values than the 7 columns"]),
    ("evaluate-json ground truth duration 0", lambda e: _json(e, "duration0.json", "pred.json"),
     ["duration0.json", "video 'v1'", "field 'duration'"]),
    # options get the checks that configs get, and are refused, not capped
    ("train --seed -1", lambda e: _train(e, "--seed", "-1"), ["--seed", "must be in [0, 4294967295] (as train.seed), got '-1'"]),
    ("train --seed not a number", lambda e: _train(e, "--seed", "1.5"), ["--seed", "expected a whole number, got '1.5'"]),
    ("bench --repeats not a number", lambda e: ["bench", "--repeats", "x" * 100],
     ["--repeats", "expected a whole number, got 'xxxxxxxx", "(102 characters)"]),
    ("predict --fps inf", lambda e: _predict(e, "one", "--fps", "inf"), ["--fps", "must be > 0 and finite, got 'inf'"]),
    ("check-data --duration-tolerance inf", lambda e: _check_data(e, "--duration-tolerance", "inf"),
     ["--duration-tolerance", "finite"]),
    ("synthetic.groups > synthetic.classes", lambda e: ["train", "--config", "demo", "--set", f"data.root={e / 'fresh'}",
                                                        *TINY, "--set", "synthetic.groups=50", "--out", str(e / "out")],
     ["'synthetic.groups' 50 must be <= 'synthetic.classes' 4", "synthetic.groups=4"]),
    ("synthetic.layout thumos with 3 classes", lambda e: ["train", "--config", "demo", "--set", f"data.root={e / 'fresh'}",
                                                         *TINY, "--set", "synthetic.layout=thumos", "--set",
                                                         "synthetic.classes=3", "--set", "synthetic.groups=3",
                                                         "--out", str(e / "out")],
     ["'synthetic.classes' 3 must be >= 4 with 'synthetic.layout' thumos", "synthetic.classes=4"]),
    ("--set lr of 5,000 digits", lambda e: ["info", "--set", "train.lr=" + "9" * 5000],
     ["'train.lr' must be > 0 and finite", "(5,002 characters)"]),
    # messages quote a few dozen characters of a value, never a library's advice
    ("YAML value of 20,000 items", lambda e: ["info", "--config", str(e / "long_list.yaml")],
     ["long_list.yaml", "'train.epochs' must be int", "(a list of 20,000 items)"]),
    ("YAML number of 5,000 digits", lambda e: ["info", "--config", str(e / "digits.yaml")],
     ["digits.yaml: not valid YAML (ValueError: Exceeds the limit (4300 digits)"]),
    ("YAML nested too deep", lambda e: ["info", "--config", str(e / "deep.yaml")],
     ["deep.yaml: not valid YAML (RecursionError: maximum recursion depth exceeded"]),
    ("evaluate-json label of 5,000 characters", lambda e: _json(e, "gt.json", "long_label.json"),
     ["long_label.json", "'xxxxxxxx", "(5,002 characters) is not a class"]),
    (".pt features that run code", lambda e: _predict(e, "code_pt", "--fps", "30"),
     ["v1.pt", "holds objects other than tensors", "could run code", "torch.save"]),
    # feature files
    ("predict complex features", lambda e: _predict(e, "complex", "--fps", "30"),
     ["v1.npy", "video 'v1'", "features must be real numbers, got dtype complex64"]),
    ("train complex features, no cache", lambda e: _train(e, "--set", f"data.features={e / 'complex_one'}", "--set", "data.cache=false"),
     ["syn00.npy", "video 'syn00'", "features must be real numbers, got dtype complex64"]),
    ("predict .pt that is text", lambda e: _predict(e, "text_pt", "--fps", "30"), ["v1.pt", "not a readable torch file"]),
    ("predict empty .csv", lambda e: _predict(e, "empty_csv", "--fps", "30"), ["v1.csv", "no snippets"]),
    ("predict metadata fps < 0", lambda e: _predict(e, "meta_negative"), ["v1.npz", "field 'meta.fps'", "> 0, got -30.0"]),
    ("predict metadata fps text", lambda e: _predict(e, "meta_text"), ["v1.npz", "field 'meta.fps'", "got 'thirty'"]),
    ("predict metadata not an object", lambda e: _predict(e, "meta_list"), ["v1.npz", "must be a JSON object, got list"]),
    ("predict durations overflow", lambda e: _predict(e, "one", "--fps", "30", "--set", "data.stride_frames=1e308"),
     ["v1.npy", "video 'v1'", "a duration of inf s", "data.stride_frames 1e+308"]),
    # config values that name files
    ("data.file_pattern with another field", lambda e: _check_data(e, "--set", "data.file_pattern={name}.npy"),
     ["data.file_pattern", "'{name}.npy' is not a file name pattern", "{video_id}"]),
    ("data.file_pattern without {video_id}", lambda e: _train(e, "--set", "data.file_pattern=syn00.npy"),
     ["data.file_pattern", "does not contain {video_id}", "the same file"]),
    ("empty classes file", lambda e: _train(e, "--set", "data.classes=classes_empty.txt"), ["classes_empty.txt", "no class names"]),
]


MAX_LINE = 600  # characters: a message quotes a few dozen of a bad value, however long the value is


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's usage errors
        return e.code


def _files(root) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize("make_args, needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(env, make_args, needles, capsys):
    before = _files(env)
    with warnings.catch_warnings(record=True) as caught:  # a warning would print lines of its own
        warnings.simplefilter("always")
        assert _run(make_args(env)) == 2
    shown = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not shown, shown
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("seqattnet") and "error: " in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert "\x1b" not in captured.err and len(lines[0]) <= MAX_LINE, (len(lines[0]), lines[0])
    for needle in needles:
        assert needle in lines[0]
    assert _files(env) == before  # nothing written, nothing half-written, nothing changed


def test_overwrite_replaces_what_was_refused(env, tmp_path, capsys):
    out, plots = tmp_path / "results.json", tmp_path / "plots"
    args = _predict(env, "one", "--fps", "30", "--out", str(out), "--plot", str(plots), "--quiet")
    assert _run(args) == 0
    out.write_text("an earlier result\n")
    assert _run(args) == 2 and "results.json' exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "an earlier result\n"
    out.unlink()
    assert _run(args) == 2 and "plots' already holds v1.png; pass --overwrite" in capsys.readouterr().err
    assert _run([*args, "--overwrite"]) == 0
    assert list(json.loads(out.read_text())["results"]) == ["v1"] and sorted(os.listdir(plots)) == ["v1.png"]


def _disk_full_on_create(monkeypatch):
    """The disk is full when an output file is created."""
    def mkstemp(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("seqattnet.files.tempfile.mkstemp", mkstemp)


def _disk_full_on_write(monkeypatch):
    """The disk fills up in the middle of writing a file: part of it is written, then write() fails (naming
    no file, as the system's write does)."""
    def write_text(self, text, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as f:
            f.write(text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


# (id, arguments, fault, words the one line must hold); every earlier file stays as it was
FAULTS = [
    ("predict, disk full", lambda e: _predict(e, "one", "--fps", "30"), _disk_full_on_create,
     ["out.json: no space left on device"]),
    ("evaluate --out, disk full", lambda e: _evaluate(e, "run/last.pt", "--quiet"), _disk_full_on_create, ["out.json: no space left on device"]),
    ("export over an export, disk full", lambda e: ["export", "--checkpoint", str(e / "run" / "last.pt"), "--format",
                                                    "torchscript", "--out", str(e / "exported"), "--overwrite"],
     _disk_full_on_create, ["exported/proposals.pt: no space left on device"]),
    ("diagnose over a report, disk full while writing", lambda e: ["diagnose", str(e / "gt.json"), str(e / "pred.json"),
                                                                   "--out", str(e / "diagnosed"), "--overwrite", "--quiet"],
     _disk_full_on_write, ["diagnosed: no space left on device"]),
]


@pytest.mark.parametrize("make_args, fault, needles", [c[1:] for c in FAULTS], ids=[c[0] for c in FAULTS])
def test_faults_are_one_line_and_leave_earlier_outputs(env, make_args, fault, needles, monkeypatch, capsys):
    before = {p: p.read_bytes() for p in env.rglob("*") if p.is_file()}
    fault(monkeypatch)
    assert _run(make_args(env)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    for needle in needles:
        assert needle in lines[0]
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in env.rglob("*") if p.is_file()} == before  # no partial or temporary file


def _minimal_argv(parser: argparse.ArgumentParser) -> list[str]:
    """Arguments that get past argparse to the command: a value for each positional and required option."""
    argv = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name, sub = next(iter(action.choices.items()))
            return argv + [name, *_minimal_argv(sub)]
        if not action.option_strings:
            argv.append(next(iter(action.choices)) if action.choices else "x")
        elif action.required:
            argv += [action.option_strings[0], "x"]
    return argv


def _commands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    parser = parser or seqattnet.cli.build_parser()
    return {a.dest: a for a in parser._actions if a.dest == "command"}["command"].choices


@pytest.mark.parametrize("command", sorted(_commands()))
def test_no_command_lets_an_os_error_through(command, monkeypatch, capsys):
    """Whatever a command reads or writes, an OSError from the system is one line naming the path: every
    subcommand, present and future, runs here with its work replaced by a full disk."""
    build = seqattnet.cli.build_parser

    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/last.pt")

    def parser_whose_commands_fail():
        parser = build()
        for sub in _commands(parser).values():
            stack = [sub]
            while stack:  # the command and any subcommands of its own
                p = stack.pop()
                p.set_defaults(run=full_disk)
                stack += [c for a in p._actions if isinstance(a, argparse._SubParsersAction) for c in a.choices.values()]
        return parser

    argv = [command, *_minimal_argv(_commands()[command])]
    monkeypatch.setattr(seqattnet.cli, "build_parser", parser_whose_commands_fail)
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert err == f"seqattnet {command}: error: runs/x/last.pt: no space left on device\n"


def test_at_least_forty_distinct_cases_over_every_command():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40
    from seqattnet.cli import build_parser

    commands = {a.dest: a for a in build_parser()._actions if a.dest == "command"}["command"].choices
    used = {c[1](__import__("pathlib").Path("/x"))[0] for c in CASES}
    assert set(commands) <= used | {"--debug"}, set(commands) - used


def test_a_crafted_checkpoint_does_not_run(env, capsys):
    """Unpickling crafted.pt with torch.load(weights_only=False) would create the file `pwned`."""
    for command in (_evaluate(env, "crafted.pt"), ["export", "--checkpoint", str(env / "crafted.pt"), "--out", str(env / "out")],
                    _predict(env, "one", "--fps", "30", checkpoint="crafted.pt")):
        assert _run(command) == 2
    assert not (env / "pwned").exists()
    torch.load(env / "crafted.pt", weights_only=False)  # the file really does what it says
    assert (env / "pwned").exists()
    (env / "pwned").unlink()


def test_cuda_without_gpu(env, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert _run(_evaluate(env, "run/last.pt", "--device", "cuda")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no GPU" in err and not (env / "out.json").exists()


def test_debug_shows_the_traceback(env):
    with pytest.raises(InputError, match="checkpoint not found"):
        main(["--debug", *_evaluate(env, "nope.pt")])
