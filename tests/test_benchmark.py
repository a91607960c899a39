import json

import torch

from seqattnet.benchmark import WORKER, Setting, flops_per_video, format_report, run_one

TINY = Setting(temporal_scale=16, feature_dim=8, num_classes=3, batch_size=2, repeats=1)


def test_run_one_reports_time_memory_and_flops_for_both_paths():
    for path in ("fast", "reference"):
        for mode in ("infer", "train"):
            row = run_one(TINY, path, mode, torch.device("cpu"))
            assert row["ms_per_video"] > 0 and row["peak_mem_mb"] > 0 and row["flops_per_video"] > 0


def test_the_worker_code_runs_one_measurement_and_prints_it(capsys):
    exec(WORKER.format("fast", "infer", "cpu", json.dumps(TINY.__dict__)), {})  # what `measure` runs with -c
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["ms_per_video"] > 0 and row["flops_per_video"] > 0


def test_fast_path_needs_fewer_flops_and_training_costs_more_than_inference():
    fast, ref = flops_per_video(TINY, "fast", "infer"), flops_per_video(TINY, "reference", "infer")
    assert fast < ref
    assert flops_per_video(TINY, "fast", "train") > fast


def test_format_report_shows_ratios():
    r = {"device": "cpu", "setting": TINY.__dict__, "params": 10, "infer_ms_per_video": 1.0, "train_ms_per_video": 2.0,
         "speedup_infer": 10.0, "speedup_train": 5.0, "peak_mem_mb": 100.0, "videos_per_s_infer": 1000.0,
         "flops_per_video_infer": 1e9, "flops_per_video_train": 3e9,
         "reference": {"infer_ms_per_video": 10.0, "train_ms_per_video": 10.0, "peak_mem_mb": 500.0, "batch_size": 2,
                       "flops_per_video_infer": 2e9, "flops_per_video_train": 6e9}}
    text = format_report(r)
    assert "10.0x" in text and "5.0x" in text and "1000.0 videos/s" in text
