"""Inference on a subset without ground truth (ActivityNet's testing) writes a submission JSON."""

import json

import numpy as np
import pytest

from seqattnet.cli import main
from seqattnet.engine.build import load_ground_truth
from seqattnet.engine.checkpoint import load_model
from seqattnet.engine.evaluate import evaluate_model

F, T = 8, 16
TINY = [f"model.feature_dim={F}", "model.num_classes=2", f"model.temporal_scale={T}", f"model.max_duration={T}",
        "model.base_channels=16", "model.bm_channels=16", "model.map_channels=8", "model.num_samples=8",
        "train.epochs=1", "train.batch_size=4", "data.rescaled=false", "data.classes=",
        "data.annotations=annotations.json", "data.features=features", "data.file_pattern='{video_id}.npy'"]


def write_activitynet(root):
    """ActivityNet JSON: 3 training, 1 validation, 2 testing videos (no annotations, as the official file)."""
    (root / "features").mkdir(parents=True)
    rng = np.random.default_rng(0)
    database = {}
    for k, subset in enumerate(["training"] * 3 + ["validation"] + ["testing"] * 2):
        anns = [] if subset == "testing" else [{"segment": [2.0, 9.0], "label": ["jump", "run"][k % 2]}]
        database[f"vid{k}"] = {"subset": subset, "duration": 20.0, "fps": 30.0, "annotations": anns}
        np.save(root / "features" / f"vid{k}.npy", rng.normal(size=(37, F)).astype(np.float32))
    (root / "annotations.json").write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("anet")
    root = write_activitynet(tmp_path / "data")
    sets = [f"data.root={root}", *TINY]
    assert main(["train", "--config", "activitynet", *[a for s in sets for a in ("--set", s)],
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    return tmp_path


def test_testing_split_writes_the_activitynet_result_json(trained, capsys):
    tmp_path = trained
    capsys.readouterr()
    out = tmp_path / "submission.json"
    code = main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--split", "testing",
                 "--out", str(out), "--json"])
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert "no ground truth" in printed[0] and json.loads(printed[-1]) == {"videos": 2, "average_mAP": None}
    document = json.loads(out.read_text())
    assert document["version"] == "VERSION 1.3" and document["external_data"] == {}
    assert sorted(document["results"]) == ["vid4", "vid5"]
    for preds in document["results"].values():
        assert 0 < len(preds) <= 100
        for p in preds:
            assert p["label"] in ("jump", "run") and 0 <= p["segment"][0] <= p["segment"][1] <= 20.0


def test_class_score_fusion_reports_map_with_and_without(trained):
    model, cfg, classes = load_model(trained / "run" / "last.pt", "cpu")
    truth, _ = load_ground_truth(cfg)
    plain = evaluate_model(model, cfg, truth, classes, "validation", "cpu", progress=False)
    # a video classifier sure of vid3's true class ("run"): every detection becomes "run"
    (trained / "data" / "cuhk.json").write_text(json.dumps({"results": {"v_vid3": [0.0, 1.0]}, "class": ["jump", "run"]}))
    cfg.inference.class_scores = "cuhk.json"
    cfg.inference.class_score_fusion = "replace"
    cfg.inference.class_score_top_k = 1
    fused = evaluate_model(model, cfg, truth, classes, "validation", "cpu", progress=False)
    summary = fused.summary()
    assert summary["average_mAP_without_class_scores"] == pytest.approx(plain.detection.average_mAP)
    assert {p["label"] for p in fused.results["vid3"]} == {"run"}
    assert 0.0 <= summary["average_mAP"] <= 1.0  # that fusion helps is shown in tests/postprocess/test_fusion.py
    assert "with video-level class scores" in fused.table()
