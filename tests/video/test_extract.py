"""Feature extraction from video files: snippet cutting, backbones, the time mapping, failures, the CLI.

Backbones are randomly initialised (nothing is downloaded). Most tests shrink r2plus1d_18's crop to
32 px to run in seconds on one CPU core; the CLI tests run backbones with their real preprocessing.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from urllib.error import URLError

import numpy as np
import pytest

pytest.importorskip("torchvision", reason="video feature extraction needs torchvision: pip install seqattnet[video]")
pytest.importorskip("av", reason="video feature extraction needs PyAV: pip install seqattnet[video]")

import torch  # noqa: E402

from seqattnet.cli import main  # noqa: E402
from seqattnet.data.features import num_snippets, read_feature_file, read_feature_meta, snippet_times_s  # noqa: E402
from seqattnet.errors import InputError  # noqa: E402
from seqattnet.video.backbones import BACKBONES, build_backbone  # noqa: E402
from seqattnet.video.decode import iter_snippets, probe_video, resized_size  # noqa: E402
from seqattnet.video.extract import extract_features  # noqa: E402


@pytest.fixture(scope="module")
def small_r2plus1d():
    """r2plus1d_18, random weights, fed 32 px crops (its global pooling takes any size): the real network, cheaper."""
    return dataclasses.replace(build_backbone("r2plus1d_18", "random"), resize=(40,), crop_size=32)


def _reference_snippets(frames: np.ndarray, window: int, stride: int) -> list[np.ndarray]:
    """The obvious version, holding every frame: windows [i·stride, i·stride + window) that fit, else one padded."""
    n = len(frames)
    if n < window:
        return [np.concatenate([frames, np.repeat(frames[-1:], window - n, axis=0)])]
    return [frames[s:s + window] for s in range(0, n - window + 1, stride)]


@pytest.mark.parametrize("n", [1, 5, 16, 17, 75])
@pytest.mark.parametrize("window, stride", [(16, 16), (8, 4), (4, 6), (1, 1)])
def test_iter_snippets_matches_the_reference_and_the_formula(n, window, stride):
    frames = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)
    got = list(iter_snippets(iter(frames), window, stride))
    want = _reference_snippets(frames, window, stride)
    assert len(got) == len(want) == num_snippets(n / 25.0, 25.0, stride, window)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_iter_snippets_streams():
    """Frames of past snippets are released: memory does not grow with the video's length."""
    refs = []

    def frames():
        for i in range(400):
            frame = np.full((1, 1, 1), i, dtype=np.int32)
            refs.append(weakref.ref(frame))
            yield frame

    for count, _ in enumerate(iter_snippets(frames(), 16, 4), start=1):
        assert sum(r() is not None for r in refs) <= 16
    assert count == (400 - 16) // 4 + 1


def test_bad_video_lists_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "same.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="same video id 'same'"):
        extract_features([tmp_path / "a" / "same.mp4", tmp_path / "b" / "same.mp4"], tmp_path / "out")
    with pytest.raises(InputError, match="missing.mp4: video file not found"):
        extract_features(tmp_path / "missing.mp4", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: no video files in this folder"):
        extract_features(tmp_path / "empty", tmp_path / "out")


def test_resized_size_follows_torchvision():
    assert resized_size(320, 240, (128, 171)) == (171, 128)  # (h, w) given: exact, aspect ratio not kept
    assert resized_size(320, 240, (256,)) == (341, 256)  # short side to 256
    assert resized_size(240, 320, (256,)) == (256, 341)


@pytest.mark.parametrize("snippet, stride, expected", [(16, 16, 4), (8, 4, 17)])
def test_shapes_and_metadata(make_video, tmp_path, small_r2plus1d, snippet, stride, expected):
    video = make_video("clip.mp4", seconds=3.0, fps=25)
    result = extract_features(video, tmp_path / "out", backbone=small_r2plus1d, window_frames=snippet,
                              stride_frames=stride, progress=False)
    assert result.written == [tmp_path / "out" / "clip.npz"] and not result.failed
    features = read_feature_file(result.written[0])
    assert features.shape == (expected, 512) and features.dtype == np.float32
    assert expected == num_snippets(3.0, 25, stride, snippet)  # floor((75 − snippet) / stride) + 1
    meta = read_feature_meta(result.written[0])
    assert meta == {"backbone": "r2plus1d_18", "weights": "random", "feature_dim": 512, "stride_frames": stride,
                    "window_frames": snippet, "fps": 25.0, "num_frames": 75, "duration_s": 3.0,
                    "num_snippets": expected, "crop_size": 32, "seqattnet_version": meta["seqattnet_version"]}


def test_webm_frame_count_and_short_video_padding(make_video, tmp_path, small_r2plus1d):
    webm = make_video("clip.webm", seconds=2.0, fps=25)
    short = make_video("short.mp4", seconds=0.4, fps=25, change_s=1.0)  # 10 frames < one 16-frame snippet
    assert probe_video(webm).num_frames == 50  # VP9 in webm reports no frame count: taken from the duration
    result = extract_features([webm, short], tmp_path, backbone=small_r2plus1d, progress=False)
    meta = {p.stem: read_feature_meta(p) for p in result.written}
    assert (meta["clip"]["num_frames"], meta["clip"]["num_snippets"]) == (50, 3)
    assert (meta["short"]["num_frames"], meta["short"]["num_snippets"]) == (10, 1)


def test_time_mapping_finds_the_cut(make_video, tmp_path, small_r2plus1d):
    """Dark noise until 1.5 s, stripes after: the first snippet whose features change is the one holding the cut."""
    fps, window, stride, change_s = 25, 8, 4, 1.5
    video = make_video("cut.mp4", seconds=3.0, fps=fps, change_s=change_s)
    result = extract_features(video, tmp_path, backbone=small_r2plus1d, window_frames=window,
                              stride_frames=stride, progress=False)
    features = read_feature_file(result.written[0])
    cut_frame = math.ceil(change_s * fps)  # the first striped frame: 38
    first_changed = (cut_frame - window) // stride + 1  # the first window [i·stride, i·stride + window) reaching it
    assert first_changed == 8
    distance = np.linalg.norm(features[:, None] - features[None], axis=-1)  # (n, n)
    before = distance[:first_changed, :first_changed]
    across = distance[:first_changed, first_changed:]
    assert before.max() < 0.5 * across.min()  # same scene: near each other; across the cut: far apart
    changed = np.flatnonzero(distance[0] > 2 * before.max())
    assert changed[0] == first_changed
    centre_s = snippet_times_s(len(features), stride, window, fps)[first_changed]
    assert centre_s - window / 2 / fps <= change_s < centre_s + window / 2 / fps  # the cut is inside its window


def test_corrupt_file_fails_alone_then_skip_and_overwrite(make_video, tmp_path, small_r2plus1d):
    make_video("good.mp4", seconds=0.8, fps=25)
    (tmp_path / "bad.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    first = extract_features(tmp_path, out, backbone=small_r2plus1d, progress=False)
    assert first.written == [out / "good.npz"] and not first.skipped
    assert [p.name for p, _ in first.failed] == ["bad.mp4"] and "cannot open the video" in first.failed[0][1]
    assert not (out / "bad.npz").exists()
    assert "1 written, 0 skipped" in first.summary() and "bad.mp4" in first.summary()
    again = extract_features(tmp_path, out, backbone=small_r2plus1d, progress=False)
    assert again.skipped == [out / "good.npz"] and not again.written
    redo = extract_features(tmp_path, out, backbone=small_r2plus1d, progress=False, overwrite=True)
    assert redo.written == [out / "good.npz"]


def test_random_weights_are_reproducible_and_a_state_dict_file_loads(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    full = torchvision.models.video.mc3_18(num_classes=7)  # a fine-tuned model's file: its classifier is ignored
    torch.save(full.state_dict(), tmp_path / "mc3.pth")
    x = torch.randn(1, 3, 4, 16, 16)
    a, b = build_backbone("mc3_18", "random"), build_backbone("mc3_18", "random")
    loaded = build_backbone("mc3_18", str(tmp_path / "mc3.pth"))
    full.fc = torch.nn.Identity()
    with torch.inference_mode():
        torch.testing.assert_close(a.model(x), b.model(x))
        torch.testing.assert_close(loaded.model(x), full.eval()(x))
    assert loaded.weights == "mc3.pth"
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="other.pth: does not fit this network"):
        build_backbone("mc3_18", str(tmp_path / "other.pth"))


def test_default_weights_download_failure_says_to_pass_a_file(monkeypatch):
    torchvision = pytest.importorskip("torchvision")

    def offline(*args, weights=None, **kwargs):
        if weights is not None:
            raise URLError("Name or service not known")
        return torchvision.models.video.mc3_18()

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(InputError, match="downloading torchvision's MC3_18_Weights.KINETICS400_V1.*--weights PATH"):
        build_backbone("mc3_18", "default")


@pytest.mark.parametrize("name, frames, size", [("r3d_18", 4, 16), ("mc3_18", 4, 16), ("swin3d_t", 4, 32),
                                                ("s3d", 14, 224)])  # s3d's pooling needs 224 px, 14 frames
def test_backbones_output_pooled_features(name, frames, size):
    net = build_backbone(name, "random", window_frames=frames)
    with torch.inference_mode():
        out = net.model(net.normalise(torch.zeros(2, frames, size, size, 3, dtype=torch.uint8)))
    assert out.shape == (2, BACKBONES[name].feature_dim) == (2, net.feature_dim)


def test_backbone_requirements_are_checked():
    with pytest.raises(InputError, match="mvit_v2_s needs snippets of exactly 16 frames"):
        build_backbone("mvit_v2_s", "random", window_frames=8)
    with pytest.raises(InputError, match="unknown backbone 'c3d'; known: r3d_18, mc3_18, r2plus1d_18"):
        build_backbone("c3d", "random")
    mvit = build_backbone("mvit_v2_s", "random")
    assert (mvit.feature_dim, mvit.crop_size, mvit.resize, mvit.mean) == (768, 224, (256,), (0.45, 0.45, 0.45))


@pytest.mark.parametrize("backbone", ["r2plus1d_18", "r3d_18"])
def test_cli_extract(make_video, tmp_path, capsys, backbone):
    make_video("a.mp4", seconds=0.4, fps=25)  # 10 frames: one snippet of 8 at the real 112 px crop
    out = tmp_path / "feats"
    code = main(["extract", str(tmp_path), "--out", str(out), "--backbone", backbone, "--weights", "random",
                 "--snippet", "8", "--stride", "8", "--quiet"])
    assert code == 0
    assert f"1 written, 0 skipped (already there; --overwrite to redo), 0 failed -> {out}" in capsys.readouterr().out
    meta = read_feature_meta(out / "a.npz")
    assert (meta["backbone"], meta["crop_size"], meta["num_snippets"]) == (backbone, 112, 1)
    assert read_feature_file(out / "a.npz").shape == (1, 512)


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "f"), "--weights", "random", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "bad.mp4" in captured.out
    assert captured.err.count("\n") == 1 and "no video could be read" in captured.err
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "f"), "--backbone", "nope"]) == 2
    assert "unknown backbone 'nope'" in capsys.readouterr().err
