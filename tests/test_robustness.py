"""robustness_table, the one accuracy-versus-SNR table (`voxprint run`'s robustness.csv and `voxprint
evaluate`'s evaluate.csv): a two-tone classifier on synthetic clips, under white noise."""

from __future__ import annotations

import numpy as np
import torch

from voxprint.augment import NoiseSource
from voxprint.robustness import COLUMNS, robustness_table

SR, WINDOW = 100, 200  # 2-s windows of 100 samples a second


class Frames(torch.nn.Module):
    """[W, n] -> [W, 1, n]: the samples themselves as the feature."""

    sample_rate = SR

    def forward(self, x):
        return x[:, None, :]


def tone_model(feats: np.ndarray):
    """Logits: the power near 5 Hz (speaker 0) and near 20 Hz (speaker 1) of each window."""
    spec = np.abs(np.fft.rfft(feats[:, 0, :], axis=1)) ** 2  # bin k is k / 2 Hz
    logits = np.log(np.stack([spec[:, 8:13].sum(1), spec[:, 38:43].sum(1)], axis=1) + 1e-9)
    return logits, np.ones((len(feats), 2))


def clips(n: int = 12) -> tuple[list[np.ndarray], np.ndarray]:
    t = np.arange(WINDOW) / SR
    y = np.arange(n) % 2
    return [np.sin(2 * np.pi * (5.0 if k == 0 else 20.0) * t + i).astype(np.float32) for i, k in enumerate(y)], y


def table(clean: dict, snrs: list[float], seed: int = 1234) -> list[dict]:
    waves, y = clips()
    white = NoiseSource("white", "synthetic", [], [])
    return robustness_table(clean, tone_model, Frames(), waves, y, WINDOW, [white], snrs, ["a", "b"], seed=seed)


def test_clean_row_first_then_one_row_per_noise_and_snr():
    rows = table({"accuracy": 0.123456, "macro_f1": 0.5}, [40.0, -25.0])
    assert [list(r) for r in rows] == [COLUMNS] * 3
    assert rows[0] == {"noise": "none", "snr_db": float("inf"), "accuracy": 0.1235, "macro_f1": 0.5}
    assert [(r["noise"], r["snr_db"]) for r in rows[1:]] == [("white", 40.0), ("white", -25.0)]
    # the tones are apart at 40 dB; at -25 dB the white noise drowns them
    assert rows[1]["accuracy"] == 1.0
    assert rows[2]["accuracy"] < 0.9


def test_the_same_seed_draws_the_same_noise():
    clean = {"accuracy": 1.0, "macro_f1": 1.0}
    assert table(clean, [-20.0]) == table(clean, [-20.0])
