"""Speech regions -> the windows that are embedded (stage 1 of diarization)."""

from __future__ import annotations

import numpy as np


def window_starts(regions: np.ndarray, n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples [W] of windows of `window` samples laid inside each speech region [R, 2]: every
    `hop` samples from the region's start, the last one flush with its end (so no speech is left
    unheard). A region shorter than a window gets one window centred on it (clipped to the file),
    so a short turn is still heard; a file shorter than a window gets one window at 0."""
    out: list[np.ndarray] = []
    top = max(n_samples - window, 0)
    for a, b in np.asarray(regions, dtype=np.int64).reshape(-1, 2):
        if b - a <= window:
            out.append(np.array([min(max((a + b - window) // 2, 0), top)]))
            continue
        s = np.arange(a, b - window + 1, hop)
        if s[-1] + window < b:
            s = np.append(s, b - window)
        out.append(s)
    return np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


def cut(y: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Windows [len(starts), window] float32 of clip `y` [T]; a clip shorter than a window is
    wrap-padded (the encoder's rule for short clips: no artificial silence)."""
    if len(y) < window:
        from ..audio import wrap_pad

        y = wrap_pad(y, window)
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(window)[None, :]
    return np.ascontiguousarray(y[idx], dtype=np.float32)
