"""The overlapped-speech detector (voxprint/diarize/overlap.py): its features, its frame bookkeeping and
the shipped weights on real libri-dev TEST speakers (never used to train or choose it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import shared_file

import voxprint.encoder
from benchmarks import synth
from benchmarks.overlap import labels
from voxprint.diarize import Turn, overlap

SR = overlap.SAMPLE_RATE


def test_features_have_one_frame_per_10_ms_and_ignore_the_recording_level():
    y = np.random.default_rng(0).standard_normal(SR + 77).astype(np.float32) * 0.1
    f = overlap.features(y)
    assert f.shape == (overlap.N_MELS, len(y) // overlap.HOP) and f.dtype == np.float32
    assert np.allclose(overlap.features(4 * y), f, atol=1e-3)  # 12 dB louder: the same features
    assert overlap.features(y[:100]).shape == (overlap.N_MELS, 0)


def test_per_frame_averages_10_ms_probabilities_into_diarization_frames():
    p = np.r_[np.zeros(10), np.ones(10), np.full(5, 0.5)].astype(np.float32)
    assert list(overlap.per_frame(p, 0.1, 4)) == [0.0, 1.0, 0.0, 0.0]  # a partial last frame is not guessed
    assert len(overlap.per_frame(p, 0.1, 1)) == 1


def test_labels_mark_frames_two_turns_cover():
    y = labels([Turn(0.0, 0.5, "a"), Turn(0.3, 0.8, "b")], 100)
    assert y[:30].sum() == 0 and y[30:50].all() and y[50:].sum() == 0


def _test_voices(n: int) -> list[np.ndarray]:
    split = json.loads((Path(voxprint.encoder.__file__).parent / "libri_split.json").read_text())
    voices = synth.load_voices([shared_file("libri-dev", s) for s in split["test"][:n]], SR)
    return list(voices.values())


def test_the_shipped_detector_hears_two_test_speakers_at_once_and_not_one():
    """Speaker A from 0 to 6 s, speaker B from 3 to 9 s: the overlap (3-6 s) scores high, the stretches
    of one voice low."""
    a, b = _test_voices(2)
    y = np.zeros(10 * SR, np.float32)
    y[: 6 * SR] += a[SR : 7 * SR]
    y[3 * SR : 9 * SR] += b[SR : 7 * SR]
    p = overlap.probabilities(y, SR)
    assert len(p) == 10 * SR // overlap.HOP
    both, one = p[350:550].mean(), np.r_[p[50:250], p[650:850]].mean()
    assert both > 0.5 > one + 0.2, (both, one)
    # the same recording at 8 kHz is resampled, not refused
    assert len(overlap.probabilities(y[::2], SR // 2)) == len(p)


def test_the_shipped_detector_records_how_it_was_made():
    meta = overlap.provenance()
    assert "benchmarks.overlap --train" in meta["command"] and "train speakers" in meta["data"]
    assert "running_tap" not in meta["data"]
    assert overlap.WEIGHTS.stat().st_size < 5 * 2**20
