"""`seqattnet extract` against the usual research-code extractor, in the same run.

The reference decodes the whole video into memory at full resolution (as `torchvision.io.read_video`
or `frame.to_ndarray()` over every frame do), then resizes and crops each snippet with torch before
the same network. `seqattnet extract` streams: frames are resized by the decoder and only the current
batch of snippets is kept. Both run `r2plus1d_18` (random weights, the same cost as pretrained ones),
16/16, batch 16, each in its own process so that its peak memory (RSS) is its own. Needs the `[video]`
extra (PyAV, torchvision).

    python benchmarks/bench_extract.py [--seconds 20] [--size 640x360] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BACKBONE, SNIPPET, STRIDE, BATCH = "r2plus1d_18", 16, 16, 16


def write_clip(path: Path, seconds: float, width: int, height: int, fps: int = 25) -> None:
    """A moving random texture (hard to compress, like real footage), H.264."""
    import av

    base = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 3 * i, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def run_streaming(video: Path) -> np.ndarray:
    from seqattnet.video.extract import extract_video
    from seqattnet.video.backbones import build_backbone

    net = build_backbone(BACKBONE, "random")
    features, _ = extract_video(video, net, window_frames=SNIPPET, stride_frames=STRIDE, batch_size=BATCH,
                                device=torch.device("cpu"))
    return features


def run_reference(video: Path) -> np.ndarray:
    """Every frame decoded at full size into one array, then per snippet: resize, crop, normalise, network."""
    import av
    import torch.nn.functional as F

    from seqattnet.video.backbones import build_backbone

    net = build_backbone(BACKBONE, "random")
    with av.open(str(video)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])  # (N, H, W, 3)
    n = (len(frames) - SNIPPET) // STRIDE + 1
    out = []
    with torch.inference_mode():
        for first in range(0, n, BATCH):
            clips = []
            for i in range(first, min(first + BATCH, n)):
                clip = torch.from_numpy(frames[i * STRIDE:i * STRIDE + SNIPPET]).permute(0, 3, 1, 2).float()
                h, w = clip.shape[2:]
                scale = net.resize[0] / min(h, w)
                size = net.resize if len(net.resize) == 2 else (round(h * scale), round(w * scale))
                clip = F.interpolate(clip, size=size, mode="bilinear", antialias=True, align_corners=False)
                top, left = (clip.shape[2] - net.crop_size) // 2, (clip.shape[3] - net.crop_size) // 2
                clips.append(clip[:, :, top:top + net.crop_size, left:left + net.crop_size])
            x = torch.stack(clips) / 255.0  # (B, T, 3, crop, crop)
            mean, std = torch.tensor(net.mean)[:, None, None], torch.tensor(net.std)[:, None, None]
            out.append(net.model(((x - mean) / std).permute(0, 2, 1, 3, 4)))  # (B, F)
    return torch.cat(out).numpy()


def child(path: str, video: Path) -> None:
    start = time.perf_counter()
    features = (run_streaming if path == "streaming" else run_reference)(video)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "snippets": int(features.shape[0])}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]))
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        write_clip(video, args.seconds, width, height)
        report = {}
        for path in ("streaming", "reference"):
            done = subprocess.run([sys.executable, __file__, "--child", path, str(video)], check=True,
                                  capture_output=True, text=True)
            report[path] = json.loads(done.stdout.strip().splitlines()[-1])
    s, r = report["streaming"], report["reference"]
    minutes = args.seconds / 60
    print(f"{args.seconds:.0f} s of {width}x{height} video at 25 fps, {BACKBONE}, {SNIPPET}/{STRIDE}, {s['snippets']} snippets")
    print(f"{'':<12}{'seconds':>9}{'s per video-minute':>20}{'peak RSS MB':>13}")
    for name, m in report.items():
        print(f"{name:<12}{m['seconds']:>9.1f}{m['seconds'] / minutes:>20.0f}{m['peak_rss_mb']:>13.0f}")
    print(f"streaming is {r['seconds'] / s['seconds']:.2f}x faster and uses {r['peak_rss_mb'] / s['peak_rss_mb']:.2f}x "
          "less memory than the reference")
    if args.json:
        print(json.dumps({"seconds": args.seconds, "size": args.size, **report,
                          "speedup": r["seconds"] / s["seconds"], "memory_ratio": r["peak_rss_mb"] / s["peak_rss_mb"]}))


if __name__ == "__main__":
    main()
