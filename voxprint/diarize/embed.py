"""Windows -> speaker embeddings with a Recognizer's own features and model (stage 2)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..clip_scoring import window_features
from ..vectors import unit
from .windows import cut


def embed_windows(rec, y: np.ndarray, starts: np.ndarray, window: int, batch: int = 64,
                  progress: Callable[[int], None] | None = None, workers: int = 1) -> np.ndarray:
    """L2-normalised embeddings [W, E] float32 of the windows of `y` starting at `starts`, `batch`
    windows at a time, each embedded once by the very feature extractor and model that
    `Recognizer.score_waves` uses. `workers` batches run at once (the ONNX session and torch's
    features release the GIL, so two threads use two cores); only that many batches are in memory."""

    def one(i: int) -> np.ndarray:
        wins = cut(y, starts[i : i + batch], window)
        _, emb = rec.model(window_features(rec.features, wins, batch))
        if progress is not None:
            progress(len(wins))
        return np.asarray(emb, dtype=np.float32)

    firsts = range(0, len(starts), batch)
    if workers > 1 and len(firsts) > 1:
        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(one, firsts))
    else:
        out = [one(i) for i in firsts]
    if not out:
        return np.zeros((0, rec.embed_dim), np.float32)
    emb = np.concatenate(out)
    return unit(emb)
