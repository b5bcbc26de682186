"""Robustness: accuracy versus SNR under evaluation noise - fresh draws of synthetic noise, and
recorded noise from the time range of each file that training never used.

`robustness_table` is the one table of it, clean row first: `voxprint run` writes it to each
cell's robustness.csv and `voxprint evaluate` to evaluate.csv.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .augment import NoiseSource, mix_at_snr
from .clip_scoring import Model, score_clips
from .metrics import classification_metrics

ROBUSTNESS_SEED = 1234  # evaluation noise draws: the same for every model, SNR and benchmark
COLUMNS = ["noise", "snr_db", "accuracy", "macro_f1"]


def noise_draws(source: NoiseSource, waves: list[np.ndarray], seed: int, index: int = 0) -> list[np.ndarray]:
    """One fixed noise draw per clip (seeded by seed, source index and clip), the same for every
    model and every SNR, so that curves and tables of different systems differ only by the system."""
    return [source.sample(len(w), np.random.default_rng([seed, index, i])) for i, w in enumerate(waves)]


def snr_references(waves: list[np.ndarray], speech: list | None, window: int,
                   min_seconds: float = 0.0) -> list[np.ndarray]:
    """What each clip's SNR is measured on: what the model hears of it (vad.Speech.heard: its speech
    when it is longer than a window, the whole clip when it fits in one or when less than
    `min_seconds` of speech was found - a test clip is never skipped). Every accuracy-vs-SNR table
    uses this."""
    return [w if sp is None else sp.heard(w, window, min_seconds)
            for w, sp in zip(waves, speech or [None] * len(waves))]


def noisy_copies(waves, noises, snr: float, refs) -> Iterable[np.ndarray]:
    """Each clip with its noise draw mixed in at exactly `snr` dB over its reference (a generator)."""
    return (mix_at_snr(w, z, snr, reference=r) for w, z, r in zip(waves, noises, refs))


def table_row(noise: str, snr_db: float, metrics: dict) -> dict:
    """One row of the table: accuracy and macro-F1 rounded to 4 places."""
    return {"noise": noise, "snr_db": float(snr_db), "accuracy": round(metrics["accuracy"], 4),
            "macro_f1": round(metrics["macro_f1"], 4)}


def robustness(model: Model, features, waves: list[np.ndarray], y: np.ndarray, window: int,
               sources: list[NoiseSource], snrs: list[float], labels: list[str], seed: int = ROBUSTNESS_SEED,
               speech: list | None = None, vad_cfg=None, extra: list[int] | tuple[int, ...] = ()) -> list[dict]:
    """Accuracy at each SNR for each noise source (see `noise_draws`). The SNR is measured on
    each clip's speech (`speech`: its vad.Speech regions; whole clips without), and the model
    finds speech in the noisy clip itself, as it would in use. (A clip that fits in one window is
    heard whole, so its SNR is over the whole clip.)"""
    refs = snr_references(waves, speech, window, vad_cfg.min_speech_seconds if vad_cfg is not None else 0.0)
    rows = []
    for si, src in enumerate(sources):
        noises = noise_draws(src, waves, seed, si)
        for snr in snrs:
            probs, _ = score_clips(model, features, noisy_copies(waves, noises, snr, refs), window, vad_cfg,
                                   extra=extra)
            m = classification_metrics(y, probs.argmax(1), labels)
            rows.append(table_row(src.name, snr, m))
    return rows


def robustness_table(clean: dict, model: Model, features, waves: list[np.ndarray], y: np.ndarray, window: int,
                     sources: list[NoiseSource], snrs: list[float], labels: list[str], seed: int = ROBUSTNESS_SEED,
                     speech: list | None = None, vad_cfg=None,
                     extra: list[int] | tuple[int, ...] = ()) -> list[dict]:
    """The robustness table (`COLUMNS`): the clean row (noise "none", SNR inf, from `clean`, the
    classification metrics of the same clips without noise), then `robustness`'s rows."""
    return [table_row("none", float("inf"), clean)] + robustness(
        model, features, waves, y, window, sources, snrs, labels, seed, speech, vad_cfg, extra)
