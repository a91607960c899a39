"""Fixtures shared by the test folders: a headless Chromium for the HTML reports, and short test videos
written with PyAV (the tests make their own media, nothing is downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by the system chromedriver (nothing is downloaded); skipped, saying why,
    without selenium, chromium or chromedriver (`make browser` installs Debian's)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium")
    chromium, driver = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("browser tests need chromium and chromedriver on PATH")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1200,1300",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def write_video(path: Path, frames: np.ndarray, fps: int = 25, codec: str | None = None) -> Path:
    """frames: uint8[N, H, W, 3] (H, W even) -> an encoded video at `path` (.mp4: H.264, .webm: VP9)."""
    av = pytest.importorskip("av", reason="writing test videos needs PyAV (pip install seqattnet[video])")
    codec = codec or {".webm": "libvpx-vp9", ".mp4": "libx264"}[path.suffix]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def two_scene_frames(seconds: float, fps: int, change_s: float, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """Dark moving noise until `change_s`, then bright moving stripes: a cut at a known time. -> uint8[N, H, W, 3]."""
    rng = np.random.default_rng(0)
    n, (w, h) = int(round(seconds * fps)), size
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    x = np.arange(w)
    for i in range(n):
        if i / fps < change_s:
            frames[i] = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
        else:
            stripes = (((x + 2 * i) // 6) % 2 * 155 + 100).astype(np.uint8)
            frames[i] = stripes[None, :, None]
    return frames


@pytest.fixture
def make_video(tmp_path):
    """make_video(name, seconds=3.0, fps=25, change_s=1.5, size=(64, 48)) -> Path of a video in tmp_path."""

    def make(name: str = "clip.mp4", seconds: float = 3.0, fps: int = 25, change_s: float = 1.5,
             size: tuple[int, int] = (64, 48)) -> Path:
        return write_video(tmp_path / name, two_scene_frames(seconds, fps, change_s, size), fps)

    return make
