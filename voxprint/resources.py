"""What a model costs: parameters, file sizes, latency, throughput, memory.

Latency is batch 1, one thread, features + model, on a 1-window clip: the median of
`runs` timed calls after a warm-up, for PyTorch and for onnxruntime.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

RESOURCE_COLUMNS = ["model", "feature", "run", "params", "size_bytes", "onnx_size_bytes", "latency_ms_b1",
                    "latency_ms_b1_onnx", "throughput_clips_s", "train_seconds", "peak_mem_mb"]


def median_ms(fn, runs: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_step_memory_mb(rec, batch: int = 64) -> float:
    """Peak resident memory added by one training step (forward + backward) of `batch`
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
    before = _rss_mb("VmRSS")
    net = rec.net.train()
    x = rec.features(torch.randn(batch, rec.window) * 0.1)
    logits, _ = net(x)
    torch.nn.functional.cross_entropy(logits, torch.zeros(batch, dtype=torch.long)).backward()
    net.zero_grad(set_to_none=True)
    net.eval()
    return max(0.0, _rss_mb("VmHWM") - before)


def measure(model_dir: Path, runs: int = 100) -> dict:
    from .export import export_onnx
    from .inference import Recognizer
    from .io import read_json

    rec = Recognizer(model_dir)
    onnx_path = model_dir / "model.onnx"
    if not onnx_path.exists():
        export_onnx(rec, onnx_path)
    ort_rec = Recognizer(model_dir, engine="onnx")
    wave = (np.random.default_rng(0).standard_normal(rec.window) * 0.1).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            lat = median_ms(lambda: rec.run_features(rec.wave_features(wave)), runs)
            lat_onnx = median_ms(lambda: ort_rec.run_features(ort_rec.wave_features(wave)), runs)
    finally:
        torch.set_num_threads(threads)
    batch = np.stack([wave] * 64)
    with torch.no_grad():
        feats = rec.features(torch.from_numpy(batch)).numpy()
        t = median_ms(lambda: rec.run_features(feats), max(5, runs // 10), warmup=2)
    metrics = read_json(model_dir / "metrics.json") if (model_dir / "metrics.json").exists() else {}
    return {
        "model": rec.cfg.model.name, "feature": rec.cfg.features.name, "run": model_dir.name,
        "params": sum(p.numel() for p in rec.net.parameters()),
        "size_bytes": (model_dir / "model.pt").stat().st_size, "onnx_size_bytes": onnx_path.stat().st_size,
        "latency_ms_b1": round(lat, 4), "latency_ms_b1_onnx": round(lat_onnx, 4),
        "throughput_clips_s": round(64 / (t / 1e3), 1), "train_seconds": metrics.get("train_seconds", ""),
        "peak_mem_mb": round(train_step_memory_mb(rec), 1),
    }
