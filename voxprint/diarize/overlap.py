"""Overlapped-speech detection: where two or more voices are heard at once (a stage of diarization).

One speaker per frame cannot cover the second voice of an overlap: on the benchmark's conversations
that was most of the missed speech. This small convolutional detector gives each 10-ms frame the
probability that two or more people speak in it; diarization (pipeline.turns_of) then adds a second
speaker to frames it is sure of.

The shipped weights (overlap.onnx, 0.4 MB, 96k parameters, loaded by onnxruntime: no code runs on
load) were trained by `python -m benchmarks.overlap --train` on synthetic mixtures of libri-dev *train*
speakers and half of ocean-train's (children and non-native adults), in simulated rooms and channels
(benchmarks/synth.py; clean and four noises, never running_tap), chosen on speakers held apart;
overlap.json beside them records the command, the data, the settings and how often it hears two voices
in one on recordings it never trained on (trained on LibriSpeech alone it did so in 10-12 % of other
recordings' speech). The features are computed here, in numpy, for training and inference alike.
Measured on test speakers' conversations: docs/results/diarize.md.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
WEIGHTS = HERE / "overlap.onnx"
SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WIN = 400  # 25 ms
N_FFT = 512
N_MELS = 64
BLOCK_FRAMES = 6000  # 60 s per call: memory stays one block, whatever the recording's length
CONTEXT = 100  # frames of context on each side of a block (the net hears about +-0.65 s)


@cache
def _mel_fb() -> np.ndarray:
    from ..melspec import mel_filters

    return mel_filters(SAMPLE_RATE, N_FFT, N_MELS, 20.0, 7600.0)


@cache
def _window() -> np.ndarray:
    from ..melspec import centered_hann

    return centered_hann(WIN, N_FFT)


def features(y: np.ndarray) -> np.ndarray:
    """Log-mel [N_MELS, T // HOP] float32 of clip `y` [T] at 16 kHz: frame i is centred on the middle
    of the i-th 10-ms step; levels are relative to the clip's mean (a louder recording gives the
    same features)."""
    n = len(y) // HOP
    if n == 0:
        return np.zeros((N_MELS, 0), np.float32)
    pad = (N_FFT - HOP) // 2
    x = np.pad(np.asarray(y, np.float32), (pad, N_FFT))
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n]
    spec = np.fft.rfft(frames * _window(), axis=-1)
    power = spec.real**2 + spec.imag**2  # [n, F]
    logmel = np.log10(power @ _mel_fb().T + 1e-8).T  # [N_MELS, n]
    return (logmel - logmel.mean()).astype(np.float32)


@cache
def _session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def available(path: Path = WEIGHTS) -> bool:
    return Path(path).exists()


def probabilities(y: np.ndarray, sample_rate: int, path: Path = WEIGHTS) -> np.ndarray:
    """[T // (sample_rate / 100)] probability that a 10-ms frame of `y` holds two or more voices,
    computed BLOCK_FRAMES at a time with CONTEXT frames either side (level normalised per block)."""
    if sample_rate != SAMPLE_RATE:
        import soxr

        y = soxr.resample(y, sample_rate, SAMPLE_RATE)
    sess = _session(str(path))
    n = len(y) // HOP
    out = np.zeros(n, np.float32)
    for a in range(0, n, BLOCK_FRAMES):
        lo, hi = max(a - CONTEXT, 0), min(a + BLOCK_FRAMES + CONTEXT, n)
        f = features(y[lo * HOP : hi * HOP])
        logits = sess.run(None, {"logmel": f[None]})[0][0]
        out[a : min(a + BLOCK_FRAMES, n)] = 1 / (1 + np.exp(-logits[a - lo : a - lo + BLOCK_FRAMES]))
    return out


def per_frame(probs: np.ndarray, frame_s: float, n_frames: int) -> np.ndarray:
    """10-ms probabilities -> their mean over each diarization frame of `frame_s` -> [n_frames]."""
    k = max(round(frame_s / (HOP / SAMPLE_RATE)), 1)
    m = min(len(probs) // k, n_frames)
    out = np.zeros(n_frames, np.float32)
    out[:m] = probs[: m * k].reshape(m, k).mean(axis=1)
    return out


def provenance() -> dict:
    p = WEIGHTS.with_suffix(".json")
    return json.loads(p.read_text()) if p.exists() else {}
