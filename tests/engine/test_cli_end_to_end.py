"""train -> evaluate -> predict through the command line, on a tiny generated dataset."""

import json

import numpy as np
import pytest

from seqattnet.cli import main

TINY = ["--set", "data.synthetic_train=24", "--set", "data.synthetic_val=8", "--set", "data.synthetic_classes=4",
        "--set", "model.num_classes=4", "--set", "model.feature_dim=16", "--set", "model.temporal_scale=16",
        "--set", "model.max_duration=16", "--set", "model.base_channels=16", "--set", "model.bm_channels=16",
        "--set", "model.map_channels=8", "--set", "model.num_samples=8", "--set", "train.epochs=1",
        "--set", "train.batch_size=8"]


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
                 "--out", str(out), "--plot", str(trained / "plots")])
    assert code == 0
    results = json.loads(out.read_text())["results"]
    (video, preds), = results.items()
    assert video == one.stem and 0 < len(preds) <= 100
    duration = ((np.load(one).shape[0] - 1) * 16 + 16) / 30.0
    for p in preds:
        assert 0 <= p["segment"][0] < p["segment"][1] <= duration + 1e-6
    assert (trained / "plots" / f"{one.stem}.png").stat().st_size > 1000


def test_info_json(capsys):
    assert main(["info", "--config", "activitynet", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 5_000_000 <= info["total_params"] <= 5_200_000
    assert sum(info["modules"].values()) == info["total_params"]


def test_bad_config_key_is_one_line_error(capsys):
    assert main(["info", "--set", "model.nope=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.nope" in err
