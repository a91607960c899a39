"""The Python API: `seqattnet.load(checkpoint)` gives a Detector, `seqattnet.train(config, out)` a trained run.

The other face of the command line: `Detector.predict` is `seqattnet predict`, `Detector.evaluate` is
`seqattnet evaluate`, `train` is `seqattnet train`, each calling the same engine functions; errors name
these functions' arguments (`fps=`), not the command's flags. Config overrides are one dict of dotted
keys, as `--set` takes them: `{"train.epochs": 3, "model.attention": "uniform"}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import Config
from .devices import resolve_device
from .engine.checkpoint import load_model, override_checkpoint_config
from .engine.evaluate import EvaluationReport, evaluate_loaded
from .engine.fit import run_config
from .engine.fit import train as fit
from .engine.run import FeatureInput, plot_videos, predict_features
from .errors import InputError, argument
from .evaluation import write_results
from .structures import Detections, canonical_video_id, to_results, video_timing

Overrides = dict[str, object] | None  # {"section.key": value}, as `--set section.key=value`

RECORD_COLUMNS = ("video", "label", "score", "start_s", "end_s")  # one row per detection (to_records)


def override_items(overrides: Overrides) -> list[str]:
    """{"train.epochs": 3, "inference.refine": False} -> ["train.epochs=3", "inference.refine=false"]: the
    `section.key=value` items the config reads (and checks) as it reads `--set`."""
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        raise InputError.at(argument("overrides"), "expected a dict of dotted keys, e.g. {'train.epochs': 3}, got "
                            f"{type(overrides).__name__}")
    return [f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in overrides.items()]


@dataclass
class Results:
    """The detections of a `Detector.predict`, one Detections per video (segments in seconds, best first),
    and the class list their labels index. Iterate it, or index it by position or video id."""

    detections: list[Detections]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.detections)

    def __iter__(self) -> Iterator[Detections]:
        return iter(self.detections)

    def __getitem__(self, key: int | str) -> Detections:
        if isinstance(key, int):
            return self.detections[key]
        wanted = canonical_video_id(key)
        for det in self.detections:
            if det.video_id == wanted:
                return det
        raise KeyError(f"no video {key!r} in these results ({len(self)} videos)")

    @property
    def videos(self) -> list[str]:
        return [d.video_id for d in self.detections]

    def to_dict(self) -> dict[str, list[dict]]:
        """{video: [{"label", "score", "segment": [start_s, end_s]}]}: the ActivityNet result JSON's "results"."""
        return to_results(self.detections, self.classes)

    def to_json(self, path: str | Path) -> Path:
        """The ActivityNet result JSON (with each video's duration and fps), as `seqattnet predict --out`."""
        write_results(path, self.to_dict(), videos=video_timing(self.detections))
        return Path(path)

    def plot(self, out_dir: str | Path, limit: int | None = None) -> list[Path]:
        """One timeline PNG per video (the first `limit`), as `seqattnet predict --plot`."""
        return plot_videos(self.detections, self.classes, out_dir, limit=limit)

    def to_records(self) -> list[dict]:
        """One dict per detection, keys RECORD_COLUMNS, videos in order and each video's best first."""
        return [dict(zip(RECORD_COLUMNS, (d.video_id, self.classes[int(label)], float(score), float(a), float(b))))
                for d in self.detections for (a, b), score, label in zip(d.segments_s, d.scores, d.labels)]

    def to_dataframe(self):
        """`to_records` as a pandas DataFrame (columns RECORD_COLUMNS); needs pandas."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Results.to_dataframe needs pandas, which is not installed: `pip install pandas`, or "
                              "use Results.to_records() (the same rows as dicts)") from None
        return pandas.DataFrame(self.to_records(), columns=list(RECORD_COLUMNS))

    def __str__(self) -> str:
        """A summary: counts, then the best 3 detections of the first 5 videos."""
        total = sum(len(d.scores) for d in self.detections)
        lines = [f"Results: {len(self)} videos, {total} detections, {len(self.classes)} classes"]
        for d in self.detections[:5]:
            best = ", ".join(f"{self.classes[int(l)]} {s:.3f} [{a:.1f}, {b:.1f}] s"
                             for (a, b), s, l in zip(d.segments_s[:3], d.scores[:3], d.labels[:3]))
            lines.append(f"  {d.video_id}: {best or 'no detections'}")
        if len(self) > 5:
            lines.append(f"  ... and {len(self) - 5} more videos")
        return "\n".join(lines)


class Detector:
    """A trained checkpoint ready to run (`seqattnet.load`): its model in eval mode, config and classes."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", overrides: Overrides = None):
        self.checkpoint = Path(checkpoint)
        self.model, self.config, self.classes = load_model(checkpoint, resolve_device(device),
                                                           override_items(overrides))

    def predict(self, features: FeatureInput, annotations: str | Path | None = None, fps: float | None = None, *,
                progress: bool = True) -> Results:
        """Detections for a feature file, a folder of them, an HDF5 store, one float[n, F] array (named
        "video") or {video id: float[n, F]}, as `seqattnet predict`. Each video's fps and duration come from
        `fps`, the file's metadata, `annotations`, the config's data.fps or, for a video none of these
        times, the annotations the checkpoint was trained with when they list it (predict_features)."""
        detections = predict_features(self.model, self.config, features, fps=fps, annotations=annotations,
                                      progress=progress, checkpoint=self.checkpoint)
        return Results(detections, self.classes)

    def watch(self, source: str, *, weights: str = "default", timeout_s: float = 10.0):
        """Final detections of a video while it is recorded or sent, as `seqattnet watch`: a generator of
        WatchEvent (video, start_s, end_s, label, score, emitted_s, depends_s; .to_dict()), each given once,
        when no later window can change it, then one WatchSummary. `source`: a file being written (MPEG-TS,
        Matroska, fragmented MP4), "-" (standard input), a URL or a device; a windowed checkpoint only."""
        from .watch import check_watchable, watch_source

        check_watchable(self.config, self.checkpoint)
        return watch_source(self.model, self.config, self.classes, source, weights=weights, timeout_s=timeout_s)

    def evaluate(self, split: str | None = None, *, annotations: str | Path | None = None,
                 features: str | Path | None = None, overrides: Overrides = None,
                 progress: bool = True) -> EvaluationReport:
        """mAP and AR@AN on `split` (default: the config's data.val_subset) of the checkpoint's data, as
        `seqattnet evaluate`; `annotations` / `features` evaluate on other files (data.annotations,
        data.features), `overrides` changes inference.* or data.* keys. report.table() prints it."""
        cfg = self._config_with(annotations, features, overrides)
        return evaluate_loaded(self.model, cfg, self.classes, split, progress=progress, checkpoint=self.checkpoint)

    def _config_with(self, annotations: str | Path | None, features: str | Path | None,
                     overrides: Overrides) -> Config:
        import copy

        cfg = copy.deepcopy(self.config)
        files = {"data.annotations": annotations, "data.features": features}
        items = [f"{key}={Path(path).resolve()}" for key, path in files.items() if path is not None]
        override_checkpoint_config(cfg, items + override_items(overrides))
        return cfg

    def __repr__(self) -> str:
        m = self.config.model
        return (f"Detector({str(self.checkpoint)!r}: T={m.temporal_scale}, F={m.feature_dim}, "
                f"{len(self.classes)} classes)")


def load(checkpoint: str | Path, device: str = "auto", overrides: Overrides = None) -> Detector:
    """The Detector of a checkpoint (a last.pt or best.pt of `seqattnet train`); `overrides` sets
    inference.* or data.* keys of its config, e.g. {"inference.refine": False}."""
    return Detector(checkpoint, device, overrides)


def train(config: str | Path | Config | None, out: str | Path, overrides: Overrides = None, *, resume: bool = False,
          overwrite: bool = False, seed: int | None = None, progress: bool = True) -> EvaluationReport:
    """Train into the folder `out` and evaluate on the validation subset, as `seqattnet train`: `config` is a
    shipped name (demo, activitynet, ...), a YAML path or a Config, `overrides` a dict of dotted keys. A folder
    that holds a run is refused unless `resume` (continue it; `config` may be None: the run's own) or
    `overwrite` (replace it). The run's checkpoint is out/last.pt: `seqattnet.load(out / "last.pt")`."""
    cfg = run_config(config, out, override_items(overrides), resume=resume, seed=seed)
    return fit(cfg, out, progress=progress, resume=resume, overwrite=overwrite)
