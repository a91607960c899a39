import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from seqattnet.benchmark import (PAPER_STAGE, WORKER, Setting, flops_per_video, format_report,
                                 grouped_conv_backward_flop, run_one)
from seqattnet.cli import main
from seqattnet.model import SeqAttNet

TINY_MODEL = ["model.temporal_scale=16", "model.max_duration=16", "model.feature_dim=8", "model.num_classes=3",
              "model.base_channels=8", "model.bm_channels=8", "model.map_channels=8", "model.num_samples=8",
              "model.map_conv=separable"]
TINY = Setting("activitynet", TINY_MODEL, ["model.num_samples=16", "model.map_conv=full"], batch_size=2, repeats=1)


def test_run_one_reports_time_memory_and_flops_for_every_path():
    for path in ("fast", "against", "reference"):
        for mode in ("infer", "train"):
            row = run_one(TINY, path, mode, torch.device("cpu"))
            assert row["ms_per_video"] > 0 and row["peak_mem_mb"] > 0 and row["flops_per_video"] > 0
            assert row["cpu_ms_per_video"] > 0 and row["params"] == sum(
                p.numel() for p in SeqAttNet(TINY.config_of(path).model).parameters())


def test_the_worker_code_runs_one_measurement_and_prints_it(capsys):
    exec(WORKER.format("fast", "infer", "cpu", json.dumps(TINY.__dict__)), {})  # what `measure` runs with -c
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["ms_per_video"] > 0 and row["flops_per_video"] > 0


def test_each_path_measures_its_own_config():
    assert TINY.config_of("fast").model.map_conv == "separable" and TINY.config_of("fast").model.num_samples == 8
    against = TINY.config_of("against").model
    assert (against.map_conv, against.num_samples, against.temporal_scale) == ("full", 16, 16)
    assert TINY.config_of("reference").model.bm_impl == "reference"
    assert Setting().config_of("against").model.num_samples == 32 and "model.map_conv=full" in PAPER_STAGE


def test_fast_path_needs_fewer_flops_and_training_costs_more_than_inference():
    fast, ref = flops_per_video(TINY, "fast", "infer"), flops_per_video(TINY, "reference", "infer")
    assert fast < ref
    assert flops_per_video(TINY, "fast", "train") > fast
    assert flops_per_video(TINY, "fast", "infer") < flops_per_video(TINY, "against", "infer")


@pytest.mark.parametrize("groups", [1, 4, 16])
def test_a_grouped_convolution_backward_counts_its_own_multiplications(groups):
    """Forward: C_out x (C_in / g) x 9 per output cell; the two gradients cost the same again each."""
    x = torch.randn(2, 16, 10, 12, requires_grad=True)
    w = torch.randn(16, 16 // groups, 3, 3, requires_grad=True)
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop})
    with counter:
        torch.nn.functional.conv2d(x, w, groups=groups).sum().backward()
    forward = 2 * 2 * 8 * 10 * 16 * (16 // groups) * 9
    assert counter.get_total_flops() == 3 * forward


def test_format_report_shows_the_three_paths_and_ratios():
    block = {"infer_ms_per_video": 4.0, "train_ms_per_video": 10.0, "infer_cpu_ms_per_video": 7.0,
             "train_cpu_ms_per_video": 20.0, "peak_mem_mb": 200.0, "batch_size": 2,
             "flops_per_video_infer": 3e9, "flops_per_video_train": 9e9, "params": 20}
    r = {"device": "cpu", "setting": {**TINY.__dict__, "temporal_scale": 16, "feature_dim": 8, "num_classes": 3},
         "infer_ms_per_video": 1.0, "train_ms_per_video": 2.0, "infer_cpu_ms_per_video": 2.0,
         "train_cpu_ms_per_video": 4.0, "peak_mem_mb": 100.0, "batch_size": 2,
         "flops_per_video_infer": 1e9, "flops_per_video_train": 3e9, "params": 10, "videos_per_s_infer": 1000.0,
         "against": block, "reference": {**block, "infer_ms_per_video": 10.0}}
    text = format_report(r)
    assert "4.00x" in text and "5.00x" in text and "10.00x" in text and "1000.0 videos/s" in text
    assert "model.map_conv=full" in text and "model.map_conv=separable" in text


def test_bench_refuses_a_bad_override_before_measuring(capsys):
    assert main(["bench", "--config", "demo", "--against", "model.map_conv=winograd"]) == 2
    err = capsys.readouterr().err
    assert "model.map_conv" in err and "Traceback" not in err
