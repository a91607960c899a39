"""Stream a video's frames with PyAV, resized and centre-cropped as they are decoded, and cut them into snippets.

Nothing holds the whole video: `iter_frames` yields one frame at a time and `iter_snippets` keeps only
the frames of the snippet being assembled, so memory does not grow with the video's length.
Frames are counted in decoding order and timed at a constant rate `fps` (the stream's average rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video's stream; num_frames is estimated when it says nothing."""

    path: Path
    fps: float  # the stream's average frame rate
    num_frames: int  # the stream's frame count, else round(duration_s · fps) (webm streams report 0)
    duration_s: float
    width: int
    height: int


def probe_video(path: str | Path) -> VideoInfo:
    """Open `path` and read its first video stream's rate, size, frame count and duration; InputError if it cannot."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate or float(rate) <= 0:
            raise InputError.at(path, "the video stream has no frame rate; re-encode it: ffmpeg -i IN -r 25 OUT.mp4")
        fps = float(rate)
        duration_s = _duration_s(container, stream)
        num_frames = stream.frames or int(round(duration_s * fps))
        if not duration_s:
            duration_s = num_frames / fps
        return VideoInfo(path, fps, num_frames, duration_s, stream.codec_context.width, stream.codec_context.height)


def resized_size(width: int, height: int, resize: tuple[int, ...]) -> tuple[int, int]:
    """The (width, height) a frame is resized to, as torchvision's `resize`: (h, w) exactly, or the short side to s."""
    if len(resize) == 2:
        return resize[1], resize[0]
    short, long = sorted((width, height))
    new_long = int(resize[0] * long / short)
    return (resize[0], new_long) if width <= height else (new_long, resize[0])


def iter_frames(path: str | Path, resize: tuple[int, ...], crop_size: int) -> Iterator[np.ndarray]:
    """Decode `path` frame by frame -> uint8[crop_size, crop_size, 3] RGB, resized (`resized_size`) then centre-cropped.

    Raises InputError naming the file when it cannot be opened or a frame cannot be decoded.
    """
    path = Path(path)
    with _open(path) as container:
        yield from decode_frames(container, resize, crop_size, path)


def decode_frames(container, resize: tuple[int, ...], crop_size: int, where: object) -> Iterator[np.ndarray]:
    """The frames of an open PyAV container's first video stream, as `iter_frames` gives them; `where` names
    the source in errors."""
    av = require_av()
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame- and slice-threaded decoding where the codec allows it
    try:
        for frame in container.decode(stream):
            width, height = resized_size(frame.width, frame.height, resize)
            rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()  # (h, w, 3)
            yield centre_crop(rgb, crop_size, source=where)
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or e
        raise InputError.at(where, f"cannot decode the video ({type(e).__name__}: {reason})") from None


def centre_crop(image: np.ndarray, size: int, *, source: object = None) -> np.ndarray:
    """image: uint8[H, W, C] -> uint8[size, size, C], its centre (offsets rounded as torchvision's center_crop)."""
    h, w = image.shape[:2]
    if h < size or w < size:
        raise InputError.at(source, f"frame of {w}x{h} px after resizing is smaller than the {size} px crop")
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return image[top:top + size, left:left + size]


def iter_snippets(frames: Iterable[np.ndarray], window: int, stride: int) -> Iterator[np.ndarray]:
    """Snippets of frames [i·stride, i·stride + window), i = 0, 1, … while frames last -> uint8[window, H, W, C].

    Yields floor((N − window) / stride) + 1 snippets for N ≥ window frames (`num_snippets` of
    data/features.py); a video shorter than one window gives one snippet padded with its last frame.
    Only the frames of the next snippet are kept.
    """
    buffer: list[np.ndarray] = []  # frames [start, start + len(buffer))
    start, index = 0, 0  # index of buffer[0]; index of the next frame
    yielded = False
    for frame in frames:
        if index >= start:  # frames between snippets (stride > window) are never stored
            buffer.append(frame)
        index += 1
        if len(buffer) == window:
            yield np.stack(buffer)  # (window, H, W, C)
            yielded = True
            drop = min(stride, window)
            buffer = buffer[drop:]
            start += stride
    if not yielded and buffer:
        yield np.stack(buffer + [buffer[-1]] * (window - len(buffer)))  # (window, H, W, C)


def _open(path: Path):
    av = require_av()
    if not path.is_file():
        raise InputError.at(path, "video file not found")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        reason = getattr(e, "strerror", None) or e  # str(e) repeats the file name
        raise InputError.at(path, f"cannot open the video ({type(e).__name__}: {reason})") from None
    if not container.streams.video:
        container.close()
        raise InputError.at(path, "the file has no video stream")
    return container


def _duration_s(container, stream) -> float:
    """The stream's duration in seconds, else the container's; 0.0 when neither is known."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # av.time_base: microseconds
    return 0.0


def require_av():
    """The PyAV module; InputError with the install command when it is missing."""
    try:
        import av
    except ImportError:
        raise InputError.at("extract", "reading videos needs PyAV: pip install \"seqattnet[video]\"") from None
    return av
