"""`seqattnet check-data`: a summary of a dataset, exit code 2 when training would fail."""

import json
from pathlib import Path

import numpy as np
import pytest

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.data.annotations import read_annotations
from seqattnet.data.check import check_config
from seqattnet.errors import InputError
from seqattnet.data.features import num_snippets

F = 6


def write_dataset(root, videos=None):
    """ActivityNet JSON (with fps) + features/<id>.npy of 40 snippets; 2 training videos, 1 validation."""
    videos = videos or {
        "a": ("training", 30.0, [([2.0, 10.0], "jump")]),
        "b": ("training", 20.0, [([0.0, 5.0], "run"), ([7.0, 7.0], "run"), ([15.0, 23.0], "jump")]),
        "c": ("validation", 25.0, [([3.0, 9.0], "run")]),
    }
    (root / "features").mkdir(parents=True, exist_ok=True)
    database = {}
    for vid, (subset, duration, anns) in videos.items():
        database[vid] = {"subset": subset, "duration": duration, "fps": 30.0,
                         "annotations": [{"segment": s, "label": l} for s, l in anns]}
        np.save(root / "features" / f"{vid}.npy", np.ones((40, F), dtype=np.float32))
    (root / "annotations.json").write_text(json.dumps({"version": "1.3", "database": database}))
    return root


def config_args(root, *extra):
    items = [f"data.root={root}", f"model.feature_dim={F}", "model.num_classes=2", "model.temporal_scale=16",
             "model.max_duration=16", "model.conv_groups=1", *extra]
    return ["--config", "activitynet", "--set", "data.rescaled=false", "--set", "data.file_pattern='{video_id}.npy'",
            "--set", "data.classes=", "--set", "data.annotations=annotations.json", "--set", "data.features=features",
            *[a for item in items for a in ("--set", item)]]


def report_for(root, *extra):
    args = config_args(root, *extra)
    return check_config(load_config(args[1], [args[i + 1] for i in range(2, len(args), 2)]))


def test_clean_dataset_is_summarised(tmp_path, capsys):
    root = write_dataset(tmp_path)
    assert main(["check-data", *config_args(root), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.strip().splitlines()[-1])
    assert report["ok"] and report["errors"] == []
    assert report["videos_per_subset"] == {"training": 2, "validation": 1}
    assert report["classes"] == 2 and report["instances_per_class"] == {"jump": 2, "run": 3}
    assert report["snippets"] == {"min": 40, "median": 40, "max": 40} and report["feature_files_read"] == 3
    assert report["duration_s"] == {"min": 20.0, "median": 25.0, "max": 30.0}
    # b's zero-length segment is left out, its [15, 23] in a 20 s video clipped: both counted and named
    assert len(report["skipped"]) == 2
    assert "'b'" in report["skipped"][0] and "zero-length" in report["skipped"][0]
    assert "annotations[2]" in report["skipped"][1] and "clipped" in report["skipped"][1]
    assert "skipped: 2" in out and "OK: training can start" in out


@pytest.mark.parametrize("damage, expected", [
    (lambda r: (r / "features" / "a.npy").unlink(), "'a': feature file not found"),
    (lambda r: np.save(r / "features" / "b.npy", np.ones((40, F + 1), np.float32)),
     f"1 of 3 feature files have dimension {F + 1}, but model.feature_dim is {F}"),
    (lambda r: np.save(r / "features" / "c.npy", np.full((40, F), np.nan, np.float32)), "non-finite"),
    (lambda r: (r / "features" / "c.npy").write_bytes(b"garbage"), "not a numpy array file"),
])
def test_broken_feature_files_fail_with_exit_code_2(tmp_path, capsys, damage, expected):
    root = write_dataset(tmp_path)
    damage(root)
    assert main(["check-data", *config_args(root)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.out and "training or evaluating would fail" in captured.err


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    root = write_dataset(tmp_path)
    (root / "features" / "a.npy").unlink()
    (root / "features" / "c.npy").unlink()
    report = report_for(root, "model.num_classes=200")
    assert len(report.errors) == 3 and not report.ok
    assert "model.num_classes is 200" in report.errors[-1]


def test_unknown_label_and_empty_subset(tmp_path):
    root = write_dataset(tmp_path, {"a": ("training", 30.0, [([2.0, 10.0], "jump")])})
    (root / "classes.txt").write_text("run\nswim\n")
    report = report_for(root, "data.classes=classes.txt")
    assert any("label 'jump' is not one of the 2 classes" in e for e in report.errors)
    assert any("no videos in subset 'validation'" in e for e in report.errors)


def test_duplicated_ids_are_an_error_naming_the_video(tmp_path):
    root = write_dataset(tmp_path)
    data = json.loads((root / "annotations.json").read_text())
    data["database"]["v_a"] = data["database"]["a"]
    (root / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="duplicated video id") as info:  # nothing else can be checked
        report_for(root)
    assert "'v_a'" in str(info.value)


def test_short_videos_are_noted(tmp_path):
    root = write_dataset(tmp_path)
    report = report_for(root, "model.temporal_scale=64")
    short = [note for note in report.notes if "snippets < T" in note]
    assert report.ok and len(short) == 3 and "40 snippets < T = 64" in short[0]


def test_duration_and_snippets_that_disagree_are_noted(tmp_path):
    # 40 snippets of 16 frames at 30 fps span (39 * 16 + 16) / 30 = 21.3 s: a (30 s) and c (25 s) are
    # further apart than 10% and two strides, b (20 s) is not
    root = write_dataset(tmp_path)
    spans = [note for note in report_for(root).notes if "snippets span" in note]
    assert [note.split("'")[1] for note in spans] == ["a", "c"]
    assert "21.3 s at 30 fps" in spans[0] and "its duration is 30 s" in spans[0]
    loose = check_config(load_config("activitynet", config_args(root)[3::2]), duration_tolerance=0.5)
    assert not [note for note in loose.notes if "snippets span" in note]


def test_repeated_notes_are_counted_unless_verbose(tmp_path, capsys):
    videos = {f"v{i}": ("training" if i else "validation", 30.0, [([2.0, 10.0], "jump")]) for i in range(6)}
    root = write_dataset(tmp_path, videos)
    report = report_for(root, "model.temporal_scale=64", "data.val_subset=validation")
    assert len(report.notes) == 12  # per video: short, and a span that disagrees
    text = report.text()
    assert text.count("snippets < T = 64") == 3 and "... and 3 more like these (--verbose lists all)" in text
    assert report.text(verbose=True).count("snippets < T = 64") == 6


def test_duplicate_video_keys_are_refused(tmp_path, capsys):
    root = write_dataset(tmp_path)
    text = (root / "annotations.json").read_text()
    entry = '"a": {"subset": "training", "duration": 30.0, "fps": 30.0, "annotations": []}, '
    (root / "annotations.json").write_text(text.replace('"database": {', '"database": {' + entry, 1))
    assert main(["check-data", *config_args(root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "key 'a' appears twice in one object" in captured.err


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "thumos14").is_dir(), reason="needs ../shared/data (real THUMOS14 annotations)")
def test_real_thumos14_annotations_with_stand_in_features(tmp_path):
    """The real file with tiny stand-in features of the right length: counts, and what it leaves out."""
    annotations = read_annotations(SHARED / "thumos14" / "thumos14.json.gz")
    (tmp_path / "i3d_features").mkdir()
    for video in annotations.videos.values():  # validation and test: evaluate --split test reads the test videos
        n = num_snippets(video.duration_s, video.fps, 4, 16)
        np.save(tmp_path / "i3d_features" / f"{video.video_id}.npy", np.zeros((n, 4), np.float32))
    cfg = load_config("thumos14", [f"data.root={tmp_path}", f"data.annotations={SHARED / 'thumos14' / 'thumos14.json.gz'}",
                                   "model.feature_dim=4"])
    report = check_config(cfg)
    assert report.ok, report.errors[:3]
    assert report.videos_per_subset == {"validation": 200, "test": 212} and report.classes == 20
    assert sum(report.instances_per_class.values()) == 3_007 + 3_358 and report.feature_files_read == 200 + 212
    # two validation and three test videos have annotations past their end
    assert len(report.skipped) == 4 + 26 and all("outside the video" in line for line in report.skipped)
    assert {line.split("'")[1] for line in report.skipped} == {"video_validation_0000364", "video_validation_0000856",
                                                               "video_test_0000270", "video_test_0000814",
                                                               "video_test_0001081"}


def test_every_subset_is_checked_when_train_and_validation_are_one(tmp_path):
    """THUMOS14's layout: it trains and validates on Validation, and `evaluate --split test` reads Test."""
    root = write_dataset(tmp_path, {"a": ("Validation", 30.0, [([2.0, 10.0], "jump")]),
                                    "b": ("Validation", 20.0, [([0.0, 5.0], "run")]),
                                    "t": ("Test", 25.0, [([3.0, 9.0], "run")])})
    (root / "features" / "t.npy").unlink()
    report = report_for(root, "data.train_subset=validation", "data.val_subset=validation")
    assert report.videos_per_subset == {"validation": 2, "test": 1}
    assert report.feature_files_read == 2 and len(report.errors) == 1
    assert report.errors[0].startswith("video 't': feature file not found")


def test_a_wrong_feature_dimension_is_one_line_with_the_fix(tmp_path, capsys):
    root = write_dataset(tmp_path)
    assert main(["check-data", *config_args(root, f"model.feature_dim={F + 2}")]) == 2
    out = capsys.readouterr().out
    assert f"3 of 3 feature files have dimension {F}, but model.feature_dim is {F + 2} (the first: " \
           f"{root / 'features' / 'a.npy'}); set --set model.feature_dim={F}" in out and "errors: 1\n" in out
    np.save(root / "features" / "b.npy", np.ones((40, F + 1), np.float32))  # one file unlike the others: no fix
    report = report_for(root)
    assert report.errors == [f"1 of 3 feature files have dimension {F + 1}, but model.feature_dim is {F} (the first: "
                             f"{root / 'features' / 'b.npy'})"]


def test_a_relative_root_is_read_beside_the_yaml_and_a_missing_file_named_in_full(tmp_path, monkeypatch, capsys):
    write_dataset(tmp_path / "mine")
    (tmp_path / "mine" / "mine.yaml").write_text(
        f"model: {{feature_dim: {F}, num_classes: 2, temporal_scale: 16, max_duration: 16, conv_groups: 1}}\n"
        "data: {root: ., annotations: annotations.json, features: features}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check-data", "--config", "mine/mine.yaml"]) == 0
    assert f"annotations: {tmp_path / 'mine' / 'annotations.json'}" in capsys.readouterr().out
    assert main(["check-data", "--config", "mine/mine.yaml", "--set", "data.annotations=nope.json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty summary before the error
    assert captured.err.strip() == f"seqattnet check-data: error: {tmp_path / 'mine' / 'nope.json'}: file not found"
