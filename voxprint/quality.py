"""Quality of a clip as a speaker-recognition input: how much speech it holds and how clean it is.

    q = measure(y, sr, vad_cfg)     # Quality(speech_s, snr_db)
    q.as_sums()                      # {"speech_s": .., "snr_db": .., "clips": 1}: additive, for a profile
    require_speech(q, min_s, path)   # q, or NoSpeechError (an AudioError): no voice to score

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
POWER_BLOCK = 8192  # frames per block of frame_powers (21 MB of float64 at 16 kHz)


@dataclass
class Quality:
    speech_s: float  # seconds of speech the VAD found
    snr_db: float  # estimated SNR of the speech, dB (clipped to [-10, 60])

    def as_sums(self) -> dict:
        """Additive sums for a profile's quality column (store.enroll adds them key-wise)."""
        return {"speech_s": float(self.speech_s), "snr_db": float(self.snr_db), "clips": 1}


def frame_powers(y: np.ndarray, sr: int, frame_s: float = FRAME_S) -> np.ndarray:
    """Mean square of consecutive frames of y [T] -> [F] (at least one frame), a block of frames at a time:
    a 60-minute recording in float64 at once would take 460 MB."""
    n = max(1, int(round(frame_s * sr)))
    f = len(y) // n
    if f == 0:
        return np.array([float(np.mean(np.square(y, dtype=np.float64))) if len(y) else 0.0])
    out = np.empty(f)
    for a in range(0, f, POWER_BLOCK):
        b = min(a + POWER_BLOCK, f)
        out[a:b] = np.mean(np.square(y[a * n : b * n].astype(np.float64).reshape(b - a, n)), axis=1)
    return out


def snr_of(powers: np.ndarray, voice: np.ndarray) -> float:
    """SNR in dB of a voice's frame powers `voice` [V] (their louder half) against the noise floor of the
    recording's frame powers `powers` [F] (their quietest tenth)."""
    e = np.sort(powers)
    noise = float(np.mean(e[: max(1, len(e) // 10)]))
    v = np.sort(voice)
    loud = float(np.mean(v[len(v) // 2 :]))
    if loud <= 0:
        return SNR_FLOOR_DB
    if noise <= loud * 10 ** (-SNR_CEIL_DB / 10):  # digital silence between words: as clean as it gets
        return SNR_CEIL_DB
    return float(np.clip(10 * np.log10(max(loud - noise, 1e-12) / noise), SNR_FLOOR_DB, SNR_CEIL_DB))


def snr_db(y: np.ndarray, sr: int) -> float:
    """Estimated SNR in dB of the speech in y [T]: loud half of the frames against the quietest tenth."""
    e = frame_powers(y, sr)
    return snr_of(e, e)


def speech_seconds(y: np.ndarray, sr: int, vad_cfg=None) -> float:
    """Seconds of y [T] that the VAD (the model folder's settings) calls speech."""
    from . import vad

    return float(vad.detect(y, sr, vad_cfg).seconds)


def measure(y: np.ndarray, sr: int, vad_cfg=None) -> Quality:
    return Quality(speech_seconds(y, sr, vad_cfg), snr_db(y, sr))


def require_speech(q: Quality, min_s: float, path) -> Quality:
    """q, or NoSpeechError naming `path` when the VAD found less than `min_s` seconds of speech. A clip with
    no voice has no speaker to name; scored anyway, it lies outside everything the calibration saw (a clip of
    white noise was answered `unknown` with an LLR of +3.8, as if it favoured a match)."""
    from .vad.regions import NoSpeechError

    if q.speech_s < min_s:
        found = "no speech found" if q.speech_s <= 0 else f"only {q.speech_s:.2f} s of speech"
        raise NoSpeechError(path, f"{found} by the voice activity detector (needs {min_s:g} s); no voice to score")
    return q
