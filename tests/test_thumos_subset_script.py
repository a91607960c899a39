"""benchmarks/thumos_subset_comparison.py: the subset both recipes train on."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "thumos_subset_comparison.py"


def _script():
    spec = importlib.util.spec_from_file_location("thumos_subset_comparison", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # it finds ablation.py beside itself
    return module


def test_the_subset_keeps_the_first_training_videos_by_id_and_every_test_video(tmp_path):
    database = {f"video_validation_{i}": {"subset": "Validation", "annotations": [], "duration": 10.0 + i}
                for i in (5, 3, 9, 1)}
    database |= {f"video_test_{i}": {"subset": "Test", "annotations": [], "duration": 20.0} for i in (2, 1)}
    source = tmp_path / "annotations.json"
    source.write_text(json.dumps({"version": "x", "database": database}))
    _script().subset_annotations(source, tmp_path / "subset" / "annotations.json", 2, None)
    written = json.loads((tmp_path / "subset" / "annotations.json").read_text())
    assert written["version"] == "x"
    assert list(written["database"]) == ["video_validation_1", "video_validation_3", "video_test_1", "video_test_2"]
    assert written["database"]["video_validation_3"] == database["video_validation_3"]
    _script().subset_annotations(source, tmp_path / "one.json", 3, 1)
    assert list(json.loads((tmp_path / "one.json").read_text())["database"]) == [
        "video_validation_1", "video_validation_3", "video_validation_5", "video_test_1"]
