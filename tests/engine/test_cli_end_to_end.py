"""train -> evaluate -> predict through the command line, on a tiny generated dataset."""

import json

import numpy as np
import pytest
import torch

from seqattnet.cli import main
from tiny_runs import TINY_RUN, as_sets

TINY = as_sets([*TINY_RUN, "train.epochs=1"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    code = main(["train", "--config", "demo", "--set", f"data.root={root / 'data'}", *TINY, "--out", str(root / "run"),
                 "--quiet"])
    assert code == 0
    return root


def test_train_writes_checkpoint_config_and_metrics(trained):
    run = trained / "run"
    for name in ("last.pt", "config.yaml", "train.log", "metrics.json", "results_validation.json"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["mAP"]) == 10 and 0.0 <= metrics["average_mAP"] <= 1.0
    results = json.loads((run / "results_validation.json").read_text())["results"]
    assert len(results) == 8
    assert all(len(preds) <= 100 for preds in results.values())


def test_evaluate_json_output(trained, capsys):
    code = main(["evaluate", "--checkpoint", str(trained / "run" / "last.pt"), "--json",
                 "--out", str(trained / "eval.json")])
    assert code == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(last["tious"]) == 10 and len(last["mAP"]) == 10
    assert last["average_mAP"] == pytest.approx(float(np.mean(last["mAP"])))
    saved = json.loads((trained / "run" / "metrics.json").read_text())
    assert last["average_mAP"] == pytest.approx(saved["average_mAP"])  # the same model, the same detections
    assert (trained / "eval.json").exists()


def test_evaluate_writes_the_diagnosis_of_its_detections(trained, capsys):
    code = main(["evaluate", "--checkpoint", str(trained / "run" / "last.pt"), "--json",
                 "--report", str(trained / "diagnosis")])
    assert code == 0
    out = capsys.readouterr().out
    last = json.loads(out.strip().splitlines()[-1])
    d = json.loads((trained / "diagnosis" / "diagnosis.json").read_text())
    assert d["mAP"]["average"] == pytest.approx(last["average_mAP"])  # the same detections, the same matching
    assert d["counts"]["videos"] == 8 and (trained / "diagnosis" / "report.html").exists()
    fp = d["false_positives"]
    assert (np.asarray(fp["counts"]).sum(axis=(0, 1)) == sum(fp["predictions_per_slice"])).all()
    assert "report: " in out


def test_predict_on_feature_files_with_plots(trained, capsys):
    features = trained / "data" / "features"
    one = sorted(features.iterdir())[0]
    out = trained / "pred.json"
    code = main(["predict", "--checkpoint", str(trained / "run" / "last.pt"), "--features", str(one),
                 "--out", str(out), "--plot", str(trained / "plots"), "--fps", "30"])
    assert code == 0
    document = json.loads(out.read_text())
    (video, preds), = document["results"].items()
    assert video == one.stem and 0 < len(preds) <= 100
    duration = ((np.load(one).shape[0] - 1) * 16 + 16) / 30.0
    assert document["videos"] == {video: {"duration_s": pytest.approx(duration), "fps": 30.0}}
    for p in preds:
        assert 0 <= p["segment"][0] < p["segment"][1] <= duration + 1e-6
    assert (trained / "plots" / f"{one.stem}.png").stat().st_size > 1000
    assert out.stat().st_mode & 0o044 == 0o044 and (trained / "run" / "last.pt").stat().st_mode & 0o044 == 0o044


def test_predict_takes_durations_and_fps_from_annotations(trained):
    one = sorted((trained / "data" / "features").iterdir())[0]
    truth = json.loads((trained / "data" / "annotations.json").read_text())["database"][one.stem]
    out = trained / "pred_annotated.json"
    assert main(["predict", "--checkpoint", str(trained / "run" / "last.pt"), "--features", str(one), "--out",
                 str(out), "--annotations", str(trained / "data" / "annotations.json"), "--quiet"]) == 0
    document = json.loads(out.read_text())
    assert document["videos"] == {one.stem: {"duration_s": truth["duration"], "fps": truth["fps"]}}
    assert max(p["segment"][1] for p in document["results"][one.stem]) <= truth["duration"] + 1e-6


def test_predict_on_rescaled_features_takes_durations_from_video_info(trained, tmp_path):
    # BMN's layout: T = 16 rows whatever the video's length; a 270 s video must not end at 16 rows' worth
    state = torch.load(trained / "run" / "last.pt", weights_only=True)
    state["config"]["data"]["rescaled"] = True
    torch.save(state, tmp_path / "rescaled.pt")
    np.save(tmp_path / "v_long.npy", np.random.default_rng(0).normal(size=(16, 16)).astype(np.float32))
    (tmp_path / "video_info_new.csv").write_text("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                                                 "v_long,8100,270.0,30.0,30.0,validation,8096\n")
    out = tmp_path / "pred.json"
    assert main(["predict", "--checkpoint", str(tmp_path / "rescaled.pt"), "--features", str(tmp_path / "v_long.npy"),
                 "--annotations", str(tmp_path / "video_info_new.csv"), "--out", str(out), "--quiet"]) == 0
    document = json.loads(out.read_text())
    duration = 8096 / 8100 * 270.0  # BMN's featureFrame / numFrame x seconds, the span its rows cover
    assert document["videos"] == {"long": {"duration_s": pytest.approx(duration), "fps": 30.0}}
    ends = [p["segment"][1] for p in document["results"]["long"]]
    assert max(ends) <= duration + 1e-6 and max(ends) > 16 * 16 / 30.0  # beyond what 16 rows at 30 fps would span


def test_evaluate_takes_inference_overrides(trained, capsys):
    args = ["evaluate", "--checkpoint", str(trained / "run" / "last.pt"), "--json", "--quiet"]
    assert main(args) == 0 and main([*args, "--set", "inference.refine=false", "--set", "inference.max_detections=5"]) == 0
    default, changed = (json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{"))
    saved = json.loads((trained / "run" / "metrics.json").read_text())
    assert default["average_mAP"] == pytest.approx(saved["average_mAP"])
    assert changed["AR@AN"]["5"] == pytest.approx(changed["AR@AN"]["10"])  # 5 detections kept per video
    assert changed["AR@AN"]["10"] != pytest.approx(default["AR@AN"]["10"])


def test_a_run_with_a_relative_data_root_evaluates_from_elsewhere(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(trained)
    assert main(["train", "--config", "demo", "--set", "data.root=data", *TINY, "--set", "synthetic.generate=false",
                 "--out", "relative", "--quiet"]) == 0
    assert (trained / "relative" / "config.yaml").read_text().count(f"root: {trained / 'data'}") == 1
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--checkpoint", str(trained / "relative" / "last.pt"), "--quiet"]) == 0
    # a checkpoint that kept the relative root (written before roots were stored absolute): found upwards
    state = torch.load(trained / "relative" / "last.pt", weights_only=True)
    state["config"]["data"]["root"] = "data"
    torch.save(state, trained / "relative" / "old.pt")
    assert main(["evaluate", "--checkpoint", str(trained / "relative" / "old.pt"), "--quiet"]) == 0
    state["config"]["data"]["root"] = "nowhere"
    torch.save(state, trained / "relative" / "lost.pt")
    assert main(["evaluate", "--checkpoint", str(trained / "relative" / "lost.pt"), "--quiet"]) == 2


def test_train_into_an_existing_run_needs_overwrite(trained, capsys):
    args = ["train", "--config", "demo", "--set", f"data.root={trained / 'data'}", *TINY, "--out", str(trained / "run"),
            "--quiet"]
    before = (trained / "run" / "last.pt").stat().st_mtime_ns
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (trained / "run" / "last.pt").stat().st_mtime_ns == before
    assert main(["train", "--config", "demo", "--set", f"data.root={trained / 'data'}", *TINY, "--out",
                 str(trained / "again"), "--quiet"]) == 0
    assert main([*args[:-3], "--out", str(trained / "again"), "--overwrite", "--quiet"]) == 0


def test_info_json(capsys):
    assert main(["info", "--config", "activitynet", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["total_params"] == 2_701_591  # tests/model/test_boundary_head.py counts it layer by layer
    assert sum(info["modules"].values()) == info["total_params"]


def test_bad_config_key_is_one_line_error(capsys):
    assert main(["info", "--set", "model.nope=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.nope" in err
