"""The Python API (seqattnet.load, Detector, Results, seqattnet.train): the same functions as the commands,
errors that name the Python arguments, and runs that are refused as the command refuses them."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import seqattnet
from seqattnet.cli import main
from seqattnet.data.annotations import read_annotations
from seqattnet.errors import InputError, arg, argument, command_line
from tiny_runs import TINY_RUN

TINY = {**dict(item.split("=", 1) for item in TINY_RUN), "train.epochs": 1, "train.num_threads": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run trained from Python: the demo config on a tiny built-in dataset in run/data."""
    root = tmp_path_factory.mktemp("api")
    report = seqattnet.train("demo", root / "run", {**TINY, "data.root": str(root / "run" / "data")}, progress=False)
    assert 0.0 <= report.detection.average_mAP <= 1.0
    return root / "run"


@pytest.fixture(scope="module")
def detector(run):
    return seqattnet.load(run / "last.pt")


def test_import_seqattnet_is_light_and_offers_load_and_train():
    code = "import sys, seqattnet; print('torch' in sys.modules, callable(seqattnet.load), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True"]  # torch comes with the API, on first use


def test_predict_a_folder_without_fps_times_videos_by_the_checkpoints_annotations(run, detector):
    results = detector.predict(run / "data" / "features", progress=False)
    truth = read_annotations(run / "data" / "annotations.json").videos
    assert sorted(results.videos) == sorted(truth) and len(results) == 32
    for det in results:
        assert det.duration_s == truth[det.video_id].duration_s and det.fps == 30.0
        assert len(det.scores) and det.segments_s.max() <= det.duration_s + 1e-9
    given = detector.predict(run / "data" / "features", annotations=run / "data" / "annotations.json", progress=False)
    assert all(np.array_equal(a.segments_s, b.segments_s) and np.array_equal(a.scores, b.scores)
               for a, b in zip(results, given))  # the same as naming those annotations


def test_predict_matches_evaluate_on_the_validation_videos(detector, run):
    report = detector.evaluate(progress=False)
    results = detector.predict(run / "data" / "features", progress=False)
    saved = json.loads((run / "metrics.json").read_text())
    assert report.detection.average_mAP == pytest.approx(saved["average_mAP"])  # the model train evaluated
    assert len(report.results) == 8
    for video, entries in report.results.items():
        mine = results.to_dict()[video]
        assert [e["label"] for e in mine] == [e["label"] for e in entries]
        assert np.allclose([e["segment"] for e in mine], [e["segment"] for e in entries], atol=1e-6)


def test_evaluate_on_other_annotations(detector, run, tmp_path):
    database = json.loads((run / "data" / "annotations.json").read_text())["database"]
    kept = dict(sorted((k, v) for k, v in database.items() if v["subset"] == "validation")[:3])
    (tmp_path / "three.json").write_text(json.dumps({"database": {**kept, **{k: v for k, v in database.items()
                                                                            if v["subset"] == "training"}}}))
    report = detector.evaluate("validation", annotations=tmp_path / "three.json", progress=False)
    assert sorted(report.results) == sorted(kept)


def test_predict_arrays_in_memory(detector, run):
    file = sorted((run / "data" / "features").glob("*.npy"))[0]
    raw = np.load(file)
    from_file = detector.predict(file, fps=25, progress=False)[0]
    from_array = detector.predict(raw, fps=25, progress=False)[0]
    assert from_array.video_id == "video" and from_array.duration_s == pytest.approx(from_file.duration_s)
    assert from_file.duration_s == pytest.approx(((len(raw) - 1) * 16 + 16) / 25)  # the snippets' span at fps=
    assert np.array_equal(from_array.segments_s, from_file.segments_s)
    by_id = detector.predict({file.stem: torch.from_numpy(raw)}, progress=False)  # timed by the annotations
    folder = detector.predict(run / "data" / "features", progress=False)
    assert np.array_equal(by_id[file.stem].segments_s, folder[file.stem].segments_s)


def test_results_methods(detector, run, tmp_path, monkeypatch):
    results = detector.predict(run / "data" / "features", progress=False)
    first = results[0]
    assert results[first.video_id] is first and results["v_" + first.video_id] is first  # either id spelling
    with pytest.raises(KeyError, match="no video 'nope'"):
        results["nope"]
    path = results.to_json(tmp_path / "out.json")
    saved = json.loads(path.read_text())
    assert saved["results"] == results.to_dict() and len(saved["results"]) == 32
    assert saved["results"][first.video_id][0] == {"label": results.classes[first.labels[0]],
                                                   "score": float(first.scores[0]),
                                                   "segment": [float(first.segments_s[0, 0]), float(first.segments_s[0, 1])]}
    assert [p.name for p in results.plot(tmp_path / "plots", limit=3)] == [f"{v}.png" for v in results.videos[:3]]
    records = results.to_records()
    assert len(records) == sum(len(d.scores) for d in results)
    assert records[0] == {"video": first.video_id, "label": results.classes[first.labels[0]],
                          "score": float(first.scores[0]), "start_s": float(first.segments_s[0, 0]),
                          "end_s": float(first.segments_s[0, 1])}
    text = str(results)
    assert text.startswith("Results: 32 videos, ") and f"  {first.video_id}: " in text and "27 more videos" in text
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ImportError, match="to_dataframe needs pandas.*pip install pandas.*to_records"):
        results.to_dataframe()


def test_to_dataframe_with_pandas(detector, run):
    pytest.importorskip("pandas", reason="pandas is optional")
    results = detector.predict(run / "data" / "features", progress=False)
    frame = results.to_dataframe()
    assert list(frame.columns) == ["video", "label", "score", "start_s", "end_s"]
    assert frame.to_dict("records") == results.to_records()


def test_errors_name_the_python_arguments(detector, run, tmp_path):
    (tmp_path / "one").mkdir()
    np.save(tmp_path / "one" / "elsewhere.npy", np.zeros((20, 16), dtype=np.float32))  # in no annotations, no fps
    with pytest.raises(InputError, match="elsewhere.npy.*no fps.*pass fps=$") as error:
        detector.predict(tmp_path / "one", progress=False)
    assert "--" not in str(error.value) and "annotations=" in str(error.value)
    for bad in (0, -1.0, float("inf"), float("nan"), "30"):
        with pytest.raises(InputError, match=r"^fps: must be a positive number"):
            detector.predict(tmp_path / "one", fps=bad, progress=False)
    with pytest.raises(InputError, match=r"features= \(array\), video 'video': feature dimension 32, expected 16"):
        detector.predict(np.zeros((20, 32)), fps=30, progress=False)
    with pytest.raises(InputError, match="^overrides: 'model.base_channels' cannot be changed here.*overrides= takes"):
        detector.evaluate(overrides={"model.base_channels": 32})
    with pytest.raises(InputError, match="^overrides: unknown key 'train.epoch'"):
        seqattnet.train("demo", tmp_path / "x", {"train.epoch": 3})
    with pytest.raises(InputError, match="^overrides: expected a dict of dotted keys"):
        seqattnet.train("demo", tmp_path / "x", ["train.epochs=3"])
    with pytest.raises(InputError, match=r"4 classes, but model.num_classes is 5; set overrides=\{'model.num_classes': 4\}$"):
        seqattnet.train("demo", tmp_path / "x", {**TINY, "model.num_classes": 5, "data.root": str(run / "data")})
    with pytest.raises(InputError, match=r"feature dimension 16, expected 32.*; set overrides=\{'model.feature_dim': 16\} "
                                         "if every file has 16"):
        seqattnet.train("demo", tmp_path / "x", {**TINY, "model.feature_dim": 32, "data.root": str(run / "data")})
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_the_command_line_still_names_its_flags(run, tmp_path, capsys):
    (tmp_path / "one").mkdir()
    np.save(tmp_path / "one" / "elsewhere.npy", np.zeros((20, 16), dtype=np.float32))
    assert main(["predict", "--checkpoint", str(run / "last.pt"), "--features", str(tmp_path / "one"),
                 "--out", str(tmp_path / "r.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no fps" in err and "pass --fps" in err and "fps=" not in err and "not in --annotations" in err


def test_argument_spelling():
    assert (arg("fps"), arg("resume", True), argument("out"), arg("overrides", ("data.fps", 25))) == \
        ("fps=", "resume=True", "out", "overrides={'data.fps': 25}")
    with command_line():
        assert (arg("fps"), arg("resume", True), argument("out"), arg("overrides", ("data.fps", 25))) == \
            ("--fps", "--resume", "--out", "--set data.fps=25")
    assert arg("fps") == "fps="  # the block ends, Python spelling again


def test_train_refuses_an_existing_run_then_resumes_or_overwrites(run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    last, log = (folder / "last.pt").read_bytes(), (folder / "train.log").read_text()
    config = {**TINY, "data.root": str(run / "data")}
    with pytest.raises(InputError, match=r"^out: '.*run' already holds a run \(last.pt, .*\); pass resume=True to "
                                         r"continue it, overwrite=True to replace it, or choose another out=$"):
        seqattnet.train("demo", folder, config)
    assert (folder / "last.pt").read_bytes() == last and (folder / "train.log").read_text() == log  # untouched
    from seqattnet.config import load_config
    from seqattnet.engine.fit import train as fit

    with pytest.raises(InputError, match="already holds a run"):  # the engine's own train refuses too
        fit(load_config("demo", [f"{k}={v}" for k, v in config.items()]), folder, progress=False)
    seqattnet.train(None, folder, {"train.epochs": 2}, resume=True, progress=False)
    assert torch.load(folder / "last.pt", weights_only=False)["epoch"] == 2
    seqattnet.train("demo", folder, config, overwrite=True, progress=False)
    assert torch.load(folder / "last.pt", weights_only=False)["epoch"] == 1
    with pytest.raises(InputError, match=r"^config: train needs a config.*unless resume=True; e.g. seqattnet.train"):
        seqattnet.train(None, tmp_path / "new", config)
    with pytest.raises(InputError, match="no checkpoint to resume from; train without resume=True"):
        seqattnet.train(None, tmp_path / "new", config, resume=True)


def test_the_command_and_the_api_give_the_same_result_file(detector, run, tmp_path):
    """`seqattnet predict` on the demo-like features, no --fps (the checkpoint's annotations time them), and
    Detector.predict(...).to_json write the same file."""
    assert main(["predict", "--checkpoint", str(run / "last.pt"), "--features", str(run / "data" / "features"),
                 "--out", str(tmp_path / "cli.json"), "--quiet"]) == 0
    detector.predict(run / "data" / "features", progress=False).to_json(tmp_path / "api.json")
    cli, api = (json.loads((tmp_path / name).read_text()) for name in ("cli.json", "api.json"))
    assert cli == api and len(cli["results"]) == 32


def test_a_suggested_override_is_spelled_as_the_caller_writes_it():
    from seqattnet.engine.distributed import DistInfo, local_batch_size

    with pytest.raises(InputError, match=r"set overrides=\{'train.batch_size': 8\}"):
        local_batch_size(10, DistInfo(world_size=4))
    with command_line(), pytest.raises(InputError, match="set --set train.batch_size=8"):
        local_batch_size(10, DistInfo(world_size=4))
