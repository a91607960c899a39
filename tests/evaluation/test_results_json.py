"""The result JSON: round trip, `v_` ids, atomic writes, and one-line errors for bad input."""

import gzip
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from seqattnet.errors import InputError
from seqattnet.evaluation import TIOUS, parse_tious, read_results, write_results
from seqattnet.evaluation.protocols import resolve_tious


def write_json(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_round_trip_with_canonical_ids(tmp_path):
    results = {"v_abc": [{"label": "x", "score": np.float32(0.5), "segment": np.array([1.0, 2.5])}],
               "video_test_0000004": [{"score": 1, "segment": (0, 3)}]}
    write_results(tmp_path / "r.json", results, external_data={"used": False})
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["version"] == "VERSION 1.3" and data["external_data"] == {"used": False}
    assert list(data["results"]) == ["abc", "video_test_0000004"]  # `v_` dropped, as the official ids
    back = read_results(tmp_path / "r.json")
    assert back == {"abc": [{"label": "x", "score": 0.5, "segment": [1.0, 2.5]}],
                    "video_test_0000004": [{"score": 1.0, "segment": [0.0, 3.0]}]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left behind


def test_gzip_round_trip(tmp_path):
    write_results(tmp_path / "r.json.gz", {"a": [{"label": "x", "score": 0.1, "segment": [0, 1]}]})
    with gzip.open(tmp_path / "r.json.gz", "rt") as f:
        assert json.load(f)["results"]["a"][0]["label"] == "x"
    assert read_results(tmp_path / "r.json.gz")["a"][0]["segment"] == [0.0, 1.0]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_json(tmp_path / "r.json", {"results": {}})
    bad = [([{"label": "x", "score": float("nan"), "segment": [0, 1]}], "field '[0].score': expected a finite"),
           ([{"label": "x", "segment": [0, 1]}], "field '[0].score': missing"),
           ([{"label": 3, "score": 1.0, "segment": [0, 1]}], "field '[0].label': expected a class name, got 3")]
    for predictions, expected in bad:
        with pytest.raises(InputError, match=re.escape(expected)):
            write_results(path, {"a": predictions})
    assert json.loads(path.read_text()) == {"results": {}}
    assert len(list(tmp_path.iterdir())) == 1


GOOD = {"label": "x", "score": 0.5, "segment": [1.0, 2.0]}


@pytest.mark.parametrize("content, expected", [
    ('{"results": {"a": [', "not valid JSON"),
    ("[1, 2]", "expected a JSON object at the top level"),
    ({"version": "1.3"}, "field 'results': missing"),
    ({"results": []}, "field 'results': expected an object of videos"),
    ({"results": {"a": {}}}, "video 'a': expected a list of predictions"),
    ({"results": {"a": [GOOD, 3]}}, "video 'a', field '[1]': expected an object"),
    ({"results": {"a": [{"label": "x", "segment": [1, 2]}]}}, "video 'a', field '[0].score': missing"),
    ({"results": {"a": [{"label": "x", "score": 1}]}}, "video 'a', field '[0].segment': missing"),
    ({"results": {"a": [{**GOOD, "segment": [1]}]}}, "field '[0].segment': expected [start, end]"),
    ({"results": {"a": [{**GOOD, "segment": [3, 2]}]}}, "field '[0].segment': end 2.0 < start 3.0"),
    ({"results": {"a": [{**GOOD, "segment": ["1", 2]}]}}, "field '[0].segment': expected a number, got '1'"),
    ('{"results": {"a": [{"label": "x", "score": NaN, "segment": [1, 2]}]}}', "field '[0].score': expected a finite"),
    ({"results": {"a": [{**GOOD, "score": -0.1}]}}, "field '[0].score': negative score -0.1"),
    ({"results": {"a": [{**GOOD, "score": True}]}}, "field '[0].score': expected a number, got True"),
    ({"results": {"a": [{**GOOD, "label": 7}]}}, "field '[0].label': expected a class name, got 7"),
    ({"results": {"v_a": [GOOD], "a": [GOOD]}}, "video 'a': video appears twice"),
])
def test_bad_files_give_one_line_naming_file_video_field(tmp_path, content, expected):
    path = write_json(tmp_path / "pred.json", content)
    with pytest.raises(InputError) as err:
        read_results(path)
    message = str(err.value)
    assert message.startswith(str(path)) and expected in message, message
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_results(tmp_path / "nope.json")


def test_protocol_thresholds():
    np.testing.assert_allclose(TIOUS["activitynet"], [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    np.testing.assert_allclose(TIOUS["thumos"], [0.3, 0.4, 0.5, 0.6, 0.7])
    np.testing.assert_array_equal(TIOUS["activitynet"], np.linspace(0.5, 0.95, 10))  # bit-identical to official
    with pytest.raises(ValueError):
        TIOUS["thumos"][0] = 0.1  # shared constants are read-only
    np.testing.assert_array_equal(resolve_tious("thumos"), TIOUS["thumos"])
    np.testing.assert_array_equal(resolve_tious("thumos", "0.5"), [0.5])


def test_parse_tious():
    np.testing.assert_array_equal(parse_tious("0.5, 0.75,0.95"), [0.5, 0.75, 0.95])
    for bad, message in [("", "expected comma-separated"), ("0.5,x", "'x' is not a number"),
                         ("1.5", "outside [0, 1]"), ("nan", "outside [0, 1]")]:
        with pytest.raises(InputError, match=re.escape(message)):
            parse_tious(bad)


def test_evaluation_imports_neither_torch_nor_the_model():
    code = ("import sys, seqattnet.evaluation, seqattnet.evaluation.command; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('seqattnet.model', 'seqattnet.engine'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
