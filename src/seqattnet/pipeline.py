"""`seqattnet detect`: video files -> features (the checkpoint's backbone) -> detections -> report.

The one composition of stages that each stand alone (video extraction, the engine's prediction, the
HTML report), so it sits above all of them and below the command line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import InputError, counted
from .structures import canonical_video_id, to_results, video_timing


def detect_videos(videos: str | Path, checkpoint: str | Path, *, report_dir: str | Path | None = None,
                  results_path: str | Path | None = None, features_dir: str | Path | None = None,
                  weights: str = "default", ground_truth: str | Path | None = None, device: str = "auto",
                  progress: bool = True, overrides: list[str] = ()) -> list:
    """Extract features of a video file (or a folder of them) as the checkpoint's model was trained on,
    detect actions, write the result JSON and, with `report_dir`, an HTML page and a PNG per video.

    The backbone, snippet length and stride come from the checkpoint (data.backbone, data.window_frames,
    data.stride_frames); a checkpoint that does not name its backbone is refused. `overrides`: inference.*
    and data.* `--set` values. -> list[Detections].
    """
    from .engine.checkpoint import checkpoint_config, read_checkpoint

    cfg = checkpoint_config(checkpoint, read_checkpoint(checkpoint), overrides)
    if not cfg.data.backbone:
        raise InputError.at(checkpoint, "the checkpoint does not name the backbone of its features (data.backbone "
                            "is empty): train on features from `seqattnet extract` with data.backbone set, or run "
                            "`seqattnet extract` and `seqattnet predict` yourself")
    report = Path(report_dir) if report_dir else None
    results = Path(results_path) if results_path else (report / "results.json" if report else Path("results.json"))
    with tempfile.TemporaryDirectory(prefix="seqattnet-features-") as scratch:
        folder = Path(features_dir) if features_dir else (report / "features" if report else Path(scratch))
        return _detect(videos, checkpoint, cfg, folder, results, report, weights, ground_truth, device, progress,
                       list(overrides))


def feature_batch(cfg) -> int:
    """Snippets per forward pass of the backbone: 16, or T when the checkpoint's windows are shorter, so that
    `watch` never waits more than a window for a batch to fill. `detect` and `watch` batch alike, since a
    network's arithmetic may differ with its batch."""
    return min(16, int(cfg.model.temporal_scale)) if cfg.windows.enabled else 16


def report_files(videos: str | Path) -> list[str]:
    """The names `detect --report DIR` writes into DIR for these videos: a page and a PNG per video, and the
    index of several."""
    from .video.extract import find_videos

    ids = [canonical_video_id(f.stem) for f in find_videos(videos)]
    return [f"{i}{suffix}" for i in ids for suffix in (".html", ".png")] + (["index.html"] if len(ids) > 1 else [])


def _detect(videos, checkpoint, cfg, features_dir: Path, results: Path, report: Path | None, weights: str,
            ground_truth, device: str, progress: bool, overrides: list[str]) -> list:
    from .data.annotations import read_annotations
    from .data.features import read_feature_meta
    from .engine.run import predict_files
    from .evaluation import write_results
    from .video.extract import extract_features, find_videos

    truth = read_annotations(ground_truth) if ground_truth else None  # bad annotations fail before the work
    files = find_videos(videos)
    extracted = extract_features(files, features_dir, backbone=cfg.data.backbone, weights=weights,
                                 window_frames=int(cfg.data.window_frames), stride_frames=int(cfg.data.stride_frames),
                                 batch_size=feature_batch(cfg), device=device, progress=progress)
    print(extracted.summary())
    feature_files = extracted.written + extracted.skipped
    if not feature_files:
        raise InputError.at(videos, f"no video could be read ({len(extracted.failed)} failed, listed above)")
    detections, classes = predict_files(checkpoint, feature_files, device=device, progress=progress,
                                        overrides=overrides)
    results.parent.mkdir(parents=True, exist_ok=True)
    write_results(results, to_results(detections, classes), videos=video_timing(detections))
    print(f"{counted(sum(len(d.scores) for d in detections), 'detection')} in {counted(len(detections), 'video')} "
          f"-> {results}")
    if report is not None:
        from .report import write_report

        by_id = {canonical_video_id(f.stem): f for f in files}
        durations = {canonical_video_id(f.stem): read_feature_meta(f)["duration_s"] for f in feature_files}
        pages = write_report(report, detections, classes, videos={d.video_id: by_id[d.video_id] for d in detections},
                             durations_s=durations, ground_truth=truth)
        print(f"report: {pages[-1] if len(pages) > 2 else pages[0]}")
    return detections
