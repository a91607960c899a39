"""The sections of the configuration, one dataclass each (seqattnet.config loads and checks them).

Every default below is the shipped recipe, the `activitynet` config's value, so a YAML that leaves a key out
gets it. Where the recipe departs from the paper, the comment gives the paper's value ("paper: ..."); the
`activitynet-paper` config states every paper value. Other defaults are the paper's ActivityNet choice (where
the paper leaves one open, the reading docs/model.md describes) unless the comment says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


MAP_CONV_GROUPS = 4  # model.map_conv "grouped": 4 groups of channels, as BMN's base and start/end convolutions


@dataclass
class ModelConfig:
    feature_dim: int = 400  # F: TSN 200 RGB + 200 flow
    temporal_scale: int = 100  # T: snippets every video is rescaled to
    max_duration: int = 100  # D: longest proposal in snippets (rows of the confidence maps)
    num_classes: int = 200  # Nc
    base_channels: int = 256  # Table 1
    bm_channels: int = 256  # Conv3d output channels (paper: 512, Table 1; docs/model.md, "The proposal stage's cost")
    map_channels: int = 64  # Conv2d channels of the map head (paper: 128, Table 1)
    map_conv: Literal["full", "separable", "grouped"] = "full"  # the map head's 3x3 convolutions: full (Table 1),
    # separable (depthwise 3x3 + pointwise 1x1: 8x fewer FLOPs there, measured lower; docs/model.md) or grouped
    # (MAP_CONV_GROUPS groups of channels: that many times fewer)
    num_samples: int = 32  # N, boundary-matching sample points (Table 1 / BMN)
    samples_per_bin: int = 3  # BMN
    boundary_ratio: float = 0.5  # BM sampling region widened by this x length on each side (BMN)
    conv_groups: int = 4  # BMN's grouped base / temporal-evaluation convolutions
    amassment: Literal["pad", "resample"] = "pad"  # 3D input: pad (paper) or resample
    amass_context: float = 0.0  # widen each proposal by this x its length on both sides for the heads (0 = paper)
    attention: Literal["softmax", "sigmoid", "uniform"] = "softmax"  # softmax: paper; uniform: no attention (ablation)
    error_head: bool = True  # False: no boundary refinement (ablation)
    error_input: Literal["proposal", "boundaries"] = "boundaries"  # the error head reads a window around each
    # boundary (boundary_head.py, the shipped recipe) or the proposal's own columns (paper: "proposal")
    error_context: float = 0.25  # "boundaries": window of +- this x the proposal's length around each boundary
    error_points: int = 16  # "boundaries": positions each window is resampled to
    bm_impl: Literal["auto", "sparse", "dense", "reference"] = "auto"  # reference: BMN's direct, slow computation


@dataclass
class LabelConfig:
    regions: Literal["paper", "bmn"] = "paper"  # boundary regions: paper (Eqs. 2-6, d/10) or bmn (t +- 1.5/T)
    min_region: float = 0.0  # "paper" regions: a boundary region spans at least +- this x 1/T (0 = d_g/10 only)
    map_iou: Literal["absolute", "relative"] = "absolute"  # G_C: a cell's IoU (paper) or its IoU over the
    # best IoU any cell reaches with that instance, so actions of 1-2 cells get M_CC positives (docs/model.md)
    class_iou: float = 0.0  # > 0: candidate cells with IoU >= this also train the class head (0.7 in docs/model.md)
    error_iou: float = 0.5  # cells with IoU >= this train the error head
    error_per_video: int = 16  # cells sampled per video for the error head
    error_rows: Literal["cells", "jitter"] = "jitter"  # error head's rows: ground truth with jittered boundaries,
    # like the candidates it refines (shipped), or random cells with IoU >= error_iou (paper: "cells")
    error_jitter: float = 0.06  # "jitter": ground-truth boundaries moved by N(0, (this x length)^2), on the grid


@dataclass
class LossConfig:
    lambda_r: float = 10.0  # Table 4
    lambda_te: float = 1.0
    lambda_cl: float = 1.0
    lambda_er: float = 10.0  # shipped; paper (Table 4): 1. Its small loss is not outweighed by the L2 term
    lambda_l2: float = 0.001  # L2 penalty lambda_2 * ||theta||^2, applied as weight decay 2 * lambda_2
    boundary_threshold: float = 0.5  # b_i = g_i > 0.5 for G_S, G_E (paper)
    map_threshold: float = 0.9  # positive cells of M_CC (BMN)


@dataclass
class InferenceConfig:
    peak_ratio: float = 0.5  # a boundary is a candidate where it is a local peak or above this x max (BMN)
    max_candidates: int = 100  # candidates (by proposal confidence) sent to the heads
    top_k_classes: int = 1  # classes kept per candidate, each scored S = P x Cscore_c (Sec. 3.6)
    class_min_score: float = 0.0  # a class after the first is kept when Cscore_c >= this x the first's (0 = all k)
    refine: bool = True  # apply the error head's offsets
    refine_steps: int = 1  # boundary head ("boundaries"): refinement steps, each around the last refined boundaries
    soft_nms_sigma: float = 0.4  # Gaussian decay exp(-iou^2 / sigma) (BMN's alpha)
    soft_nms_t1: float = 0.0  # decay above the IoU threshold t1 + (t2 - t1) * width: BMN's 0.5 and 0.9 spare
    soft_nms_t2: float = 0.0  # near-duplicates of long segments; 0 and 0 decay every overlap (docs/model.md)
    soft_nms_classes: Literal["agnostic", "per_class"] = "agnostic"  # per_class: a kept detection decays only
    # detections of its own class (ActionFormer's multi-class Soft-NMS); agnostic: every class (paper, BMN)
    max_detections: int = 100  # kept per video (ActivityNet; dense videos need more: thumos14 keeps 200); per
    # window share with window_suppression "local"
    window_suppression: Literal["local", "video"] = "local"  # sliding windows: local = each window's detections
    # suppressed among the windows overlapping it (what `watch` can do while a video runs); video = one Soft-NMS
    # over the whole video, normalised by its duration (needs the whole video) (engine/windowed.py)
    class_scores: str = ""  # video-level classifier scores (CUHK-style JSON, path under data.root); "" = no fusion
    class_score_fusion: Literal["multiply", "replace"] = "multiply"  # score x its class's video score, or BMN's top-k
    class_score_top_k: int = 2  # video classes per segment with "replace" (BMN: 2)


@dataclass
class DataConfig:
    """The data files and what their features are."""

    root: str = ""  # folder the relative paths below are read from ("" = current directory)
    annotations: str = "annotations.json"  # ActivityNet JSON, BMN anet_anno_action.json or THUMOS JSON
    video_info: str = ""  # BMN video_info_new.csv ("" = beside the annotations)
    features: str = "features"  # folder of per-video feature files, or one .h5/.hdf5 file keyed by video id
    file_pattern: str = "{video_id}.npy"
    classes: str = ""  # class list file ("" = the classes found in the annotations, sorted)
    backbone: str = ""  # network that made the features ("" = not recorded); predict refuses features of another
    stride_frames: float = 16.0  # snippet stride in frames (ActivityNet TSN: 16)
    window_frames: float = 16.0  # frames a snippet covers
    fps: float = 0.0  # 0 = per-video fps from the annotations
    rescaled: bool = False  # True: files already hold T rows (BMN's CSV layout)
    train_subset: str = "training"
    val_subset: str = "validation"
    cache: bool = True  # cache the rescaled features in one memory-mappable file

    def path(self, relative: str) -> Path:
        """A path of this section, read from `root` unless it is absolute."""
        p = Path(relative)
        return p if p.is_absolute() or not self.root else Path(self.root) / p


@dataclass
class EvaluationConfig:
    protocol: Literal["activitynet", "thumos"] = "activitynet"  # evaluation tIoUs: 0.5:0.05:0.95, thumos 0.3:0.1:0.7


@dataclass
class SyntheticConfig:
    """The built-in dataset (seqattnet.data.synthetic, docs/data.md)."""

    generate: bool = False  # generate the built-in dataset into data.root when it is missing
    train_videos: int = 1200  # videos of the built-in dataset
    val_videos: int = 300
    classes: int = 20
    groups: int = 5  # groups of confusable classes (at most synthetic.classes)
    mode: Literal["standard", "hard"] = "standard"  # hard: the second evaluation set (docs/data.md)
    layout: Literal["activitynet", "thumos"] = "activitynet"  # thumos: many short actions in long videos at the
    # native rate (data/synthetic_thumos.py); train_videos / val_videos are then its Validation / Test subsets


@dataclass
class WindowConfig:
    enabled: bool = False  # True: items are windows of T native snippets (THUMOS14), not whole videos rescaled to T
    overlap: float = 0.5  # share of T two consecutive windows have in common
    min_fraction: float = 0.3  # a segment cut by a window is kept when >= this x min(its length, the window)
    train_per_video: int = 0  # > 0: each epoch trains on this many windows per video at uniformly random starts
    # (a random crop, drawn from train.seed and the epoch); 0 = every overlapping window
    merge: Literal["all", "centre"] = "all"  # centre: a window keeps only candidates centred in its own share of
    # the video (up to the middle of each overlap): an action cut by its edge comes from the window holding it,
    # and the heads see half of the candidates (engine/windowed.py)


@dataclass
class TrainConfig:
    epochs: int = 10  # shipped; paper (Table 4): 5
    batch_size: int = 16  # Table 4
    lr: float = 0.001  # Table 4, Adam
    lr_step: int = 7  # > 0: multiply the lr by 0.1 every lr_step epochs (BMN, shipped: 7); 0 = constant (paper)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    num_threads: int = 0  # torch CPU threads (0 = torch's default)
    eval_every: int = 0  # > 0: evaluate on data.val_subset every this many epochs and keep best.pt; 0 = only at the end
    grad_clip: float = 0.0  # > 0: clip the gradients' global L2 norm to this before each step; 0 = off (paper)
    amp: bool = False  # True: bfloat16 autocast for the forward pass and loss (CPU and CUDA); off = float32 (paper)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    windows: WindowConfig = field(default_factory=WindowConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
