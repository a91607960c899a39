"""Open a video while it is still being recorded or sent: a growing file, standard input, a URL or a device.

PyAV reads files and pipes here through a Python object whose `read` waits for data, so the demuxer never
sees an end that is only the writer being slower than us:
- a file is followed as it grows; when it has not grown for `timeout_s` seconds the recording is taken as
  finished (a recording has no end marker to wait for); a file that shrinks or disappears is an error;
- standard input (`-`) ends when its writer closes it; no data for `timeout_s` seconds is an error (stalled);
- a URL (rtsp://, http://, udp://, ...) or a device (/dev/video0) is opened by FFmpeg with `timeout_s` as
  its read timeout. These are live: the sender does not wait for us (`LiveSnippets` drops what we cannot
  keep up with and counts it), while a file or a pipe is read at our pace and may fall behind.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .decode import require_av

STREAMABLE = "record MPEG-TS (.ts), Matroska (.mkv) or fragmented MP4 (ffmpeg -movflags frag_keyframe+empty_moov)"


@dataclass
class LiveVideo:
    """An open source: its PyAV container, the video id its detections carry, its frame rate, whether it is live."""

    container: object
    video_id: str
    fps: float
    live: bool
    where: str  # the source as errors name it


def open_live(source: str, timeout_s: float) -> LiveVideo:
    """Open `source` (a file path, "-" for standard input, a URL or a device) for reading while it runs."""
    av = require_av()
    if source == "-":
        reader, video_id, live, options = PipeInput(sys.stdin.buffer, timeout_s), "stdin", False, {}
    elif "://" in source or source.startswith("/dev/"):
        reader, video_id, live = source, Path(source.split("?")[0].rstrip("/")).stem or "stream", True
        options = {"format": "v4l2"} if source.startswith("/dev/video") else {"timeout": (timeout_s, timeout_s)}
    else:
        reader, video_id, live, options = GrowingFile(Path(source), timeout_s), Path(source).stem, False, {}
    try:
        container = av.open(reader, **options)
    except av.FFmpegError as e:
        raise InputError.at(source, f"cannot open the stream ({type(e).__name__}: "
                                    f"{getattr(e, 'strerror', None) or e})") from None
    if not container.streams.video:
        container.close()
        raise InputError.at(source, "the stream has no video")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.codec_context.framerate
    if not rate or float(rate) <= 0:
        container.close()
        raise InputError.at(source, "the video stream states no frame rate; send it with one (ffmpeg -r 25)")
    return LiveVideo(container, video_id, float(rate), live, source)


class GrowingFile:
    """A file being written, read as a stream: `read` waits while the file is idle, for at most `timeout_s`
    seconds without growth, then gives b"" (the recording's end)."""

    def __init__(self, path: Path, timeout_s: float, poll_s: float = 0.05):
        if not path.is_file():
            raise InputError.at(path, "video file not found")
        _refuse_plain_mp4(path)
        self.path, self.timeout_s, self.poll_s = path, timeout_s, poll_s
        self.file = open(path, "rb")

    def read(self, size: int) -> bytes:
        idle_since = time.monotonic()
        while True:
            data = self.file.read(size)
            if data:
                return data
            self._check_still_there()
            if time.monotonic() - idle_since > self.timeout_s:
                return b""
            time.sleep(self.poll_s)

    def _check_still_there(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise InputError.at(self.path, "the file disappeared while being read") from None
        if size < self.file.tell():
            raise InputError.at(self.path, f"the file shrank to {size} bytes while being read (it was replaced or "
                                           "truncated); start again")


class PipeInput:
    """Standard input (or any pipe) read as a stream: `read` gives what has arrived, b"" once the writer closed
    it, and raises InputError after `timeout_s` seconds without a byte."""

    def __init__(self, pipe, timeout_s: float):
        self.fd, self.timeout_s = pipe.fileno(), timeout_s

    def read(self, size: int) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], self.timeout_s)
        if not ready:
            raise InputError.at("-", f"no data on standard input for {self.timeout_s:g} s: the stream stalled "
                                     "(--timeout sets how long to wait)")
        return os.read(self.fd, size)


class LiveSnippets:
    """Snippets of a live source, decoded by a thread at the sender's pace: when more than `limit` wait for the
    network, the newest is dropped (yielded as None, in its place, so the timeline stays whole) and counted."""

    def __init__(self, snippets: Iterator[np.ndarray], limit: int):
        self.limit, self.dropped = limit, 0
        self._queue: deque = deque()
        self._ready = threading.Condition()
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._read, args=(snippets,), daemon=True)
        self._thread.start()

    def _read(self, snippets: Iterator[np.ndarray]) -> None:
        try:
            for snippet in snippets:
                with self._ready:
                    waiting = sum(item is not None for item in self._queue)
                    keep = waiting < self.limit
                    self.dropped += not keep
                    self._queue.append(snippet if keep else None)
                    self._ready.notify()
        except BaseException as e:  # re-raised in the consumer's thread
            self._error = e
        with self._ready:
            self._done = True
            self._ready.notify()

    def __iter__(self) -> Iterator[np.ndarray | None]:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queue or self._done)
                if not self._queue:
                    break
                item = self._queue.popleft()
            yield item
        if self._error is not None:
            raise self._error


def _refuse_plain_mp4(path: Path) -> None:
    """A plain MP4 writes its index (moov) at the end: refused when its data (mdat) comes first."""
    if path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        return
    with open(path, "rb") as f:
        while (header := f.read(8)) and len(header) == 8:
            size, box = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            if box in ("moov", "moof"):
                return
            if box == "mdat":
                raise InputError.at(path, f"a plain MP4 keeps its index at the end, so it cannot be read while "
                                          f"being written; {STREAMABLE}")
            if size < 8:
                return
            f.seek(size - 8, 1)
