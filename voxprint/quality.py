"""Quality of a clip as a speaker-recognition input: how much speech it holds and how clean it is.

    q = measure(y, sr, vad_cfg)     # Quality(speech_s, snr_db)
    q.as_sums()                      # {"speech_s": .., "snr_db": .., "clips": 1}: additive, for a profile

The SNR estimate needs no clean reference: frame powers (20 ms) of the clip, the quietest tenth taken
as the noise floor, the louder half as speech plus noise; SNR = (speech+noise - noise) / noise in dB.
It reads the speech's own loudness against the floor the noise sets, so it rises and falls with
the true SNR of noise mixed into speech (benchmarks/openset.py measures how closely on libri-dev).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_S = 0.02
SNR_FLOOR_DB, SNR_CEIL_DB = -10.0, 60.0


@dataclass
class Quality:
    speech_s: float  # seconds of speech the VAD found
    snr_db: float  # estimated SNR of the speech, dB (clipped to [-10, 60])

    def as_sums(self) -> dict:
        """Additive sums for a profile's quality column (store.enroll adds them key-wise)."""
        return {"speech_s": float(self.speech_s), "snr_db": float(self.snr_db), "clips": 1}


def frame_powers(y: np.ndarray, sr: int, frame_s: float = FRAME_S) -> np.ndarray:
    """Mean square of consecutive frames of y [T] -> [F] (at least one frame)."""
    n = max(1, int(round(frame_s * sr)))
    f = len(y) // n
    if f == 0:
        return np.array([float(np.mean(np.square(y, dtype=np.float64))) if len(y) else 0.0])
    return np.mean(np.square(y[: f * n].astype(np.float64).reshape(f, n)), axis=1)


def snr_db(y: np.ndarray, sr: int) -> float:
    """Estimated SNR in dB of the speech in y [T]: loud half of the frames against the quietest tenth."""
    e = np.sort(frame_powers(y, sr))
    k = max(1, len(e) // 10)
    noise = float(np.mean(e[:k]))
    loud = float(np.mean(e[len(e) // 2 :]))
    if loud <= 0:
        return SNR_FLOOR_DB
    if noise <= loud * 10 ** (-SNR_CEIL_DB / 10):  # digital silence between words: as clean as it gets
        return SNR_CEIL_DB
    return float(np.clip(10 * np.log10(max(loud - noise, 1e-12) / noise), SNR_FLOOR_DB, SNR_CEIL_DB))


def speech_seconds(y: np.ndarray, sr: int, vad_cfg=None) -> float:
    """Seconds of y [T] that the VAD (the model folder's settings) calls speech."""
    from . import vad

    return float(vad.detect(y, sr, vad_cfg).seconds)


def measure(y: np.ndarray, sr: int, vad_cfg=None) -> Quality:
    return Quality(speech_seconds(y, sr, vad_cfg), snr_db(y, sr))
