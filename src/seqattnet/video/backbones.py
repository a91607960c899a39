"""torchvision video networks as feature extractors: float[B, 3, frames, H, W] -> float[B, F], with their preprocessing.

Two image networks (mobilenet_v3_small, resnet18) are offered too, run on a few frames of each snippet
(`PerFrame`): much cheaper than a 3D network, for `watch` on a CPU.

The classifier of each network is replaced by `Identity`, so the output is the pooled feature the
classifier would have read. Resize, crop, mean and std come from the torchvision weights' own
transforms (`weights.transforms()`), whatever weights are loaded, so they match what the network was
trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError


@dataclass(frozen=True)
class _Spec:
    head: str  # the attribute holding the classifier, replaced by Identity
    feature_dim: int
    exact_frames: int | None = None  # mvit's positional embeddings fix the snippet length
    image_frames: int = 0  # > 0: an image network run on this many evenly spaced frames of a snippet, averaged


BACKBONES = {
    "r3d_18": _Spec("fc", 512),
    "mc3_18": _Spec("fc", 512),
    "r2plus1d_18": _Spec("fc", 512),
    "s3d": _Spec("classifier", 1024),  # classifier is a 1x1x1 conv; s3d averages its output over (T, H, W)
    "mvit_v2_s": _Spec("head", 768, exact_frames=16),
    "swin3d_t": _Spec("head", 768),
    # Image networks, lighter for `watch` on a CPU: 4 frames of each snippet, their pooled features averaged.
    "mobilenet_v3_small": _Spec("classifier", 576, image_frames=4),  # the whole MLP classifier goes
    "resnet18": _Spec("fc", 512, image_frames=4),
}


class PerFrame(nn.Module):
    """An image network over `frames` evenly spaced frames of each snippet, its features averaged over them:
    float[B, 3, snippet, H, W] -> float[B, F]."""

    def __init__(self, net: nn.Module, frames: int):
        super().__init__()
        self.net, self.frames = net, frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T, H, W = x.shape
        at = torch.linspace(0, T - 1, min(self.frames, T), device=x.device).round().long()
        images = x[:, :, at].transpose(1, 2).reshape(-1, C, H, W)  # (B·k, 3, H, W)
        return self.net(images).view(B, len(at), -1).mean(dim=1)  # (B, F)


@dataclass(frozen=True)
class Backbone:
    """A built network and how its input is made: resize (torchvision's `resize_size`), centre crop, normalise."""

    name: str
    model: nn.Module  # float[B, 3, frames, crop, crop] -> float[B, feature_dim], in eval mode
    weights: str  # "DEFAULT:<enum member>", "random" or the state-dict file's name
    feature_dim: int
    resize: tuple[int, ...]  # (h, w): resized exactly; (s,): short side to s, aspect ratio kept
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def normalise(self, snippets: torch.Tensor) -> torch.Tensor:
        """snippets: uint8 Tensor[B, frames, crop, crop, 3] -> float32 Tensor[B, 3, frames, crop, crop], normalised."""
        x = snippets.permute(0, 4, 1, 2, 3).float().div_(255.0)  # (B, 3, frames, H, W)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1, 1)
        return (x - mean) / std


def build_backbone(name: str, weights: str = "default", *, window_frames: int = 16, seed: int = 0) -> Backbone:
    """Build backbone `name` for snippets of `window_frames` frames.

    weights: "default" (torchvision's pretrained DEFAULT weights, downloaded by torchvision on first use
    into $TORCH_HOME), "random" (random initialisation from `seed`: reproducible, for tests only) or the
    path of a state-dict file of the full torchvision model (`torch.save(model.state_dict(), path)`;
    the classifier's weights in it are ignored, so any number of classes works).
    """
    if name not in BACKBONES:
        raise InputError.at("--backbone", f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    spec = BACKBONES[name]
    if spec.exact_frames is not None and window_frames != spec.exact_frames:
        raise InputError.at("--snippet", f"{name} needs snippets of exactly {spec.exact_frames} frames, got "
                                         f"{window_frames}; pass --snippet {spec.exact_frames}")
    models = _import_torchvision().models
    enum = models.get_model_weights(name).DEFAULT
    min_frames = enum.meta.get("min_temporal_size", 1)
    if window_frames < min_frames:
        raise InputError.at("--snippet", f"{name} needs snippets of at least {min_frames} frames, got {window_frames}")
    model, label = _load_model(models, name, spec, weights, enum, seed)
    if spec.image_frames:
        model = PerFrame(model, spec.image_frames)
    t = enum.transforms()
    return Backbone(name=name, model=model.eval(), weights=label, feature_dim=spec.feature_dim,
                    resize=tuple(t.resize_size), crop_size=t.crop_size[0], mean=tuple(t.mean), std=tuple(t.std))


def _load_model(models, name: str, spec: _Spec, weights: str, enum, seed: int) -> tuple[nn.Module, str]:
    if weights == "default":
        try:
            model = models.get_model(name, weights=enum)
        except (OSError, RuntimeError) as e:  # URLError is an OSError
            raise InputError.at("--weights", f"downloading torchvision's {enum} for {name} failed ({e}); pass "
                                             f"--weights PATH, a state-dict file saved on a machine with network "
                                             f"(see docs/video.md)") from None
        setattr(model, spec.head, nn.Identity())
        return model, f"DEFAULT:{enum}"
    with torch.random.fork_rng(devices=[]):  # a fixed initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        model = models.get_model(name, weights=None)
    setattr(model, spec.head, nn.Identity())
    if weights == "random":
        return model, "random"
    _load_state_dict(model, Path(weights), spec.head)
    return model, Path(weights).name


def _load_state_dict(model: nn.Module, path: Path, head: str) -> None:
    """Load a full model's state dict into `model` (whose classifier is Identity), skipping the classifier's keys."""
    if not path.is_file():
        raise InputError.at(path, "weights file not found; --weights takes 'default', 'random' or a state-dict file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on a file that is not a checkpoint
        raise InputError.at(path, f"cannot read the weights ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError.at(path, "expected a state dict (torch.save(model.state_dict(), path)) of a torchvision model")
    state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        raise InputError.at(path, f"does not fit this network ({str(e).splitlines()[-1].strip()}); "
                                  f"is it the right --backbone?") from None
    if missing or unexpected:
        raise InputError.at(path, f"does not fit this network: {len(missing)} missing keys {missing[:3]}, "
                                  f"{len(unexpected)} unexpected keys {unexpected[:3]}; is it the right --backbone?")


def _import_torchvision():
    try:
        import torchvision
    except ImportError:
        raise InputError.at("extract", "video backbones need torchvision: pip install \"seqattnet[video]\"") from None
    return torchvision
