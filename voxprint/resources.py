"""What a model costs: parameters, file sizes, latency, throughput, training-step memory.

Latency and throughput have the same boundaries - features + model, one thread - so they can be
compared: latency is batch 1 on a one-window clip (median of `runs` timed calls after a warm-up),
throughput is clips per second at batch 64. Both for PyTorch and onnxruntime.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from . import rundir

RESOURCE_COLUMNS = ["model", "feature", "run", "params", "size_bytes", "onnx_size_bytes", "latency_ms_b1",
                    "latency_ms_b1_onnx", "throughput_clips_s_b64", "train_seconds", "train_step_rss_mb"]


def median_ms(fn, runs: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def round_robin_ms(calls: list, runs: int, warmup: int = 10) -> list[float]:
    """Median ms of each call, timed one call of each in turn, so that a shared machine's changing load
    hits every system alike (timed one after the other, a busy minute would favour whoever ran first)."""
    for call in calls:
        for _ in range(warmup):
            call()
    times = [[median_ms(call, 1, 0) for call in calls] for _ in range(runs)]
    return [float(np.median(col)) for col in zip(*times)]


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_step_rss_mb(net, features, window: int, batch: int = 64) -> float:
    """Growth of resident memory during one training step (forward + backward) of `batch` random
    windows. Linux only: resets the high-water mark through /proc/self/clear_refs."""
    import ctypes
    import gc

    gc.collect()
    try:
        # Hand freed heap back to the OS first; otherwise the step reuses it and the
        # high-water mark does not move.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return float("nan")
    net = copy.deepcopy(net)  # a training step moves batch-norm statistics: never the caller's model's
    before = _rss_mb("VmRSS")
    net.train()
    emb = net.embed(features(torch.randn(batch, window) * 0.1))
    emb.square().mean().backward()  # any loss: the graph and gradients are what cost memory
    return max(0.0, _rss_mb("VmHWM") - before)


def _onnx_model(path: Path):
    from .export import onnx_session

    session = onnx_session(path)
    return lambda x: session.run(None, {"features": x})


def measure(net, features, window: int, model_dir: Path, runs: int = 100) -> dict:
    """Resources of the model in `model_dir`, given its net and feature extractor as the caller
    holds them; exports model.onnx there if it is missing. -> the RESOURCE_COLUMNS figures
    (the caller adds model, feature, run and train_seconds)."""
    from .export import export_onnx

    onnx_path = model_dir / rundir.ONNX
    if not onnx_path.exists():
        export_onnx(net, features.dim, features.num_frames(window), onnx_path)
    ort_run = _onnx_model(onnx_path)
    rng = np.random.default_rng(0)
    wave = torch.from_numpy((rng.standard_normal(window) * 0.1).astype(np.float32))
    batch = torch.from_numpy((rng.standard_normal((64, window)) * 0.1).astype(np.float32))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            lat = median_ms(lambda: net(features(wave[None])), runs)
            lat_onnx = median_ms(lambda: ort_run(features(wave[None]).numpy()), runs)
            t64 = median_ms(lambda: net(features(batch)), max(5, runs // 10), warmup=2)
    finally:
        torch.set_num_threads(threads)
    return {
        "params": sum(p.numel() for p in net.parameters()),
        "size_bytes": (model_dir / rundir.WEIGHTS).stat().st_size, "onnx_size_bytes": onnx_path.stat().st_size,
        "latency_ms_b1": round(lat, 4), "latency_ms_b1_onnx": round(lat_onnx, 4),
        "throughput_clips_s_b64": round(64 / (t64 / 1e3), 1),
        "train_step_rss_mb": round(train_step_rss_mb(net, features, window), 1),
    }
