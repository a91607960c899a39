"""Ground-truth readers: tiny files in each format, bad input, and (when present) the real files."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from seqattnet.data.annotations import read_annotations, read_class_names
from seqattnet.errors import InputError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # ../shared beside the repository
INFO_HEADER = "video,numFrame,seconds,fps,rfps,subset,featureFrame\n"


def dump(path: Path, data) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def test_activitynet_json(tmp_path):
    database = {
        "v_abc": {"subset": "validation", "duration": 100.0, "url": "",
                  "annotations": [{"segment": [1.5, 20.0], "label": "Run"}, {"segment": [30, 40], "label": "Jump"}]},
        "def": {"subset": "training", "duration": 50.0, "annotations": [{"segment": [0, 5], "label": "Swim"}]},
        "ghi": {"subset": "testing", "duration": 70.0, "annotations": []},
    }
    path = dump(tmp_path / "activity_net.json", {"version": "1.3", "taxonomy": [], "database": database})
    gt = read_annotations(path)
    assert list(gt.videos) == ["abc", "def", "ghi"]  # `v_` dropped
    assert gt.classes == ["Jump", "Run", "Swim"]
    assert gt.subsets == {"validation": 1, "training": 1, "testing": 1}
    video = gt.videos["abc"]
    assert (video.subset, video.duration_s, video.labels, video.fps) == ("validation", 100.0, ["Run", "Jump"], None)
    np.testing.assert_array_equal(video.segments_s, [[1.5, 20.0], [30.0, 40.0]])
    assert gt.videos["ghi"].segments_s.shape == (0, 2)
    validation = gt.subset("Validation")
    assert list(validation.videos) == ["abc"] and validation.classes == gt.classes
    assert gt.subset(None) is gt


def test_bmn_pair_with_csv_beside_or_given(tmp_path):
    anno = {"v_abc": {"duration_second": 82.73, "duration_frame": 2067, "feature_frame": 2064,
                      "annotations": [{"segment": [6.2, 77.7], "label": "Ballet"}]},
            "v_xyz": {"duration_second": 31.6, "duration_frame": 946, "feature_frame": 944, "annotations": []}}
    csv = INFO_HEADER + "v_abc,2067,82.73,25.0,24.98,validation,2064\nv_xyz,946,31.6,30.0,29.9,testing,944\n"
    path = dump(tmp_path / "anet_anno_action.json.gz", anno)
    dump(tmp_path / "video_info_new.csv.gz", csv)
    gt = read_annotations(path)
    assert gt.subsets == {"validation": 1, "testing": 1}
    assert gt.videos["abc"].fps == 25.0 and gt.videos["abc"].labels == ["Ballet"]
    assert gt.videos["abc"].duration_s == pytest.approx(82.73)
    elsewhere = tmp_path / "info"
    elsewhere.mkdir()
    other = dump(elsewhere / "anno.json", anno)
    with pytest.raises(InputError, match="no 'database' key .* and no video_info_new.csv beside it"):
        read_annotations(other)
    assert read_annotations(other, info_csv=tmp_path / "video_info_new.csv.gz").subsets == gt.subsets


def test_actionformer_thumos_json(tmp_path):
    database = {
        "video_validation_0000051": {"subset": "Validation", "duration": 169.79, "fps": 30.0, "annotations": [
            {"label": "Billiards", "segment": [2.5, 4.1], "segment(frames)": [75.0, 123.0], "label_id": 2}]},
        "video_test_0000004": {"subset": "Test", "duration": 33.83, "fps": 30.0, "annotations": [
            {"label": "CricketBowling", "segment": [0.2, 1.1], "segment(frames)": [6.0, 33.0], "label_id": 5}]},
    }
    gt = read_annotations(dump(tmp_path / "thumos14.json", {"version": "Thumos14-30fps", "database": database}))
    assert gt.subsets == {"validation": 1, "test": 1}
    assert gt.videos["video_test_0000004"].fps == 30.0
    assert list(gt.subset("test").videos) == ["video_test_0000004"]
    assert gt.classes == ["Billiards", "CricketBowling"]


def entry(**changes):
    base = {"subset": "validation", "duration": 10.0, "annotations": [{"segment": [1.0, 2.0], "label": "A"}]}
    return {**base, **changes}


@pytest.mark.parametrize("database, expected", [
    ({"a": entry(annotations=[{"segment": [3.0, 2.0], "label": "A"}])},
     "video 'a', field 'annotations[0].segment': end 2.0 < start 3.0"),
    ({"a": entry(annotations=[{"segment": [1.0], "label": "A"}])},
     "field 'annotations[0].segment': expected [start, end]"),
    ({"a": entry(annotations=[{"segment": [1.0, 2.0]}])}, "video 'a', field 'annotations[0].label': missing"),
    ({"a": entry(annotations=[{"label": "A"}])}, "video 'a', field 'annotations[0].segment': missing"),
    ({"a": entry(annotations=["A"])}, "video 'a', field 'annotations[0]': expected an object"),
    ({"a": entry(annotations=[{"segment": [1.0, 2.0], "label": ""}])},
     "field 'annotations[0].label': expected a class"),
    ({"a": {"subset": "validation", "annotations": []}}, "video 'a', field 'duration': missing"),
    ({"a": entry(duration="long")}, "video 'a', field 'duration': expected a number, got 'long'"),
    ({"a": entry(annotations={})}, "video 'a', field 'annotations': expected a list"),
    ({"a": entry(), "v_a": entry()}, "video 'v_a': duplicated video id"),
    ({"a": 3}, "video 'a': expected an object"),
    ([], "field 'database': expected an object of videos"),
    ({"a": entry(duration=0)}, "video 'a', field 'duration': must be > 0, got 0"),
    ({"a": entry(duration=-5.0)}, "video 'a', field 'duration': must be > 0, got -5.0"),
    ({"a": entry(fps=0)}, "video 'a', field 'fps': must be > 0, got 0"),
    ({"a": entry(fps=-29.97)}, "video 'a', field 'fps': must be > 0, got -29.97"),
    ({"a": entry(annotations=[{"segment": list(range(20000)), "label": "A"}])},
     "expected [start, end], got [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1... (a list of 20,000 items)"),
])
def test_bad_activitynet_files(tmp_path, database, expected):
    path = dump(tmp_path / "gt.json", {"database": database})
    with pytest.raises(InputError) as err:
        read_annotations(path)
    assert str(err.value).startswith(str(path)) and expected in str(err.value), str(err.value)


def test_bad_files_and_values(tmp_path):
    nan = dump(tmp_path / "nan.json", '{"database": {"a": {"subset": "x", "duration": NaN, "annotations": []}}}')
    with pytest.raises(InputError, match="field 'duration': expected a finite number, got nan"):
        read_annotations(nan)
    with pytest.raises(InputError, match="not valid JSON"):
        read_annotations(dump(tmp_path / "broken.json", '{"database": '))
    corrupt = tmp_path / "corrupt.json.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read the file"):
        read_annotations(corrupt)
    with pytest.raises(InputError, match="file not found"):
        read_annotations(tmp_path / "absent.json")
    anno = dump(tmp_path / "anno.json", {"v_abc": {"duration_second": 5.0, "annotations": []}})
    dump(tmp_path / "video_info_new.csv", INFO_HEADER)
    with pytest.raises(InputError, match="video_info_new.csv, video 'v_abc': video of the annotation file has no row"):
        read_annotations(anno)
    dump(tmp_path / "video_info_new.csv", "video,subset\nv_abc,validation\n")
    with pytest.raises(InputError, match="missing columns"):
        read_annotations(anno)


@pytest.mark.parametrize("row, expected", [
    ("v_abc,2067,82.73,0,24.98,validation,2064", "video 'v_abc', field 'fps': must be > 0, got 0.0"),
    ("v_abc,2067,82.73,-25,24.98,validation,2064", "video 'v_abc', field 'fps': must be > 0, got -25.0"),
    ("v_abc,2067,inf,25,24.98,validation,2064", "video 'v_abc', field 'seconds': expected a finite number, got inf"),
    ("v_abc,2067,0,25,24.98,validation,2064", "video 'v_abc', field 'seconds': must be > 0, got 0.0"),
    ("v_abc,2067,82.73", "video 'v_abc': line 2: fewer values than the 7 columns of the header"),
])
def test_bad_video_info_rows(tmp_path, row, expected):
    """The BMN pair's timing: an fps or a duration of 0, below 0 or not finite is refused, as in the JSON."""
    anno = dump(tmp_path / "anno.json", {"v_abc": {"duration_second": 82.73, "annotations": []}})
    dump(tmp_path / "video_info_new.csv", INFO_HEADER + row + "\n")
    with pytest.raises(InputError) as err:
        read_annotations(anno)
    assert str(err.value) == f"{tmp_path / 'video_info_new.csv'}, {expected}"


def test_bmn_duration_second_must_be_positive(tmp_path):
    anno = dump(tmp_path / "anno.json", {"v_abc": {"duration_second": 0.0, "annotations": []}})
    dump(tmp_path / "video_info_new.csv", INFO_HEADER + "v_abc,2067,82.73,25,24.98,validation,2064\n")
    with pytest.raises(InputError, match="video 'v_abc', field 'duration_second': must be > 0, got 0.0"):
        read_annotations(anno)


def test_class_names(tmp_path):
    assert read_class_names(dump(tmp_path / "action_name.csv", "action\nApplying sunscreen\nArm wrestling\n")) == [
        "Applying sunscreen", "Arm wrestling"]
    assert read_class_names(dump(tmp_path / "classes.json", ["b", "a"])) == ["b", "a"]
    with pytest.raises(InputError, match="twice"):
        read_class_names(dump(tmp_path / "dup.json", ["a", "a"]))
    with pytest.raises(InputError, match="empty.txt: no class names"):  # not "set model.num_classes=0"
        read_class_names(dump(tmp_path / "empty.txt", "\n"))


@pytest.mark.skipif(not SHARED.is_dir(), reason="real annotation files not present at ../shared/data")
def test_real_files():
    anet = read_annotations(SHARED / "activitynet" / "anet_anno_action.json.gz")
    assert len(anet.videos) == 19_228
    assert anet.subsets == {"training": 9_649, "validation": 4_728, "testing": 4_851}
    assert len(anet.classes) == 200
    assert anet.classes == sorted(read_class_names(SHARED / "activitynet" / "action_name.csv"))
    validation = anet.subset("validation")
    assert sum(len(v.labels) for v in validation.videos.values()) == 7_293
    thumos = read_annotations(SHARED / "thumos14" / "thumos14.json.gz")
    assert thumos.subsets == {"validation": 200, "test": 212}
    assert len(thumos.classes) == 20
