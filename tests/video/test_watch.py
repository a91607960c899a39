"""`seqattnet watch`: detections of a video while it is written, equal to `detect` on the finished file.

A tiny windowed checkpoint (T = 8 snippets of 16 frames every 8) over mobilenet_v3_small with random
weights fed 32 px crops, so that an 8 s clip gives 24 snippets and 6 windows in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("torchvision", reason="watch needs torchvision: pip install seqattnet[video]")
av = pytest.importorskip("av", reason="watch needs PyAV: pip install seqattnet[video]")

import torch  # noqa: E402
from conftest import two_scene_frames  # noqa: E402

import seqattnet  # noqa: E402
from seqattnet.cli import main  # noqa: E402
from seqattnet.config import load_config  # noqa: E402
from seqattnet.engine.build import build_model  # noqa: E402
from seqattnet.engine.checkpoint import save_checkpoint  # noqa: E402
from seqattnet.video import backbones, decode, extract  # noqa: E402

FPS, SECONDS = 25, 8.0
TINY = ["model.num_classes=3", "model.feature_dim=576", "model.temporal_scale=8", "model.max_duration=8",
        "model.base_channels=8", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=4",
        "data.stride_frames=8", "data.window_frames=16", "data.backbone=mobilenet_v3_small",
        "inference.top_k_classes=2", "inference.soft_nms_classes=per_class"]
WINDOWED = TINY + ["windows.enabled=true", "windows.merge=centre"]
SPAN_S = 8 * 8 / FPS  # T·stride / fps


@pytest.fixture(autouse=True)
def small_crops(monkeypatch):
    """The real backbone on 32 px crops (its global pooling takes any size), for detect and watch alike."""
    build = backbones.build_backbone

    def small(*args, **kwargs):
        return dataclasses.replace(build(*args, **kwargs), resize=(40,), crop_size=32)

    monkeypatch.setattr(backbones, "build_backbone", small)
    monkeypatch.setattr(extract, "build_backbone", small)


def _checkpoint(path, sets=WINDOWED):
    torch.manual_seed(0)
    cfg = load_config("demo", sets)
    save_checkpoint(path, build_model(cfg), cfg, ["jump", "run", "swim"])
    return path


def _encode(fmt: str, frames: np.ndarray, sink, pause_s: float = 0.0) -> None:
    """frames -> H.264 in container `fmt` written to `sink` (a path or a binary file), `pause_s` between frames."""
    with av.open(sink, "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            time.sleep(pause_s)
        for packet in stream.encode():
            container.mux(packet)


def _detect(video, checkpoint, tmp_path) -> set[tuple]:
    out = tmp_path / f"{video.stem}-detect.json"
    assert main(["detect", str(video), "--checkpoint", str(checkpoint), "--weights", "random", "--quiet",
                 "--out", str(out)]) == 0
    return {(p["segment"][0], p["segment"][1], p["score"], p["label"])
            for p in json.loads(out.read_text())["results"][video.stem]}


def _watch(source, checkpoint, out, *extra) -> tuple[list[dict], dict, int]:
    code = main(["watch", str(source), "--checkpoint", str(checkpoint), "--weights", "random", "--out", str(out),
                 *extra])
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return lines[:-1], (lines[-1]["summary"] if lines else {}), code


def _as_set(events: list[dict]) -> set[tuple]:
    return {(e["segment"][0], e["segment"][1], e["score"], e["label"]) for e in events}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "last.pt")


@pytest.fixture(scope="module")
def frames():
    return two_scene_frames(SECONDS, FPS, 4.0)


def test_a_file_being_written_gives_the_detections_of_detect_each_once_and_in_time(checkpoint, frames, tmp_path):
    video = tmp_path / "clip.ts"
    writer = threading.Thread(target=_encode, args=("mpegts", frames, str(video), 0.003))
    writer.start()
    while not video.exists():
        time.sleep(0.01)
    # the recording counts as finished after --timeout s without growth: long enough for a busy machine's writer
    events, summary, code = _watch(video, checkpoint, tmp_path / "events.jsonl", "--timeout", "3")
    writer.join()
    assert code == 0 and summary["end"] == "end of stream" and summary["snippets"] == 24
    assert len(events) == len(_as_set(events)) == summary["detections"] > 0  # none given twice
    assert _as_set(events) == _detect(video, checkpoint, tmp_path)  # bit for bit: JSON keeps every float64
    emitted = [e["emitted_s"] for e in events]
    assert emitted == sorted(emitted) and emitted[0] < SECONDS  # given out while the video ran, not at its end
    for e in events:  # within one window span of the last snippet each depends on
        assert e["depends_s"] <= e["emitted_s"] <= e["depends_s"] + SPAN_S + 1e-9
    assert summary["lag_s"]["max"] <= SPAN_S + 1e-9 and summary["delay_s"]["p50"] > 0


def test_standard_input_gives_the_detections_of_detect(checkpoint, frames, tmp_path, monkeypatch):
    video = tmp_path / "clip.mkv"
    _encode("matroska", frames, str(video))
    read_end, write_end = os.pipe()

    def feed():
        with os.fdopen(write_end, "wb") as pipe:
            data = video.read_bytes()
            for lo in range(0, len(data), 4096):
                pipe.write(data[lo:lo + 4096])
                pipe.flush()
                time.sleep(0.002)

    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": os.fdopen(read_end, "rb")})())
    writer = threading.Thread(target=feed)
    writer.start()
    events, summary, code = _watch("-", checkpoint, tmp_path / "events.jsonl", "--timeout", "5")
    writer.join()
    assert code == 0 and summary["video"] == "stdin"
    assert _as_set(events) == _detect(video, checkpoint, tmp_path)


def test_a_partly_written_last_frame_ends_the_stream_as_detect_reads_it(checkpoint, frames, tmp_path):
    whole = tmp_path / "whole.ts"
    _encode("mpegts", frames, str(whole))
    cut = tmp_path / "cut.ts"
    cut.write_bytes(whole.read_bytes()[:-1000])  # mid-packet
    events, summary, code = _watch(cut, checkpoint, tmp_path / "events.jsonl", "--timeout", "0.3")
    assert code == 0 and 0 < summary["stream_s"] < SECONDS
    assert _as_set(events) == _detect(cut, checkpoint, tmp_path)


def test_ctrl_c_mid_stream_flushes_and_exits_0(checkpoint, frames, tmp_path, monkeypatch):
    video = tmp_path / "clip.ts"
    _encode("mpegts", frames, str(video))
    real = decode.decode_frames

    def interrupted(*args, **kwargs):
        for i, frame in enumerate(real(*args, **kwargs)):
            if i == 150:  # 6 s in
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(decode, "decode_frames", interrupted)
    events, summary, code = _watch(video, checkpoint, tmp_path / "events.jsonl", "--timeout", "0.3")
    assert code == 0 and summary["end"] == "interrupted" and summary["stream_s"] == 6.0
    assert summary["snippets"] == (150 - 16) // 8 + 1 and len(events) == summary["detections"] > 0
    assert max(e["segment"][1] for e in events) <= ((summary["snippets"] - 1) * 8 + 16) / FPS + 1e-9


def test_the_python_api_yields_events_then_a_summary(checkpoint, frames, tmp_path):
    video = tmp_path / "clip.mkv"
    _encode("matroska", frames[:100], str(video))
    items = list(seqattnet.load(checkpoint, device="cpu").watch(str(video), weights="random", timeout_s=0.3))
    *events, summary = items
    assert summary.detections == len(events) > 0 and summary.stream_s == 4.0
    assert {(e.start_s, e.end_s, e.score, e.label) for e in events} == _detect(video, checkpoint, tmp_path)


@pytest.mark.parametrize("sets, expected", [(TINY, "each video rescaled to T"),
                                            (TINY + ["data.rescaled=true"], "data.rescaled")])
def test_a_checkpoint_that_needs_the_whole_video_is_refused(sets, expected, tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path / "last.pt", sets)
    code = main(["watch", str(tmp_path / "none.ts"), "--checkpoint", str(checkpoint)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert expected in err and "windows.enabled" in err and "thumos14" in err


def test_a_stalled_pipe_times_out_with_one_line(checkpoint, frames, tmp_path, monkeypatch, capsys):
    video = tmp_path / "clip.ts"
    _encode("mpegts", frames, str(video))
    read_end, write_end = os.pipe()
    os.write(write_end, video.read_bytes()[:20000])  # then nothing more, the pipe left open
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": os.fdopen(read_end, "rb")})())
    _, _, code = _watch("-", checkpoint, tmp_path / "events.jsonl", "--timeout", "0.5")
    os.close(write_end)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "stalled" in err and "--timeout" in err


def test_a_plain_mp4_is_refused_with_what_to_record_instead(checkpoint, make_video, capsys):
    video = make_video("clip.mp4", seconds=1.0)
    code = main(["watch", str(video), "--checkpoint", str(checkpoint), "--weights", "random"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "plain MP4 keeps its index at the end" in err and "MPEG-TS" in err


def test_image_backbones_pool_a_few_frames_of_each_snippet():
    net = backbones.build_backbone("resnet18", "random", window_frames=16)
    x = torch.rand(2, 3, 16, 32, 32)
    out = net.model(x)
    assert out.shape == (2, 512) and net.feature_dim == 512
    frames = x[:, :, [0, 5, 10, 15]].transpose(1, 2).reshape(8, 3, 32, 32)  # 4 evenly spaced frames
    torch.testing.assert_close(out, net.model.net(frames).view(2, 4, 512).mean(1))
