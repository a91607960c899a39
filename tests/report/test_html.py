"""The HTML report: checked as text (numpy only), then in a real headless Chromium with a real clip."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from seqattnet.structures import Detections
from seqattnet.errors import InputError
from seqattnet.plot import pack_lanes
from seqattnet.report import write_report
from seqattnet.structures import AnnotationSet, VideoAnnotation

CLASSES = ["jump", "run", "</script><b>x"]


def detections(video_id: str = "clip", n: int = 3) -> Detections:
    """n detections, best first, cycling through the first two classes, inside 4 s."""
    starts = np.linspace(0.2, 2.8, n)
    return Detections(video_id, np.stack([starts, starts + 0.9], 1), np.linspace(0.9, 0.1, n), np.arange(n) % 2)


def truth(video_id: str = "clip", duration_s: float = 4.0) -> AnnotationSet:
    video = VideoAnnotation(video_id, "test", duration_s, np.array([[0.1, 1.2], [2.5, 3.8]]), ["jump", "run"])
    return AnnotationSet({video_id: video}, CLASSES)


def page_json(page: Path) -> dict:
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text(), re.S)
    return json.loads(blob.group(1))


def test_page_is_self_contained_and_holds_the_best_detections(tmp_path):
    paths = write_report(tmp_path, [detections(n=40)], CLASSES, ground_truth=truth(), max_detections=30)
    assert paths == [tmp_path / "clip.html", tmp_path / "clip.png"]
    text = paths[0].read_text()
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', text)
    data = page_json(paths[0])
    assert data["duration_s"] == 4.0 and data["total_detections"] == 40
    assert [d["rank"] for d in data["detections"]] == list(range(1, 31))
    scores = [d["score"] for d in data["detections"]]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(0.9)
    assert data["detections"][1]["label"] == "run" and data["rows"] == ["jump", "run"] and data["row_colors"] == [0, 1]
    assert len(data["truth"]) == 2
    assert "30 of 40 detections shown" in text and "No video file was given" in text
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].stat().st_size > 1000


def test_names_cannot_break_out_of_the_page(tmp_path):
    det = Detections("a&<i>b", np.array([[0.5, 1.0]]), np.array([0.7]), np.array([2]))
    page = write_report(tmp_path, [det], CLASSES, durations_s={"a&<i>b": 2.0})[0]
    text = page.read_text()
    assert text.count("</script>") == 2 and "<b>x" not in text and "<i>b" not in text
    assert "<h1>a&amp;&lt;i&gt;b</h1>" in text
    assert page_json(page)["detections"][0]["label"] == "</script><b>x"


def test_index_links_every_video(tmp_path):
    paths = write_report(tmp_path, [detections("v1"), detections("v2", n=5)], CLASSES, durations_s={"v1": 4, "v2": 5})
    assert [p.name for p in paths] == ["v1.html", "v1.png", "v2.html", "v2.png", "index.html"]
    index = paths[-1].read_text()
    assert 'href="v1.html"' in index and 'href="v2.html"' in index and "5 of 5" in index


def test_video_is_embedded_or_copied_beside_the_page(tmp_path):
    clip = tmp_path / "in" / "clip.webm"
    clip.parent.mkdir()
    clip.write_bytes(b"not really a video")
    kw = dict(videos={"clip": clip}, durations_s={"clip": 4.0})
    embedded = write_report(tmp_path / "a", [detections()], CLASSES, **kw)[0].read_text()
    src = re.search(r'<video id="player"[^>]* src="data:video/webm;base64,([^"]+)"', embedded).group(1)
    assert base64.b64decode(src) == b"not really a video"
    copied = write_report(tmp_path / "b", [detections()], CLASSES, embed_video=False, **kw)[0].read_text()
    assert 'src="clip.webm"' in copied and "not embedded" in copied
    assert (tmp_path / "b" / "clip.webm").read_bytes() == b"not really a video"
    avi = clip.with_suffix(".avi")
    clip.rename(avi)
    page = write_report(tmp_path / "c", [detections()], CLASSES, videos={"clip": avi}, durations_s={"clip": 4.0})[0]
    assert "Browsers may not play .avi files" in page.read_text()


def test_duration_comes_from_the_first_source_that_has_one(tmp_path):
    def duration(**kw) -> float:
        return page_json(write_report(tmp_path, [detections()], CLASSES, **kw)[0])["duration_s"]

    assert duration(durations_s={"clip": 7.5}, ground_truth=truth(duration_s=6.0)) == 7.5
    assert duration(ground_truth=truth(duration_s=6.0)) == 6.0
    assert duration() == pytest.approx(2.8 + 0.9)  # the end of the last detection


def test_duration_is_read_from_the_video_file(make_video, tmp_path):
    pytest.importorskip("av", reason="reading a video's duration needs PyAV")
    video = make_video("clip.webm", seconds=5.0, fps=25)
    page = write_report(tmp_path / "out", [detections()], CLASSES, videos={"clip": video})[0]
    assert page_json(page)["duration_s"] == pytest.approx(5.0)  # not 3.7, the end of the last detection


def test_overlapping_segments_go_to_separate_lanes():
    lane, count = pack_lanes(np.array([[2.0, 4.0], [0.0, 2.0], [1.0, 3.0], [5.0, 6.0], [3.0, 5.0]]))
    assert lane.tolist() == [0, 0, 1, 0, 1] and count == 2


def test_bad_input_raises_input_errors(tmp_path):
    with pytest.raises(InputError, match="missing.mp4.*video file not found"):
        write_report(tmp_path, [detections()], CLASSES, videos={"clip": tmp_path / "missing.mp4"})
    with pytest.raises(InputError, match="pass durations_s"):
        write_report(tmp_path, [detections(n=0)], CLASSES)
    with pytest.raises(InputError, match="label index 5"):
        write_report(tmp_path, [Detections("clip", np.array([[0.0, 1.0]]), np.array([0.5]), np.array([5]))],
                     CLASSES)


def open_page(browser, page: Path) -> int | None:
    """Load the page and wait for the video's metadata or a media error; -> the error code or None."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    WebDriverWait(browser, 15).until(lambda b: b.execute_script(
        "var p = document.getElementById('player'); return p.readyState >= 1 || p.error !== null"))
    return browser.execute_script("var p = document.getElementById('player'); return p.error && p.error.code")


def assert_click_seeks(browser, element):
    from selenium.webdriver.support.ui import WebDriverWait

    start = float(element.get_attribute("data-start"))
    element.click()
    WebDriverWait(browser, 5).until(lambda b: abs(
        b.execute_script("return document.getElementById('player').currentTime") - start) < 0.1)
    assert "selected" in element.get_attribute("class")


@pytest.mark.parametrize("name", ["clip.webm", "clip.mp4"])
def test_page_plays_and_seeks_in_chromium(browser, make_video, tmp_path, name):
    clip = make_video(name, seconds=4.0, change_s=2.0, size=(96, 64))
    det = Detections("clip", np.array([[0.5, 1.4], [2.5, 3.6], [1.6, 3.0]]), np.array([0.9, 0.6, 0.3]),
                     np.array([0, 1, 0]))
    page = write_report(tmp_path / "report", [det], CLASSES, videos={"clip": clip}, ground_truth=truth())[0]
    from selenium.webdriver.common.by import By

    if open_page(browser, page) is not None:
        assert browser.find_element(By.ID, "player-error").is_displayed()
        pytest.skip(f"this chromium cannot play {name}; the page says so")  # some builds lack H.264
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    segments = browser.find_elements(By.CSS_SELECTOR, ".segment[data-kind=detection]")
    assert len(segments) == 3 and len(browser.find_elements(By.CSS_SELECTOR, ".segment[data-kind=truth]")) == 2
    opacity = {s.get_attribute("data-rank"): float(s.get_attribute("data-opacity")) for s in segments}
    assert opacity == pytest.approx({"1": 1.0, "2": 0.2 + 0.8 * 0.6 / 0.9, "3": 0.2 + 0.8 * 0.3 / 0.9}, abs=1e-3)
    assert browser.execute_script("return document.getElementById('player').duration") == pytest.approx(4.0, abs=0.1)
    assert_click_seeks(browser, browser.find_element(By.CSS_SELECTOR, ".segment[data-kind=detection][data-rank='2']"))
    assert_click_seeks(browser, browser.find_element(By.CSS_SELECTOR, "tr.det-row[data-rank='3']"))
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
