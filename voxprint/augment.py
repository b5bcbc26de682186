"""Background noise: a bank of noise sources and mixing at an exact SNR.

SNR is computed from RMS power over the whole clip (not peak ratios):
    snr_db = 10 * log10(P_speech / P_noise_scaled)
Training draws from the leading `train_fraction` of every noise recording and robustness
evaluation from the rest, so the two never share noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio
from .errors import AudioError, ConfigError

log = logging.getLogger(__name__)

POWER_FLOOR = 1e-20  # only guards division by zero; far below any real clip's power
SYNTHETIC = ("white", "pink")


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, reference: np.ndarray | None = None) -> np.ndarray:
    """speech + g * noise with g chosen so that the realised SNR is exactly `snr_db`, the signal
    power taken from `reference` (the clip's speech, when the clip also holds silence) or else
    from the whole clip."""
    ps, pn = power(speech if reference is None else reference), power(noise)
    gain = np.sqrt(ps / (max(pn, POWER_FLOOR) * 10.0 ** (snr_db / 10.0)))
    return (speech + gain * noise).astype(np.float32)


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f power spectrum: white noise shaped by 1/sqrt(f) in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / np.sqrt(f), n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


@dataclass
class NoiseSource:
    name: str  # "white", "pink", or a label for a folder/file
    kind: str  # "synthetic" | "recorded"
    segments: list[tuple[str, np.ndarray]]  # (file, samples of the allowed time range)
    ranges: list[dict]  # what was used: file and seconds, for the run folder

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "synthetic":
            return white_noise(n, rng) if self.name == "white" else pink_noise(n, rng)
        _, seg = self.segments[int(rng.integers(len(self.segments)))]
        if len(seg) <= n:
            return audio.wrap_pad(seg, n)
        start = int(rng.integers(len(seg) - n + 1))
        return seg[start : start + n]


def _noise_files(p: Path) -> list[Path]:
    if p.is_file():
        return [p]
    return sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in audio.AUDIO_EXTENSIONS)


def resolve(entry: str, dataset_noise: Path | None) -> Path | None:
    """A noise entry as a path: absolute, relative to the working dir, or to the data home."""
    from .dirs import data_home

    if entry == "auto":
        if dataset_noise is not None:
            return dataset_noise
        p = data_home() / "noise"
        return p if p.is_dir() else None
    p = Path(entry).expanduser()
    if p.exists():
        return p
    q = data_home() / entry
    return q if q.exists() else p


def build_sources(
    entries: list[str],
    sample_rate: int,
    part: str,
    train_fraction: float,
    dataset_noise: Path | None = None,
) -> list[NoiseSource]:
    """Noise sources for `part` = "train" (leading fraction of each file) or "eval" (the rest)."""
    if part not in ("train", "eval"):
        raise ValueError(part)
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"augment.train_fraction must be in (0, 1), got {train_fraction}")
    sources = []
    for entry in entries:
        if entry in SYNTHETIC:
            sources.append(NoiseSource(entry, "synthetic", [], [{"source": entry, "kind": "synthetic"}]))
            continue
        path = resolve(entry, dataset_noise)
        if path is None or not path.exists():
            if entry != "auto":
                log.warning(f"noise: {entry}: not found; skipped")
            continue
        segments, ranges = [], []
        for f in _noise_files(path):
            try:
                y, _ = audio.load(f, sample_rate)
            except AudioError as e:
                log.warning(f"noise: skip {e}")
                continue
            cut = int(len(y) * train_fraction)
            seg = y[:cut] if part == "train" else y[cut:]
            segments.append((str(f), seg))
            lo, hi = (0, cut) if part == "train" else (cut, len(y))
            ranges.append({"file": str(f), "start_s": round(lo / sample_rate, 3), "end_s": round(hi / sample_rate, 3)})
        if segments:
            name = path.stem if path.is_file() else ("dataset-noise" if entry == "auto" else path.name)
            sources.append(NoiseSource(name, "recorded", segments, ranges))
    return sources


class Augmenter:
    """Training-only noise: with probability `prob`, mix a random source at an SNR drawn
    uniformly from `snr_db`. Stateless apart from the caller's RNG, so every epoch
    draws fresh noise."""

    def __init__(self, sources: list[NoiseSource], prob: float, snr_db: list[float]):
        if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
            raise ConfigError(f"augment.snr_db must be [low, high], got {snr_db}")
        self.sources, self.prob, self.snr_db = sources, prob, snr_db

    def __call__(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.sources or rng.random() >= self.prob:
            return y
        return self.mix(y, rng)

    def mix(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """`y` with one source mixed in at an SNR from `snr_db`, always (no `prob` draw)."""
        if not self.sources:
            return y
        src = self.sources[int(rng.integers(len(self.sources)))]
        snr = rng.uniform(*self.snr_db)
        return mix_at_snr(y, src.sample(len(y), rng), snr)
