"""The baseline of benchmarks/diarize.py: the same speech regions and windows as voxprint, each window
heard as MFCC mean and std instead of a speaker embedding."""

from __future__ import annotations

import numpy as np

from voxprint.diarize import DiarizeConfig
from voxprint.diarize.embed import Windows, speech_regions
from voxprint.diarize.windows import window_starts
from voxprint.vectors import unit


def mfcc_windows(rec, y: np.ndarray, cfg: DiarizeConfig) -> Windows:
    """The baseline: the same regions and windows as voxprint, each heard as MFCC mean and std [W, 40],
    standardised over the recording's windows and L2-normalised."""
    import librosa

    sr = rec.sample_rate
    window, hop = (round(s * sr) for s in (cfg.window_s, cfg.hop_s))
    regions = speech_regions(rec, y)
    starts = window_starts(regions, len(y), window, hop)
    feats = []
    for s in starts:
        m = librosa.feature.mfcc(y=np.resize(y[s : s + window], window), sr=sr, n_mfcc=20, n_fft=400, hop_length=160)
        feats.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    f = np.asarray(feats, np.float64)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-9)
    return Windows(regions, starts, unit(f).astype(np.float32), len(y))
