"""DistributedDataParallel on CPU with gloo: 2 processes against 1, and the gradients DDP averages."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqattnet.cli import main
from seqattnet.config import load_config
from seqattnet.data.dataset import collate
from seqattnet.engine.build import build_dataset, build_model, load_ground_truth
from seqattnet.engine.distributed import DistInfo, init_distributed, mean_over_processes, wrap_model
from seqattnet.engine.train import training_loss
from tiny_runs import TINY_RUN

TINY = [*TINY_RUN, "train.epochs=2", "train.num_threads=1"]
MAP_TOLERANCE = 0.02  # absolute average mAP: the processes see other data orders and target samples


def _sets(data: Path) -> list[str]:
    return [a for item in [f"data.root={data}", *TINY] for a in ("--set", item)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    assert main(["train", "--config", "demo", *_sets(root / "data"), "--out", str(root / "one"), "--quiet"]) == 0
    return root


def test_two_gloo_processes_match_one_process(one_process):
    root, out = one_process, one_process / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "seqattnet.cli", "train", "--config", "demo", *_sets(root / "data"), "--out", str(out), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Average") == 1  # only rank 0 prints the table
    one, two = (json.loads((root / n / "metrics.json").read_text()) for n in ("one", "two"))
    assert abs(one["average_mAP"] - two["average_mAP"]) <= MAP_TOLERANCE
    log = (out / "train.log").read_text()
    assert "2 process(es)" in log and log.count("epoch 1/2") == 1  # one writer
    losses = [torch.load(root / n / "last.pt", weights_only=False)["metrics"]["loss"]["total"] for n in ("one", "two")]
    assert losses[1] == pytest.approx(losses[0], rel=0.05)  # the same global batch of the same data


def _grads_worker(rank: int, port: int, data: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info, device = init_distributed(torch.device("cpu"))
    cfg, batch = _half_batch(data, rank)
    torch.manual_seed(0)
    model = wrap_model(build_model(cfg), info, device)
    loss = training_loss(model, batch, cfg, torch.Generator().manual_seed(1)).total
    loss.backward()
    means = mean_over_processes({"loss": loss.item(), "rank": float(rank)}, info, device)
    grads = {n: p.grad for n, p in model.module.named_parameters()}
    torch.save({"grads": grads, "means": means}, Path(out) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def _half_batch(data: str, half: int):
    cfg = load_config("demo", [f"data.root={data}", *TINY])
    ground_truth, classes = load_ground_truth(cfg)
    dataset = build_dataset(cfg, cfg.data.train_subset, ground_truth, classes)
    return cfg, collate([dataset[i] for i in (2 * half, 2 * half + 1)])


def test_ddp_averages_the_gradients_of_both_stages(one_process, tmp_path):
    """Each process's gradient, proposal stage and heads alike, is the mean over the two half batches."""
    data = str(one_process / "data")
    mp.spawn(_grads_worker, args=(_free_port(), data, str(tmp_path)), nprocs=2, join=True)
    reference, losses = {}, []
    for half in (0, 1):
        cfg, batch = _half_batch(data, half)
        torch.manual_seed(0)
        model = build_model(cfg)
        loss = training_loss(model, batch, cfg, torch.Generator().manual_seed(1)).total
        loss.backward()
        losses.append(loss.item())
        for name, p in model.named_parameters():
            reference[name] = reference.get(name, 0) + p.grad / 2
    assert any(n.startswith("class_head") for n in reference) and any(n.startswith("proposals") for n in reference)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        assert got["means"]["rank"] == 0.5 and got["means"]["loss"] == pytest.approx(sum(losses) / 2)
        for name, grad in reference.items():
            torch.testing.assert_close(got["grads"][name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_one_process_is_not_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info, device = init_distributed(torch.device("cpu"))
    assert info == DistInfo() and info.is_main and not info.enabled and device.type == "cpu"
    model = torch.nn.Linear(2, 2)
    assert wrap_model(model, info, device) is model
    assert mean_over_processes({"a": 1.5}, info, device) == {"a": 1.5}
