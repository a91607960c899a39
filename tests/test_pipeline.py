"""`seqattnet detect`: a video file -> features -> detections -> an HTML page and a PNG, in one command."""

import json

import pytest
import torch

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.data.features import read_feature_meta
from seqattnet.engine.build import build_model
from seqattnet.engine.checkpoint import save_checkpoint

pytest.importorskip("torchvision", reason="detect needs torchvision (pip install seqattnet[video])")
pytest.importorskip("av", reason="detect needs PyAV (pip install seqattnet[video])")

TINY = ["model.num_classes=3", "model.feature_dim=512", "model.temporal_scale=16", "model.max_duration=16",
        "model.base_channels=8", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4",
        "data.stride_frames=16", "data.window_frames=16"]


def _checkpoint(path, backbone: str):
    torch.manual_seed(0)
    cfg = load_config("demo", TINY + [f"data.backbone={backbone}"])
    save_checkpoint(path, build_model(cfg), cfg, ["jump", "run", "swim"])
    return path


def test_detect_writes_results_and_a_report(make_video, tmp_path, capsys):
    video = make_video("clip.webm", seconds=4.0, fps=25)
    checkpoint = _checkpoint(tmp_path / "last.pt", "mc3_18")
    report = tmp_path / "report"
    code = main(["detect", str(video), "--checkpoint", str(checkpoint), "--report", str(report),
                 "--weights", "random", "--quiet", "--set", "inference.max_detections=7"])
    assert code == 0, capsys.readouterr().err
    document = json.loads((report / "results.json").read_text())
    preds = document["results"]["clip"]
    assert 0 < len(preds) <= 7  # the --set took effect
    assert document["videos"]["clip"]["fps"] == 25.0  # what timed the snippets: the file's own rate
    for p in preds:
        assert 0.0 <= p["segment"][0] < p["segment"][1] <= 4.0 + 1e-6
        assert p["label"] in {"jump", "run", "swim"}
    meta = read_feature_meta(report / "features" / "clip.npz")
    assert meta["backbone"] == "mc3_18" and meta["stride_frames"] == 16 and meta["window_frames"] == 16
    html = (report / "clip.html").read_text()
    assert "<video" in html and "clip" in html
    assert (report / "clip.png").stat().st_size > 1000


def test_detect_refuses_a_checkpoint_without_a_backbone(make_video, tmp_path, capsys):
    video = make_video("clip.webm", seconds=1.0, fps=25)
    checkpoint = _checkpoint(tmp_path / "last.pt", "")
    code = main(["detect", str(video), "--checkpoint", str(checkpoint), "--weights", "random", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "last.pt" in err and "data.backbone" in err


def _report_data(page) -> dict:
    html = page.read_text()
    start = html.index('id="report-data">') + len('id="report-data">')
    return json.loads(html[start:html.index("</script>", start)])


def test_detect_a_folder_with_ground_truth(make_video, tmp_path, capsys):
    make_video("a.webm", seconds=1.5, fps=25)
    make_video("b.mp4", seconds=2.0, fps=25)
    truth = {"database": {"a": {"subset": "validation", "duration": 1.5,
                                "annotations": [{"segment": [0.2, 1.1], "label": "run"}]}}}
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    checkpoint = _checkpoint(tmp_path / "last.pt", "mc3_18")
    report = tmp_path / "report"
    code = main(["detect", str(tmp_path), "--checkpoint", str(checkpoint), "--report", str(report),
                 "--ground-truth", str(tmp_path / "gt.json"), "--weights", "random", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert set(json.loads((report / "results.json").read_text())["results"]) == {"a", "b"}
    index = (report / "index.html").read_text()
    assert "a.html" in index and "b.html" in index
    a, b = _report_data(report / "a.html"), _report_data(report / "b.html")
    assert a["truth"] == [{"label": "run", "start_s": 0.2, "end_s": 1.1}] and b["truth"] is None
    assert b["duration_s"] == pytest.approx(2.0)  # the decoded frames / fps, as extraction recorded
    # a second run into the same report replaces it only with --overwrite, and reuses the features extracted
    again = ["detect", str(tmp_path), "--checkpoint", str(checkpoint), "--report", str(report), "--weights", "random",
             "--quiet"]
    assert main(again) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert main([*again, "--overwrite"]) == 0
    assert "0 written, 2 skipped" in capsys.readouterr().out
