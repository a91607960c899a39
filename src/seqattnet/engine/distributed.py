"""Data-parallel training with PyTorch's own engine, set up from the environment torchrun provides.

`torchrun --nproc_per_node=N -m seqattnet.cli train ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; each joins one process group (NCCL on GPU, gloo on CPU), trains on its shard of the
data with a per-process batch of train.batch_size / N (so the global batch is the config's) and
DistributedDataParallel averages the gradients. Rank 0 alone evaluates and writes files.
Without those variables everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import InputError, arg

EVALUATION_TIMEOUT = timedelta(hours=1)  # longest wait in a collective (torch's default: 10 min for NCCL)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The one process that evaluates, logs and writes files."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Join torchrun's process group when WORLD_SIZE > 1; the process's rank info and its device.

    On CUDA each process takes the GPU numbered LOCAL_RANK and NCCL; on CPU, gloo.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo(), device
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
        device = torch.device("cuda", info.local_rank)
    if not dist.is_initialized():
        # Rank 0 evaluates alone while the others wait in the next collective: allow a long evaluation.
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=EVALUATION_TIMEOUT)
    return info, device


def local_batch_size(batch_size: int, info: DistInfo) -> int:
    """train.batch_size is the global batch: each of the world_size processes takes an equal share."""
    if batch_size % info.world_size:
        raise InputError.at("train.batch_size", f"{batch_size} does not split over {info.world_size} processes; "
                            f"set {arg('overrides', ('train.batch_size', info.world_size * max(1, batch_size // info.world_size)))}")
    return batch_size // info.world_size


class DistributedSeqAttNet(DistributedDataParallel):
    """DDP over SeqAttNet that also exposes the second stage, `heads`, which training calls directly.

    The heads run outside DDP's forward but inside the same backward, so their gradients are
    averaged with the rest (every parameter takes part in every step's loss).
    """

    def heads(self, *args, **kwargs):
        return self.module.heads(*args, **kwargs)


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """The model to train: DDP-wrapped across processes, the model itself for one process."""
    if not info.enabled:
        return model
    return DistributedSeqAttNet(model, device_ids=[device.index] if device.type == "cuda" else None)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


@contextmanager
def main_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block first (it may write shared files: the generated data, the feature cache)."""
    if not info.is_main:
        barrier(info)
    yield
    if info.is_main:
        barrier(info)


def mean_over_processes(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """Each value averaged over the processes (equal shards, so the mean of means is the mean).

    `device`: where the process's model lives (NCCL reduces GPU tensors only).
    """
    if not info.enabled or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return {name: float(v) / info.world_size for name, v in zip(values, tensor)}


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()  # no process leaves while another still has gloo work in flight (it aborts at exit)
        dist.destroy_process_group()
