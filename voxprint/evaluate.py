"""Old home of clip scoring, metrics and robustness, kept so that `from voxprint.evaluate import ...`
still works. New code imports from the modules themselves: `clip_scoring` (clips -> scores),
`metrics` (classification metrics and their files) and `robustness` (accuracy versus SNR)."""

from __future__ import annotations

from .clip_scoring import (
                           BATCH_WINDOWS,
                           Model,
                           NoClips,
                           answered,
                           clean_features,
                           clip_windows,
                           listened,
                           score_clips,
                           score_features,
                           torch_model,
                           window_features,
)
from .metrics import classification_metrics, nll, write_confusion, write_metrics
from .robustness import ROBUSTNESS_SEED, noise_draws, noisy_copies, robustness, robustness_table, snr_references

__all__ = ["BATCH_WINDOWS", "ROBUSTNESS_SEED", "Model", "NoClips", "answered", "classification_metrics",
           "clean_features", "clip_windows", "listened", "nll", "noise_draws", "noisy_copies", "robustness",
           "robustness_table", "score_clips", "score_features", "snr_references", "torch_model", "window_features",
           "write_confusion", "write_metrics"]
