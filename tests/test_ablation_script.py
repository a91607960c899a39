"""benchmarks/ablation.py end to end on a tiny network and dataset: every row, every check, and --reuse."""

import importlib.util
import json
from pathlib import Path

import yaml

ABLATION = Path(__file__).parents[1] / "benchmarks" / "ablation.py"
TINY = ["synthetic.train_videos=12", "synthetic.val_videos=6", "train.epochs=1", "train.lr_step=0",
        "train.batch_size=4", "train.num_threads=1", "model.temporal_scale=16", "model.max_duration=16",
        "model.base_channels=8"]  # BM and map widths: each recipe's own, so the cost row (Table 1's) differs


def _ablation():
    spec = importlib.util.spec_from_file_location("ablation", ABLATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(module, out: Path, capsys, *extra: str) -> tuple[list[dict], str]:
    argv = ["--seeds", "0,1", "--modes", "standard", "--out", str(out), "--parts", "core,removals,cost", "--json", *extra]
    assert module.main(argv + [a for item in TINY for a in ("--set", item)]) == 0
    text = capsys.readouterr().out
    return json.loads(text.strip().splitlines()[-1]), text


def test_every_row_and_check_is_printed_and_reuse_keeps_finished_runs(tmp_path, capsys):
    module = _ablation()
    rows, text = _run(module, tmp_path, capsys)
    expected = ["paper model", "paper model, refinement off", "shipped default", "shipped default, refinement off",
                module.HEAD_REFERENCE, *module.HEAD_ONLY, *module.RETRAINED, *module.INFERENCE, *module.COST]
    assert [r["variant"] for r in rows] == expected and all(r["seeds"] == 2 for r in rows)
    for label in ["refinement gain (same weights)", "shipped default - paper model", *module.HEAD_ONLY, *module.RETRAINED,
                  *module.INFERENCE, *module.COST]:
        assert f"standard: {label}: " in text and "(per-seed differences: " in text
    assert rows[expected.index("paper model")]["params"] > rows[expected.index("shipped default")]["params"]
    cost = rows[expected.index(next(iter(module.COST)))]
    assert cost["params"] > rows[expected.index("shipped default")]["params"]  # Table 1's wider BM layer and map head

    checkpoint = tmp_path / "standard" / "seed_1" / "shipped_default" / "last.pt"
    written = checkpoint.stat().st_mtime_ns
    again, _ = _run(module, tmp_path, capsys, "--reuse")
    assert checkpoint.stat().st_mtime_ns == written  # kept, not trained again
    trained = {"paper model", "shipped default", "shipped default, refinement off", *module.RETRAINED, *module.COST}
    for old, new in zip(rows, again):
        if old["variant"] in trained:
            assert old["average_mAP"] == new["average_mAP"], old["variant"]


def test_another_recipe_on_the_built_in_data_and_an_interrupted_run_resumes(tmp_path, capsys):
    module = _ablation()
    argv = ["--config", "activitynet", "--seeds", "0", "--modes", "standard", "--out", str(tmp_path), "--parts", "cost",
            "--json", *[a for item in TINY for a in ("--set", item)]]
    assert module.main(argv) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = tmp_path / "activitynet" / "standard" / "seed_0" / "shipped_default"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    # activitynet's (BMN's CSV files of 200 classes, rescaled) replaced by the demo's generated data
    assert saved["model"]["num_classes"] == 20 and saved["data"]["rescaled"] is False
    assert saved["data"]["file_pattern"] == "{video_id}.npy" and (tmp_path / "data-standard" / "annotations.json").exists()

    (run / "metrics.json").unlink()  # stopped after its last checkpoint, before its evaluation
    log = (run / "train.log").read_text()
    assert module.main(argv + ["--reuse"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (run / "metrics.json").exists() and (run / "train.log").read_text().startswith(log)  # resumed, not restarted
    assert [r["average_mAP"] for r in again] == [r["average_mAP"] for r in rows]


def test_the_windowed_recipe_trains_on_the_thumos_shaped_data_and_scores_its_test_videos(tmp_path, capsys):
    module = _ablation()
    tiny = [*TINY, "synthetic.train_videos=3", "synthetic.val_videos=2", "model.feature_dim=16",
            "windows.train_per_video=1", "model.temporal_scale=64"]  # fewer windows over its long videos
    argv = ["--config", "thumos14", "--seeds", "0", "--modes", "hard", "--out", str(tmp_path), "--parts",
            "core,removals,cost", "--json", *[a for item in tiny for a in ("--set", item)]]
    assert module.main(argv) == 0
    text = capsys.readouterr().out
    rows = json.loads(text.strip().splitlines()[-1])
    expected = ["shipped default", "shipped default, refinement off", *module.THUMOS_RETRAINED,
                *module.THUMOS_INFERENCE, *module.COST]
    assert [r["variant"] for r in rows] == expected  # no paper model: its training is the demo's
    assert [k for k in rows[0] if k.startswith("mAP@")] == ["mAP@0.3", "mAP@0.5", "mAP@0.7"]  # the thumos protocol
    for label in ["refinement gain (same weights)", *module.THUMOS_RETRAINED, *module.THUMOS_INFERENCE, *module.COST]:
        assert f"hard: {label}: " in text
    saved = yaml.safe_load((tmp_path / "thumos14" / "hard" / "seed_0" / "shipped_default" / "config.yaml").read_text())
    assert saved["synthetic"]["layout"] == "thumos" and saved["data"]["val_subset"] == "validation"
    generated = json.loads((tmp_path / "data-thumos-hard" / "dataset.json").read_text())["parameters"]
    assert (generated["layout"], generated["mode"], generated["num_train"], generated["num_val"]) == ("thumos", "hard", 3, 2)
