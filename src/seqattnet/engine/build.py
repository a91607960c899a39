"""The one place that turns a Config into datasets, a model and an optimiser."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config
from ..data.annotations import read_annotations, read_class_names
from ..data.dataset import FeatureSpec, VideoDataset
from ..data.features import FeatureDimensionError
from ..data.windows import RandomWindows, WindowDataset
from ..devices import resolve_device  # noqa: F401  (its home is devices.py; importable from here as before)
from ..errors import InputError, arg, counted
from ..model import SeqAttNet
from ..structures import AnnotationSet


def ensure_synthetic_data(cfg: Config, progress: bool = True) -> None:
    """Generate the built-in dataset (synthetic.layout) into data.root when the config asks for it and it is missing."""
    if not cfg.synthetic.generate or cfg.data.path(cfg.data.annotations).exists():
        return
    syn = cfg.synthetic
    if syn.groups > syn.classes:  # refused, not cut down: the dataset would not be the one asked for
        raise InputError.at("config", f"'synthetic.groups' {syn.groups} must be <= 'synthetic.classes' "
                            f"{syn.classes} (groups of confusable classes); set synthetic.groups={syn.classes} or fewer")
    if syn.layout == "thumos" and syn.classes < 4:  # classes 0-3 are its duplicate-label and overlapping pairs
        raise InputError.at("config", f"'synthetic.classes' {syn.classes} must be >= 4 with 'synthetic.layout' thumos "
                            "(its duplicate-label and overlapping pairs are classes 0-3); set synthetic.classes=4 or more")
    common = dict(num_train=syn.train_videos, num_val=syn.val_videos, num_classes=syn.classes,
                  num_groups=syn.groups, feature_dim=cfg.model.feature_dim, seed=cfg.train.seed,
                  mode=syn.mode, progress=progress)
    if syn.layout == "thumos":  # snippets at the config's stride and window, each video's own fps
        from ..data.synthetic_thumos import generate_thumos_dataset

        generate_thumos_dataset(Path(cfg.data.root), stride_frames=cfg.data.stride_frames,
                                window_frames=cfg.data.window_frames, **common)
    else:
        from ..data.synthetic import generate_synthetic_dataset

        generate_synthetic_dataset(Path(cfg.data.root), **common)


def read_data_annotations(cfg: Config) -> AnnotationSet:
    """The annotations of data.annotations, with BMN's data.video_info when set."""
    info = cfg.data.path(cfg.data.video_info) if cfg.data.video_info else None
    return read_annotations(cfg.data.path(cfg.data.annotations), info)


def load_ground_truth(cfg: Config) -> tuple[AnnotationSet, list[str]]:
    """All annotations and the class list (from data.classes, else the annotations' sorted classes)."""
    annotations = read_data_annotations(cfg)
    classes = read_class_names(cfg.data.path(cfg.data.classes)) if cfg.data.classes else annotations.classes
    if len(classes) != cfg.model.num_classes:
        raise InputError.at(cfg.data.classes or cfg.data.annotations,
                            f"{counted(len(classes), 'class')}, but model.num_classes is {cfg.model.num_classes}; "
                            f"set {arg('overrides', ('model.num_classes', len(classes)))}")
    return annotations, classes


def build_dataset(cfg: Config, subset: str, annotations: AnnotationSet, classes: list[str]) -> VideoDataset:
    videos = annotations.subset(subset)
    if not videos.videos:
        raise InputError.at(annotations.source, f"no videos in subset {subset!r}; subsets: {annotations.subsets}")
    if cfg.windows.enabled:  # native-rate windows: read per window from the files (no grid to cache)
        return WindowDataset(videos, cfg.data.path(cfg.data.features), classes, FeatureSpec.from_config(cfg),
                             cfg.model.temporal_scale, overlap=cfg.windows.overlap,
                             min_fraction=cfg.windows.min_fraction, file_pattern=cfg.data.file_pattern)
    cache = None
    if cfg.data.cache:
        cache = cfg.data.path(f"cache/{subset}_T{cfg.model.temporal_scale}.npy")
        cache.parent.mkdir(parents=True, exist_ok=True)
    return VideoDataset(videos, cfg.data.path(cfg.data.features), classes, FeatureSpec.from_config(cfg),
                        cfg.model.temporal_scale, cache_path=cache, file_pattern=cfg.data.file_pattern)


def build_training_sets(cfg: Config, annotations: AnnotationSet,
                        classes: list[str]) -> VideoDataset | RandomWindows:
    """The train subset's dataset; with windows.train_per_video > 0, that many random windows per video,
    drawn again by `set_epoch` before each epoch. The validation subset's is built too, so that its problems
    show before training. Features of another F than model.feature_dim are refused with the fix, which a
    config can make."""
    try:
        train_set = build_dataset(cfg, cfg.data.train_subset, annotations, classes)
        require_segments(train_set, cfg.data.train_subset)
        build_dataset(cfg, cfg.data.val_subset, annotations, classes)
    except FeatureDimensionError as e:
        if e.transposed:  # its F is the model's: the rows are, not the dimension
            raise
        raise InputError(f"{e}; set {arg('overrides', ('model.feature_dim', e.found))} if every file has {e.found} "
                         "(`seqattnet check-data` counts them)") from None
    if cfg.windows.enabled and cfg.windows.train_per_video > 0:
        return RandomWindows(train_set, cfg.windows.train_per_video, cfg.train.seed)
    return train_set


def require_segments(dataset: VideoDataset, subset: str) -> None:
    """Refuse to train on a subset where no segment is left to learn from (each lies outside its video or
    has zero length, and was left out): every batch would hold no action."""
    if dataset.num_segments == 0:
        source = str(dataset.annotation_source)
        first = f"; the first: {dataset.skipped[0].removeprefix(source + ': ')}" if dataset.skipped else ""
        raise InputError.at(source, f"no usable segment in subset {subset!r} ({counted(len(dataset.video_ids), 'video')}): "
                            f"every segment lies outside its video or has zero length{first}", field="annotations")


def build_model(cfg: Config) -> SeqAttNet:
    """The model of cfg.model; checkpoints load through here too (engine.checkpoint.load_model)."""
    return SeqAttNet(cfg.model)


def build_optimizer(cfg: Config, model: torch.nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    # Eq. 7's lambda_2 ||theta||^2 has gradient 2 lambda_2 theta: Adam's weight_decay adds wd * theta.
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=2 * cfg.loss.lambda_l2)
    step = cfg.train.lr_step if cfg.train.lr_step > 0 else 10**9
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=0.1)
