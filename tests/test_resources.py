"""resources.measure: the figures of a real (small) model folder, from the objects the caller holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxprint import config as C
from voxprint import resources as R
from voxprint import rundir
from voxprint.features import build_feature
from voxprint.io import atomic_save_torch
from voxprint.models import build_net


@pytest.fixture
def model_folder(tmp_path):
    cfg = C.load(None)
    cfg.model.name, cfg.features.name = "cnn", "mel"
    features = build_feature(cfg.features, 8000)
    net = build_net(cfg.model, features.dim, 4).eval()
    atomic_save_torch(net.state_dict(), tmp_path / rundir.WEIGHTS)
    return net, features, tmp_path


def test_measure_reports_every_column_with_plausible_values(model_folder):
    net, features, d = model_folder
    threads = torch.get_num_threads()
    out = R.measure(net, features, 8000, d, runs=5)
    assert torch.get_num_threads() == threads  # one thread while timing, then the caller's again
    assert set(out) | {"model", "feature", "run", "train_seconds"} == set(R.RESOURCE_COLUMNS)
    assert out["params"] == sum(p.numel() for p in net.parameters()) > 0
    assert out["size_bytes"] == (d / rundir.WEIGHTS).stat().st_size
    assert (d / rundir.ONNX).is_file() and out["onnx_size_bytes"] == (d / rundir.ONNX).stat().st_size
    for k in ("latency_ms_b1", "latency_ms_b1_onnx"):
        assert 0 < out[k] < 5_000, k
    assert out["throughput_clips_s_b64"] > 0
    assert out["train_step_rss_mb"] >= 0 or np.isnan(out["train_step_rss_mb"])


def test_median_ms_is_the_median_of_the_timed_calls(monkeypatch):
    ticks = iter([0.0, 0.001, 1.0, 1.003, 2.0, 2.002])  # three timed calls: 1, 3 and 2 ms
    monkeypatch.setattr(R.time, "perf_counter", lambda: next(ticks))
    calls = []
    assert R.median_ms(lambda: calls.append(1), runs=3, warmup=2) == pytest.approx(2.0)
    assert len(calls) == 5  # warm-up calls are not timed


def test_an_existing_onnx_export_is_used_not_rewritten(model_folder):
    net, features, d = model_folder
    R.measure(net, features, 8000, d, runs=2)
    stamp = (d / rundir.ONNX).stat().st_mtime_ns
    R.measure(net, features, 8000, d, runs=2)
    assert (d / rundir.ONNX).stat().st_mtime_ns == stamp


def test_throughput_is_64_clips_over_the_timed_batch(model_folder, monkeypatch):
    net, features, d = model_folder
    timed = iter([0.5, 0.25, 8.0])  # ms: torch batch 1, onnx batch 1, batch of 64
    monkeypatch.setattr(R, "median_ms", lambda fn, runs, warmup=10: (fn(), next(timed))[1])
    out = R.measure(net, features, 8000, d, runs=3)
    assert (out["latency_ms_b1"], out["latency_ms_b1_onnx"]) == (0.5, 0.25)
    assert out["throughput_clips_s_b64"] == 8000.0  # 64 clips in 8 ms


def test_measuring_leaves_the_callers_model_as_it_was(model_folder):
    net, features, d = model_folder
    before = {k: v.clone() for k, v in net.state_dict().items()}
    R.measure(net, features, 8000, d, runs=2)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics included
    assert not net.training


def test_round_robin_times_the_systems_in_turn():
    order = []
    out = R.round_robin_ms([lambda: order.append("a"), lambda: order.append("b")], runs=3, warmup=2)
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3  # warm-ups first, then one call of each in turn
    assert len(out) == 2 and all(v >= 0 for v in out)
