"""Speech activity: where a clip holds speech, for crops, SNR, windows and enrolment.

    from voxprint import vad
    speech = vad.detect(y, sr, cfg.vad)          # Speech: regions [R, 2] sample ranges at sr
    speech.fraction, speech.mask(), speech.part(y), speech.window_fractions(starts, n)
    speech = vad.file_speech(path, sr, cfg.vad)  # the same for a file, through the region cache
    speech.require(cfg.vad.min_speech_seconds, path)  # NoSpeechError (an AudioError): skip the file
    speech.or_all(cfg.vad.min_speech_seconds)  # a clip that cannot be skipped: its audible part
                                               # (vad.fallback) or the whole clip if none
    speech.span()                               # (start, end) from its first to last audible or voiced sample
    speech.heard(y, window[, min_seconds])      # what a model hears: whole if it (or its span) fits a
                                                # window, else its speech

With `cfg.enabled` false every sample counts as speech, so callers need no second code
path. Where `cfg.backend` finds too little speech, `cfg.fallback` (energy by default) finds the
clip's audible part, which `or_all` (clips that cannot be skipped) uses before the whole clip. A
clip's recording span (first to last sample above its quiet bed or voiced) decides whether a clip
padded with silence fits a window, and is then heard whole, as it would be unpadded.
Backends (silero, webrtc, energy) are compared in benchmarks/vad.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .. import audio
from ..config import VadConfig
from .backends import BACKENDS, frame_scores
from .cache import RegionCache, default_root, region_key
from .regions import NoSpeechError, Speech, audible_span, recording_span, to_regions, without_digital_silence

_DEFAULT_ROOT = object()


def detect(y: np.ndarray, sample_rate: int, cfg: VadConfig | None = None) -> Speech:
    """Speech regions of clip `y` [T] float32 at `sample_rate` (any rate; resampled inside)."""
    cfg = cfg or VadConfig()
    n = len(y)
    if not cfg.enabled:
        whole = np.array([[0, n]] if n else [], dtype=np.int64).reshape(-1, 2)
        return Speech(whole, n, sample_rate)
    speech = _detect_with(cfg.backend, y, sample_rate, cfg)
    if speech.seconds < cfg.min_speech_seconds and cfg.fallback not in (None, cfg.backend):
        # kept beside the detector's own regions: a clip that can be skipped still is (require),
        # one that cannot (or_all) is heard by its audible part rather than whole, silence and all
        speech = dataclasses.replace(speech, fallback=_detect_with(cfg.fallback, y, sample_rate, cfg).regions)
    # where the recording is, speech or not: a short recording padded with silence or a quiet room
    # fits a window by this span (Speech.fitted) and is heard as it would be unpadded
    audible = audible_span(y, sample_rate, cfg.energy_floor_db, cfg.min_speech_ms)
    pad = int(round(cfg.pad_ms * sample_rate / 1000))
    return dataclasses.replace(speech, audible=recording_span(audible, speech.regions, pad, n))


def _detect_with(backend: str, y: np.ndarray, sample_rate: int, cfg: VadConfig) -> Speech:
    n = len(y)
    frames = frame_scores(y, sample_rate, dataclasses.replace(cfg, backend=backend))
    return Speech(without_digital_silence(to_regions(frames, n, sample_rate, cfg), y), n, sample_rate)


def speech_fraction(y: np.ndarray, sample_rate: int, cfg: VadConfig | None = None) -> float:
    """Share of `y` that is speech, in [0, 1]."""
    return detect(y, sample_rate, cfg).fraction


def speech_part(y: np.ndarray, sample_rate: int, cfg: VadConfig | None = None, path: str = "<clip>") -> np.ndarray:
    """The speech regions of `y` concatenated; NoSpeechError below cfg.min_speech_seconds."""
    cfg = cfg or VadConfig()
    return detect(y, sample_rate, cfg).require(cfg.min_speech_seconds, path).part(y)


def file_speech(path: str | Path, sample_rate: int | None = None, cfg: VadConfig | None = None,
                y: np.ndarray | None = None, cache_root=_DEFAULT_ROOT) -> Speech:
    """Speech of the file at `path` as audio.load(path, sample_rate) gives it, cached on disk.

    Pass `y` (that same loaded clip) to save a second read on a cache miss; `sample_rate`
    None means the file's own rate. cache_root None disables the cache; the default is
    default_root() ($VOXPRINT_CACHE/vad).
    """
    cfg = cfg or VadConfig()
    if y is None or sample_rate is None:
        y, sample_rate = audio.load(path, sample_rate)
    if not cfg.enabled:
        return detect(y, sample_rate, cfg)
    cache = RegionCache(default_root() if cache_root is _DEFAULT_ROOT else cache_root)
    key = region_key(path, sample_rate, cfg)
    speech = cache.get(key)
    if speech is not None and speech.n_samples == len(y):
        return speech
    speech = detect(y, sample_rate, cfg)
    cache.put(key, speech)
    return speech


__all__ = ["BACKENDS", "NoSpeechError", "RegionCache", "Speech", "VadConfig", "detect", "file_speech",
           "region_key", "speech_fraction", "speech_part"]
