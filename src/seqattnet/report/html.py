"""One self-contained HTML page per video: a player, a per-class timeline and a table of the detections.

The page needs no network: its data is one JSON blob, its script and style are inline, and the video is
either embedded as a base64 data URI or copied beside the page and referenced by a relative URL.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
import re
import shutil
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..errors import InputError
from ..files import write_text_atomic
from ..plot import plot_timeline
from ..structures import AnnotationSet, Detections, VideoAnnotation, canonical_video_id

EMBED_LIMIT_BYTES = 25 * 1024 * 1024  # a data URI is held in memory whole and is a third larger than the file
PLAYABLE_SUFFIXES = {".mp4", ".m4v", ".webm", ".ogv", ".ogg", ".mov"}  # containers browsers commonly play


def write_report(out_dir: str | Path, detections: list[Detections], classes: list[str], *,
                 videos: dict[str, Path] | None = None, durations_s: dict[str, float] | None = None,
                 ground_truth: AnnotationSet | None = None, max_detections: int = 30,
                 embed_video: bool | None = None) -> list[Path]:
    """OUT/<video_id>.html and OUT/<video_id>.png per video, and OUT/index.html when there are several.

    detections: one Detections per video (segments_s float[M, 2] seconds, scores [M], labels int[M] indices
    into `classes`), best first; the `max_detections` best are drawn. videos: video_id -> file to play.
    durations_s: video_id -> seconds; otherwise the duration comes from the ground truth, the video file
    (with PyAV) or the end of the last detection. embed_video: None embeds files up to 25 MB and copies
    larger ones beside the page. Returns the written paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    videos = {canonical_video_id(k): Path(v) for k, v in (videos or {}).items()}
    for video_id, path in videos.items():
        if not path.is_file():
            raise InputError.at(path, "video file not found: fix the path or leave this video out", video=video_id)
    durations = {canonical_video_id(k): v for k, v in (durations_s or {}).items()}
    paths, pages = [], []
    for det in detections:
        key = canonical_video_id(det.video_id)
        if "/" in det.video_id or "\\" in det.video_id or det.video_id in ("", ".", ".."):
            raise InputError.at("detections", "a video id names the report files: use one without '/'",
                                video=det.video_id)
        truth = ground_truth.videos.get(key) if ground_truth is not None else None
        duration = _duration_s(det, durations.get(key), truth, videos.get(key))
        data = page_data(det, classes, duration, truth, max_detections)
        player, notes = _player(videos.get(key), out, det.video_id, embed_video)
        page = out / f"{det.video_id}.html"
        write_text_atomic(page, _render_page(data, player, notes))
        png = out / f"{det.video_id}.png"
        plot_timeline(png, det.video_id, duration, det.segments_s, det.scores, [classes[i] for i in det.labels],
                      truth.segments_s if truth is not None else None,
                      truth.labels if truth is not None else None, max_detections, classes=classes)
        paths += [page, png]
        pages.append(data)
    if len(pages) > 1:
        paths.append(_write_index(out, pages))
    return paths


def page_data(det: Detections, classes: list[str], duration_s: float, truth: VideoAnnotation | None,
              max_detections: int) -> dict:
    """The JSON the page draws: the `max_detections` best detections (label names, seconds), the ground truth
    (None when there is none), the timeline rows (classes with a shown detection or ground truth) and each
    row's colour index (its class index; classes only the ground truth knows come after)."""
    segments = np.asarray(det.segments_s, dtype=np.float64).reshape(-1, 2)
    scores, labels = np.asarray(det.scores, dtype=np.float64), np.asarray(det.labels, dtype=np.int64)
    if not len(segments) == len(scores) == len(labels):
        raise InputError.at("detections", f"{len(segments)} segments, {len(scores)} scores and {len(labels)} "
                            "labels: give one score and one label per segment", video=det.video_id)
    if not (np.isfinite(segments).all() and np.isfinite(scores).all()):
        raise InputError.at("detections", "segments and scores must be finite numbers", video=det.video_id)
    outside = labels[(labels < 0) | (labels >= len(classes))]
    if len(outside):
        raise InputError.at("detections", f"label index {int(outside[0])} is outside the {len(classes)} classes: "
                            "pass the class list the model was trained with", video=det.video_id)
    n = min(max_detections, len(scores))
    shown = [{"rank": i + 1, "label": classes[int(labels[i])], "score": float(scores[i]),
              "start_s": float(segments[i, 0]), "end_s": float(segments[i, 1])} for i in range(n)]
    gt = None if truth is None else [{"label": label, "start_s": float(a), "end_s": float(b)}
                                     for (a, b), label in zip(truth.segments_s, truth.labels)]
    named = {d["label"] for d in shown} | {g["label"] for g in gt or []}
    ordered = list(classes) + sorted(named - set(classes))
    rows = [i for i, c in enumerate(ordered) if c in named]
    return {"video_id": det.video_id, "duration_s": duration_s, "total_detections": int(len(scores)),
            "detections": shown, "truth": gt, "rows": [ordered[i] for i in rows], "row_colors": rows}


def _duration_s(det: Detections, given: float | None, truth: VideoAnnotation | None, video: Path | None) -> float:
    """The first known of: the given duration, the ground truth's, the video file's, the last detection end."""
    ends = np.asarray(det.segments_s, dtype=np.float64).reshape(-1, 2)[:, 1]
    for duration in (given, truth.duration_s if truth else None, _probe_duration_s(video) if video else None,
                     float(ends.max()) if len(ends) else None):
        if duration is not None:
            if not (np.isfinite(duration) and duration > 0):
                raise InputError.at("durations_s", f"duration {duration} is not a positive number of seconds",
                                    video=det.video_id)
            return float(duration)
    raise InputError.at("durations_s", "no duration for this video (no ground truth, video file or detection): "
                        "pass durations_s={video_id: seconds}", video=det.video_id)


def _probe_duration_s(path: Path) -> float | None:
    """The video's duration in seconds as extraction reads it (`probe_video`), or None when PyAV is missing or
    the file cannot be read: the report then falls back to the detections."""
    from ..video.decode import probe_video

    try:
        return probe_video(path).duration_s or None
    except InputError:
        return None


def _player(video: Path | None, out: Path, video_id: str, embed: bool | None) -> tuple[str, list[str]]:
    """The <video> element (or a note that there is none) and notes about how the video is included."""
    if video is None:
        return "", ["No video file was given: the timeline and the table show the detections only."]
    notes = []
    if video.suffix.lower() not in PLAYABLE_SUFFIXES:
        notes.append(f"Browsers may not play {video.suffix or 'this'} files: convert the video to .mp4 (H.264) "
                     "or .webm (VP9) to watch it here.")
    size = video.stat().st_size
    if embed or (embed is None and size <= EMBED_LIMIT_BYTES):
        mime = mimetypes.guess_type(video.name)[0] or "application/octet-stream"
        src = f"data:{mime};base64," + base64.b64encode(video.read_bytes()).decode("ascii")
    else:
        copy = out / f"{video_id}{video.suffix.lower()}"
        if not (copy.exists() and copy.samefile(video)):
            shutil.copyfile(video, copy)
        src = quote(copy.name)
        notes.append(f"The video ({size / 2**20:.0f} MB) is not embedded: it plays from {copy.name} beside this "
                     "page; keep the two files together.")
    player = (f'<video id="player" controls preload="auto" src="{html.escape(src)}" '
              f'data-name="{html.escape(video.name)}"></video>')
    return player, notes


def _json_for_script(data: dict) -> str:
    """JSON that cannot close its <script> element: <, > and & become \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _template(name: str) -> str:
    return resources.files("seqattnet.report").joinpath(name).read_text(encoding="utf-8")


def _render_page(data: dict, player: str, notes: list[str]) -> str:
    shown, total = len(data["detections"]), data["total_detections"]
    summary = [f"{data['duration_s']:.2f} s", f"{shown} of {total} detections shown",
               f"classes: {', '.join(data['rows']) or 'none'}"]
    if data["truth"] is not None:
        summary.insert(2, f"{len(data['truth'])} ground-truth segments")
    fill = {"@@TITLE@@": html.escape(data["video_id"]),
            "@@SUMMARY@@": html.escape(" · ".join(summary)),
            "@@NOTES@@": "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes),
            "@@PLAYER@@": player,
            "@@DATA@@": _json_for_script(data)}
    # One pass, so text filled in (a video id, say) is never searched for markers itself
    return re.sub(r"@@[A-Z]+@@", lambda m: fill[m.group(0)], _template("page.html"))


def _write_index(out: Path, pages: list[dict]) -> Path:
    """OUT/index.html: one line per video linking its page and its PNG."""
    rows = "".join(
        f'<tr><td><a href="{quote(p["video_id"])}.html">{html.escape(p["video_id"])}</a></td>'
        f'<td>{p["duration_s"]:.2f}</td><td>{len(p["detections"])} of {p["total_detections"]}</td>'
        f'<td>{html.escape(", ".join(p["rows"]))}</td><td><a href="{quote(p["video_id"])}.png">PNG</a></td></tr>'
        for p in pages)
    path = out / "index.html"
    write_text_atomic(path, _template("index.html").replace("@@ROWS@@", rows))
    return path
