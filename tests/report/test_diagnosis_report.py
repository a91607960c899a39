"""`seqattnet diagnose` end to end: the numbers in diagnosis.json, the page as text, bad input, and the
page in a real headless Chromium."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from seqattnet.cli import main
from seqattnet.data.annotations import read_annotations
from seqattnet.evaluation import TIOUS
from seqattnet.evaluation.diagnosis import diagnose
from seqattnet.evaluation.results import read_results
from seqattnet.report.diagnosis import SECTIONS, summary_text
from seqattnet.structures import AnnotationSet, VideoAnnotation

# Video a (100 s): A [10, 20], B [50, 80]; video empty (50 s): no instance; one training video.
DATABASE = {
    "a": {"subset": "validation", "duration": 100.0,
          "annotations": [{"segment": [10.0, 20.0], "label": "A"}, {"segment": [50.0, 80.0], "label": "B"}]},
    "empty": {"subset": "validation", "duration": 50.0, "annotations": []},
    "trn": {"subset": "training", "duration": 80.0, "annotations": [{"segment": [5.0, 9.0], "label": "A"}]},
}
# Class A, best first: wrong label, true positive, double detection, localization, confusion, background
# (in a, in empty, in the training video); class B: one true positive.
PREDICTIONS = {
    "a": [["A", 0.95, 50.0, 80.0], ["A", 0.90, 11.0, 20.5], ["A", 0.80, 10.0, 21.0], ["A", 0.70, 10.0, 40.0],
          ["A", 0.60, 65.0, 100.0], ["A", 0.50, 85.0, 95.0], ["B", 0.99, 50.0, 80.0]],
    "v_empty": [["A", 0.40, 10.0, 20.0]],
    "trn": [["A", 0.30, 5.0, 9.0]],
}


@pytest.fixture
def files(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"version": "1.3", "taxonomy": [], "database": DATABASE}))
    results = {v: [{"label": l, "score": s, "segment": [a, b]} for l, s, a, b in ps] for v, ps in PREDICTIONS.items()}
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"version": "1.3", "results": results, "external_data": {}}))
    return tmp_path, gt, pred


def run(capsys, *argv):
    code = main(["diagnose", *map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_diagnosis_json_holds_the_hand_built_answers(files, capsys):
    tmp, gt, pred = files
    code, out, err = run(capsys, gt, pred, "--out", tmp / "rep", "--json")
    assert code == 0 and err == ""
    last = json.loads(out.strip().splitlines()[-1])
    d = json.loads((tmp / "rep" / "diagnosis.json").read_text())
    fp = d["false_positives"]
    per_type = np.asarray(fp["counts"]).sum(axis=0)  # (6 types, 10 thresholds)
    # at every threshold each prediction has one type; at 0.5: exactly the hand-built ones
    assert per_type[:, 0].tolist() == [2, 1, 1, 1, 1, 3]
    assert (per_type.sum(axis=0) == 9).all()
    assert d["counts"] == {"videos": 2, "instances": 2, "classes": 2, "predictions": 9,
                           "predictions_off_ground_truth": 1}
    assert all(g >= 0 for g in fp["removal_gain"].values()) and last["largest_gain"] == "wrong label"
    assert d["normalized"]["N"] == 1.0
    assert d["mAP"]["average"] == pytest.approx(last["average_mAP"])
    # the same numbers as the library call on the same files
    direct = diagnose(read_annotations(gt).subset("validation"), read_results(pred), TIOUS["activitynet"])
    assert d["mAP"]["per_class_ap"] == direct.detection.ap.tolist()
    assert fp["removal_gain"]["wrong label"] == pytest.approx(direct.false_positives.gain[1])
    assert d["boundary_errors"]["matched"] == len(direct.boundary.start_s)
    assert "report:" in out and "subset validation: 2 videos, 2 instances" in out


def test_page_is_self_contained_with_every_section(files, capsys):
    tmp, gt, pred = files
    assert run(capsys, gt, pred, "--out", tmp / "rep")[0] == 0
    page = (tmp / "rep" / "report.html").read_text()
    for key, _ in SECTIONS:
        assert f'<section id="{key}">' in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    assert len(re.findall(r"<img ", page)) == 5  # PR, FP profile, sensitivity, misses, boundaries
    assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize("change,message", [
    (lambda gt, pred: pred.write_text(json.dumps({"results": {"a": [{"label": "A", "score": 1, "segment": [3, 1]}]}})),
     r"pred.json, video 'a', field '\[0\].segment': end 1.0 < start 3.0"),
    (lambda gt, pred: pred.write_text(json.dumps({"results": {"zzz": []}})), r"pred.json, video 'zzz'.*not a video"),
    (lambda gt, pred: pred.write_text("{"), r"pred.json"),
])
def test_bad_input_is_one_line_and_exit_2(files, capsys, change, message):
    tmp, gt, pred = files
    change(gt, pred)
    code, out, err = run(capsys, gt, pred, "--out", tmp / "rep")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(message, err)
    assert not (tmp / "rep").exists()  # nothing written before the input is known to be good


def test_unknown_subset_names_the_field(files, capsys):
    tmp, gt, pred = files
    code, _, err = run(capsys, gt, pred, "--out", tmp / "rep", "--subset", "testing")
    assert code == 2 and "field 'subset'" in err


def test_report_in_chromium_loads_without_errors_and_shows_each_section(browser, files, capsys):
    from selenium.webdriver.common.by import By

    tmp, gt, pred = files
    assert run(capsys, gt, pred, "--out", tmp / "rep")[0] == 0
    browser.get((tmp / "rep" / "report.html").as_uri())
    assert browser.title == "Detection diagnosis: pred.json"
    for key, name in SECTIONS:
        section = browser.find_element(By.ID, key)
        browser.execute_script("arguments[0].scrollIntoView()", section)
        assert section.is_displayed() and section.find_element(By.TAG_NAME, "h2").text == name
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 5
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100", i)
               for i in images)
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#false-positives tbody tr:first-child td")]
    assert cells[:2] == ["1G", "2"]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_summary_says_what_the_shares_are_of():
    # The hand case at tIoU 0.5: the top G (1 per class) are B's true positive and A's wrong label, and
    # removing the wrong label lifts A's AP_N from 0.5 to 1: 25 points of average mAP_N.
    annotations = {v: VideoAnnotation(v, x["subset"], x["duration"], [a["segment"] for a in x["annotations"]],
                                      [a["label"] for a in x["annotations"]])
                   for v, x in DATABASE.items() if x["subset"] == "validation"}
    results = {v.removeprefix("v_"): [{"label": l, "score": s, "segment": [a, b]} for l, s, a, b in ps]
               for v, ps in PREDICTIONS.items()}
    text = summary_text(diagnose(AnnotationSet(annotations, ["A", "B"]), results, [0.5]))
    assert ("top-G predictions of each class (G: its instances): true positive 50.0 %, double detection 0.0 %, "
            "wrong label 50.0 %, localization 0.0 %, confusion 0.0 %, background 0.0 % of them; removing wrong "
            "label errors would gain 25.00 points of average mAP_N") in text


def one_instance(tmp_path, start_s=10.0):
    """Ground truth A [10, 20] in video a; predictions: A [start_s, 20] (a true positive), then background."""
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"a": {"subset": "validation", "duration": 100.0,
                                                 "annotations": [{"segment": [10.0, 20.0], "label": "A"}]}}}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": {"a": [{"label": "A", "score": 0.9, "segment": [start_s, 20.0]},
                                                  {"label": "A", "score": 0.1, "segment": [60.0, 70.0]}]}}))
    return gt, pred


def test_summary_names_no_error_type_when_no_removal_helps(tmp_path, capsys):
    # A true positive ranked above a background error: AP is 1 already, every removal gain is 0.
    gt, pred = one_instance(tmp_path)
    code, out, _ = run(capsys, gt, pred, "--out", tmp_path / "rep", "--json")
    assert code == 0 and "removing no single error type would raise average mAP_N (every gain is 0)" in out
    assert "would gain" not in out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["largest_gain"] is None and set(last["removal_gain"].values()) == {0.0}


def test_page_names_the_file_and_writes_bins_and_numbers_as_the_docs(tmp_path, capsys):
    gt, pred = one_instance(tmp_path, start_s=9.999)  # starts 0.001 s early: -0.001 rounds to 0.00
    assert run(capsys, gt, pred, "--out", tmp_path / "rep")[0] == 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<title>Detection diagnosis: pred.json</title>" in page and "<h1>Detection diagnosis: pred.json</h1>" in page
    assert "for the 1 detection matched at tIoU 0.50" in page
    assert "-0.00" not in page and "<tr><td>start_s</td><td>1</td><td>0.00</td><td>0.00</td>" in page
    for interval in ("[0, 0.2]", "(0.8, 1]", "[0, 30]", "&gt; 180", "2–4", "&gt; 8"):
        assert f"<td>{interval}</td>" in page, interval
    assert "<td>instances</td><td>XS</td><td>1</td><td>1</td>" in page  # its video holds 1 instance
    assert "(-1, 1]" not in page and "(0, 0.2]" not in page


def test_a_second_diagnosis_needs_overwrite_and_a_failed_one_keeps_the_first(files, capsys, monkeypatch):
    """Nothing is replaced silently, and a report that fails half-way (here its last chart) leaves the
    previous report.html and diagnosis.json as they were, not one new and one old."""
    from seqattnet.report import diagnosis_plots

    tmp, gt, pred = files
    assert run(capsys, gt, pred, "--out", tmp / "rep")[0] == 0
    before = {name: (tmp / "rep" / name).read_bytes() for name in ("report.html", "diagnosis.json")}
    better = {"results": {"a": [{"label": "A", "score": 0.9, "segment": [10.0, 20.0]},
                                {"label": "B", "score": 0.9, "segment": [50.0, 80.0]}]}}
    pred.write_text(json.dumps(better))
    code, _, err = run(capsys, gt, pred, "--out", tmp / "rep")
    assert code == 2 and err.strip().endswith("/rep' already holds report.html, diagnosis.json; pass --overwrite "
                                              "to replace them, or choose another folder")

    def broken(*args):
        raise RuntimeError("the boundary chart failed")

    monkeypatch.setattr(diagnosis_plots, "boundary_histograms", broken)
    with pytest.raises(RuntimeError, match="boundary chart"):
        run(capsys, gt, pred, "--out", tmp / "rep", "--overwrite")
    assert {name: (tmp / "rep" / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in (tmp / "rep").iterdir()) == ["diagnosis.json", "report.html"]
    monkeypatch.undo()
    assert run(capsys, gt, pred, "--out", tmp / "rep", "--overwrite")[0] == 0
    assert json.loads((tmp / "rep" / "diagnosis.json").read_text())["mAP"]["average"] == 1.0
