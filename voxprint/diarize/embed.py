"""Speech regions -> windows -> speaker embeddings with a Recognizer's own features and model (stages
1-2), and the overlap detector's frame probabilities beside them."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import vad
from ..clip_scoring import window_features
from ..vectors import unit
from .config import DiarizeConfig
from .windows import cut, window_starts

VAD_BLOCK_S = 300.0  # speech is found 5 minutes at a time: the detector's memory grows with its input


def speech_regions(rec, y: np.ndarray) -> np.ndarray:
    """[R, 2] speech sample ranges of `y` by the Recognizer's own voice activity settings, found block
    by block (VAD_BLOCK_S; a 60-minute file at once took 1.3 GB in the detector) and joined where a
    region runs across a block edge. Only what the detector hears as a voice: a block of noise, music or
    a quiet room adds no region. (It used to fall back to the block's audible part, as `predict` does
    with a file it must answer; ten seconds of white noise then came out as a turn of speaker-1.)"""
    from ..vad.regions import merge

    sr, cfg = rec.sample_rate, rec.cfg.vad
    block = round(VAD_BLOCK_S * sr)
    starts = list(range(0, len(y), block))
    if len(starts) > 1 and len(y) - starts[-1] < sr:  # a last sliver joins the block before it
        starts.pop()
    parts = []
    for i, a in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(y)
        parts.append(vad.detect(y[a:end], sr, cfg).regions + a)
    return merge(np.concatenate(parts), round(cfg.min_silence_ms * sr / 1000))


@dataclass
class Windows:
    """A recording's speech regions [R, 2], window starts [W] (samples) and embeddings [W, E], and the
    overlap detector's probability per 10-ms frame (None: not run)."""

    regions: np.ndarray
    starts: np.ndarray
    emb: np.ndarray
    n_samples: int
    overlap: np.ndarray | None = None


def embed_recording(rec, y: np.ndarray, cfg: DiarizeConfig, progress=None, on_windows=None,
                    name: str = "<clip>") -> Windows:
    """Stages 1-2: speech regions of `y` [T], windows inside them, one embedding per window; and where
    two voices overlap (overlap_of). Less speech than vad.min_speech_seconds raises NoSpeechError naming
    `name` before anything is embedded: nobody spoke, and noise is nobody's turn."""
    window, hop = (round(s * rec.sample_rate) for s in (cfg.window_s, cfg.hop_s))
    regions = speech_regions(rec, y)
    vad.Speech(regions, len(y), rec.sample_rate).require(rec.cfg.vad.min_speech_seconds, name)
    starts = window_starts(regions, len(y), window, hop)
    if on_windows is not None:
        on_windows(len(starts))
    emb = embed_windows(rec, y, starts, window, cfg.batch, progress, cfg.workers)
    return Windows(regions, starts, emb, len(y), overlap_of(y, rec.sample_rate, cfg))


def overlap_of(y: np.ndarray, sample_rate: int, cfg: DiarizeConfig) -> np.ndarray | None:
    """The overlap detector's probability per 10-ms frame of `y`, or None when it is switched off
    (overlap_threshold 1) or its weights are missing."""
    from . import overlap

    if cfg.overlap_threshold >= 1 or not overlap.available():
        return None
    return overlap.probabilities(y, sample_rate)


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
