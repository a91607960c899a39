"""`seqattnet evaluate-json` end to end, in-process: output, formats, subsets, and bad input."""

import json

import pytest

from seqattnet.cli import main

DATABASE = {
    "abc": {"subset": "validation", "duration": 100.0, "annotations": [{"segment": [10.0, 30.0], "label": "run"}]},
    "def": {"subset": "validation", "duration": 50.0, "annotations": [{"segment": [0.0, 20.0], "label": "jump"}]},
    "trn": {"subset": "training", "duration": 80.0, "annotations": [{"segment": [5.0, 9.0], "label": "swim"}]},
}


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.fixture
def files(tmp_path):
    gt = write(tmp_path / "gt.json", {"version": "1.3", "taxonomy": [], "database": DATABASE})
    results = {"v_abc": [{"label": "run", "score": 0.9, "segment": [10.0, 30.0]}],
               "def": [{"label": "jump", "score": 0.8, "segment": [0.0, 12.0]}]}  # IoU 0.6
    pred = write(tmp_path / "pred.json", {"version": "1.3", "results": results, "external_data": {}})
    return tmp_path, gt, pred


def run(capsys, *argv):
    code = main(["evaluate-json", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_and_json(files, capsys):
    _, gt, pred = files
    code, out, err = run(capsys, gt, pred)
    assert code == 0 and err == ""
    assert "subset validation: 2 videos, 2 instances" in out
    assert "    0.60    100.00" in out and "    0.65     50.00" in out  # jump is matched up to IoU 0.6
    assert " Average     65.00" in out  # (3 x 100 + 7 x 50) / 10
    code, out, _ = run(capsys, gt, pred, "--json")
    summary = json.loads(out.strip().splitlines()[-1])
    assert set(summary) == {"tious", "mAP", "average_mAP"}
    assert summary["tious"] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    assert summary["mAP"] == pytest.approx([1.0] * 3 + [0.5] * 7)
    assert summary["average_mAP"] == pytest.approx(0.65)


def test_protocol_and_custom_thresholds(files, capsys):
    _, gt, pred = files
    _, out, _ = run(capsys, gt, pred, "--protocol", "thumos", "--json")
    summary = json.loads(out.splitlines()[-1])
    assert summary["tious"] == [0.3, 0.4, 0.5, 0.6, 0.7] and summary["mAP"] == pytest.approx([1, 1, 1, 1, 0.5])
    _, out, _ = run(capsys, gt, pred, "--tious", "0.5,0.61", "--json")
    assert json.loads(out.splitlines()[-1]) == {"tious": [0.5, 0.61], "mAP": [1.0, 0.5], "average_mAP": 0.75}


def test_proposals(files, capsys):
    _, gt, pred = files
    code, out, _ = run(capsys, gt, pred, "--proposals", "--json")
    summary = json.loads(out.splitlines()[-1])
    assert code == 0 and set(summary) == {"tious", "AR@AN", "AUC", "AN", "AR"}
    assert summary["AR@AN"] == pytest.approx({"1": 0.65, "5": 0.65, "10": 0.65, "100": 0.65})  # as `evaluate --json`
    assert summary["tious"] == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]  # rounded
    assert len(summary["AN"]) == len(summary["AR"]) == 100 and summary["AN"][-1] == 100.0
    # One proposal per video, 100 allowed on average: the official fractions are scaled by 100 / 1, so
    # every point keeps it. run is found at every threshold, jump (IoU 0.6) at 3 of 10: AR 0.65.
    assert summary["AR"] == pytest.approx([0.65] * 100)
    assert summary["AUC"] == pytest.approx(0.65 * 99 / 100)  # the official area runs from AN 1, not 0
    assert "AR@100" in out


def test_proposals_on_training_videos_count_in_the_budget(files, capsys):
    tmp, gt, _ = files
    results = {"abc": [{"label": "run", "score": 0.9, "segment": [10.0, 30.0]}],
               "def": [{"label": "jump", "score": 0.8, "segment": [0.0, 12.0]}],
               "trn": [{"label": "swim", "score": 0.5, "segment": [5.0, 9.0]}] * 200}
    pred = write(tmp / "all.json", {"results": results})
    # Official: 202 proposals in the file for 2 evaluated videos, ratio 100 * 2 / 202 < 1: int(1 * 0.99) = 0,
    # so abc and def keep none and nothing is recalled.
    code, out, _ = run(capsys, gt, pred, "--proposals", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["AR"] == [0.0] * 100
    assert "per-video budget from every proposal in the file" in out
    # From the evaluated videos' 2 proposals only: the same as without the training video (AR 0.65).
    code, out, _ = run(capsys, gt, pred, "--proposals", "--subset-budget", "--json")
    assert json.loads(out.splitlines()[-1])["AR"] == pytest.approx([0.65] * 100)
    assert "per-video budget from the evaluated videos' proposals" in out


def test_default_subset_choice(tmp_path, capsys):
    thumos = {"database": {
        "video_validation_1": {"subset": "Validation", "duration": 10.0, "fps": 30.0,
                               "annotations": [{"segment": [1.0, 2.0], "label": "A", "label_id": 0}]},
        "video_test_1": {"subset": "Test", "duration": 10.0, "fps": 30.0,
                         "annotations": [{"segment": [3.0, 4.0], "label": "A", "label_id": 0}]},
    }}
    gt = write(tmp_path / "thumos.json", thumos)
    hit = {"label": "A", "score": 1.0, "segment": [3.0, 4.0]}
    pred = write(tmp_path / "p.json", {"results": {"video_test_1": [hit]}})
    _, out, _ = run(capsys, gt, pred, "--json")
    assert "subset validation: 1 video," in out and json.loads(out.splitlines()[-1])["average_mAP"] == 0.0
    _, out, _ = run(capsys, gt, pred, "--subset", "Test", "--json")
    assert json.loads(out.splitlines()[-1])["average_mAP"] == 1.0
    del thumos["database"]["video_validation_1"]
    gt = write(tmp_path / "thumos.json", thumos)
    _, out, _ = run(capsys, gt, pred, "--json")  # no validation subset: test
    assert "subset test" in out and json.loads(out.splitlines()[-1])["average_mAP"] == 1.0


def test_bmn_pair(tmp_path, capsys):
    anno = {"v_abc": {"duration_second": 100.0, "duration_frame": 3000, "feature_frame": 2992,
                      "annotations": [{"segment": [10.0, 30.0], "label": "run"}]},
            "v_xyz": {"duration_second": 60.0, "duration_frame": 1800, "feature_frame": 1792,
                      "annotations": [{"segment": [0.0, 5.0], "label": "run"}]}}
    gt = write(tmp_path / "anet_anno_action.json", anno)
    (tmp_path / "video_info_new.csv").write_text(
        "video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
        "v_abc,3000,100.0,30.0,30.0,validation,2992\nv_xyz,1800,60.0,30.0,30.0,training,1792\n")
    pred = write(tmp_path / "p.json", {"results": {"abc": [{"label": "run", "score": 0.5, "segment": [10.0, 30.0]}]}})
    code, out, _ = run(capsys, gt, pred, "--json")
    assert code == 0 and "subset validation: 1 video," in out
    assert json.loads(out.splitlines()[-1])["average_mAP"] == 1.0


def test_unknown_videos_and_labels(files, capsys):
    tmp_path, gt, _ = files
    pred = write(tmp_path / "p.json", {"results": {"abc": [{"label": "run", "score": 0.5, "segment": [10.0, 30.0]}],
                                                   "zzz": [{"label": "run", "score": 0.9, "segment": [0.0, 1.0]}]}})
    code, out, err = run(capsys, gt, pred)
    assert code == 2 and out == ""
    assert err.startswith(f"seqattnet evaluate-json: error: {pred}, video 'zzz', field 'results': not a video of")
    code, out, _ = run(capsys, gt, pred, "--allow-unknown-videos", "--tious", "0.5", "--json")
    assert json.loads(out.splitlines()[-1])["mAP"] == [0.25]  # run: FP then TP (0.5); jump: no prediction (0)

    pred = write(tmp_path / "p.json", {"results": {"abc": [{"label": "Run", "score": 0.5, "segment": [10.0, 30.0]}]}})
    code, _, err = run(capsys, gt, pred)
    assert code == 2 and f"{pred}, video 'abc', field '[0].label': 'Run' is not a class" in err
    code, out, _ = run(capsys, gt, pred, "--ignore-unknown-labels", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["average_mAP"] == 0.0
    # "swim" is a class of the file, but not of the validation subset: unknown there, as in the official code.
    pred = write(tmp_path / "p.json", {"results": {"abc": [{"label": "swim", "score": 0.5, "segment": [0, 3]}]}})
    assert run(capsys, gt, pred)[0] == 2


@pytest.mark.parametrize("which, content, expected", [
    ("pred", '{"results": {', "not valid JSON"),
    ("pred", {"results": {"abc": [{"label": "run", "score": float("nan"), "segment": [1, 2]}]}},
     "video 'abc', field '[0].score': expected a finite number"),
    ("pred", {"results": {"abc": [{"label": "run", "score": -1, "segment": [1, 2]}]}},
     "video 'abc', field '[0].score': negative score"),
    ("pred", {"results": {"abc": [{"label": "run", "score": 1, "segment": [5, 2]}]}},
     "video 'abc', field '[0].segment': end 2.0 < start 5.0"),
    ("pred", {"version": 1}, "field 'results': missing"),
    ("gt", {"database": {"abc": {"subset": "validation", "duration": 9.0,
                                 "annotations": [{"segment": [5.0, 2.0], "label": "run"}]}}},
     "video 'abc', field 'annotations[0].segment': end 2.0 < start 5.0"),
    ("gt", {"database": {"abc": {"subset": "validation", "annotations": []}}},
     "video 'abc', field 'duration': missing"),
    ("gt", {"videos": {}}, "no 'database' key"),
])
def test_bad_input_is_one_line_with_exit_code_2(files, capsys, which, content, expected):
    tmp_path, gt, pred = files
    path = write(tmp_path / f"bad_{which}.json", json.dumps(content) if not isinstance(content, str) else content)
    args = (path, pred) if which == "gt" else (gt, path)
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"seqattnet evaluate-json: error: {path}")
    assert expected in err, err


def test_other_option_errors(files, capsys):
    _, gt, pred = files
    code, _, err = run(capsys, gt, pred, "--subset", "testing")
    assert code == 2 and "no video of subset 'testing'; the file has: training (1), validation (2)" in err
    code, _, err = run(capsys, gt, pred, "--tious", "0.5,2")
    assert code == 2 and err.strip() == "seqattnet evaluate-json: error: --tious: tIoU threshold 2 is outside [0, 1]"
    code, _, err = run(capsys, gt, str(files[0] / "missing.json"))
    assert code == 2 and "missing.json: file not found" in err


def test_debug_shows_the_traceback(files):
    _, gt, _ = files
    with pytest.raises(Exception, match="file not found"):
        main(["--debug", "evaluate-json", gt, "/nonexistent/pred.json"])
