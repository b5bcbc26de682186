"""Windows -> speaker embeddings with a Recognizer's own features and model (stage 2)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..evaluate import window_features
from .windows import cut


def embed_windows(rec, y: np.ndarray, starts: np.ndarray, window: int, batch: int = 64,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """L2-normalised embeddings [W, E] float32 of the windows of `y` starting at `starts`, `batch`
    windows at a time (only one batch of windows and features is in memory), each embedded once by
    the very feature extractor and model that `Recognizer.score_waves` uses."""
    out = []
    for i in range(0, len(starts), batch):
        wins = cut(y, starts[i : i + batch], window)
        _, emb = rec.model(window_features(rec.features, wins, batch))
        out.append(np.asarray(emb, dtype=np.float32))
        if progress is not None:
            progress(len(wins))
    if not out:
        return np.zeros((0, rec.net.embed_dim), np.float32)
    emb = np.concatenate(out)
    return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)
