"""The ONNX route without torch (cold start of `voxprint identify`): voxprint.melspec against the torch
features and librosa, the route's embeddings against the torch features', and the imports a command
pays for. Nothing here is timed: benchmarks/cold_start.py measures the seconds."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from conftest import shared_file

from voxprint import audio
from voxprint import protocol as P
from voxprint.config import FeatureConfig
from voxprint.features import LogMel
from voxprint.inference import FIXED_INPUT_MODELS, Recognizer
from voxprint.melspec import NumpyMel, centered_hann, mel_filters
from voxprint.models import MODELS

REPO = Path(__file__).resolve().parents[1]


def test_mel_filters_are_librosas_bit_for_bit():
    for sr, n_fft, n_mels, fmin, fmax in itertools.product([8000, 16000, 22050], [256, 400, 2048], [20, 40, 128],
                                                           [0.0, 300.0, 1500.0], [None, 3999.5]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns of empty bands at 128 mels of a small n_fft
            ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        got = mel_filters(sr, n_fft, n_mels, fmin, fmax)
        assert got.dtype == ref.dtype and np.array_equal(got, ref), (sr, n_fft, n_mels, fmin, fmax)


@pytest.mark.parametrize("win,n_fft", [(400, 400), (200, 256), (551, 1024)])
def test_window_is_torchs_bit_for_bit(win, n_fft):
    ref = torch.zeros(n_fft, dtype=torch.float64)
    ref[(n_fft - win) // 2 : (n_fft - win) // 2 + win] = torch.hann_window(win, periodic=True, dtype=torch.float64)
    assert np.array_equal(centered_hann(win, n_fft), ref.float().numpy())


@pytest.mark.parametrize("options", [
    {"log": False, "n_mels": 40, "n_fft": 400, "denoise": 2.0},  # the shipped encoder's
    {"log": True, "n_mels": 64},  # the grid's log-Mel, with its dB floor
    {"log": True, "n_mels": 40, "denoise": 1.0, "fmin": 50.0, "fmax": 7000.0},
])
def test_numpy_mel_equals_torch_to_float32_rounding(options):
    y = audio.load(shared_file("libri-dev", "103", "103-1240-0000.flac"), 16000)[0]
    wins = audio.windows(y, 32000)
    cfg = FeatureConfig(name="mel", **options)
    ref = LogMel(cfg, 16000)(torch.from_numpy(wins)).numpy()
    got = NumpyMel(cfg, 16000)(wins)
    assert got.shape == ref.shape and got.dtype == np.float32
    # the FFTs (pocketfft, MKL) round differently; noise-floor subtraction magnifies that near the floor
    scale = np.abs(ref).max(axis=(-2, -1), keepdims=True)
    assert np.abs(got - ref).max() <= 1e-4 * scale.max()
    assert np.median(np.abs(got - ref) / (np.abs(ref) + 1e-6 * scale)) < 1e-5
    assert np.array_equal(NumpyMel(cfg, 16000)(wins[0]), got[0])  # a single wave [T] is a batch of one


def test_onnx_route_embeddings_equal_torch_features():
    """The shipped encoder's int8 graph fed NumpyMel's features and LogMel's: the same voices (an
    embedding moves by int8 rounding at most), so answers do not change beyond the third decimal."""
    rec = Recognizer()
    assert isinstance(rec.features, NumpyMel) and rec.engine == "onnx"
    segs = P.segments(shared_file("libri-dev"), P.load_split()["test"][:3])
    waves = [s.wave for s in segs]
    _, light = rec.score_waves(waves)
    rec.features = LogMel(rec.cfg.features, rec.sample_rate)
    _, heavy = rec.score_waves(waves)
    assert (light * heavy).sum(1).min() > 0.9998
    assert np.abs(light @ light.T - heavy @ heavy.T).max() < 5e-3


def test_fixed_input_models_match_the_classes():
    assert FIXED_INPUT_MODELS == {name for name, cls in MODELS.items() if getattr(cls, "fixed_input", False)}


def test_onnx_route_builds_the_torch_net_only_when_asked():
    rec = Recognizer()
    assert "net" not in vars(rec) and rec.embed_dim == 256 and rec.fixed_input
    assert rec.net.embed_dim == 256  # built on demand, weights checked as on the torch route


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that imports this checkout's voxprint."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_importing_the_cli_does_not_import_torch(tmp_path):
    done = _python("import sys, voxprint.cli; print(sorted(m for m in ('torch', 'librosa', 'sklearn', 'lightning', "
                   "'matplotlib', 'onnxruntime', 'fastapi', 'scipy') if m in sys.modules))", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_enrol_and_identify_with_the_shipped_encoder_never_import_torch(tmp_path):
    """The whole ONNX route in a fresh process: profiles enrolled and a clip identified, torch never loaded."""
    files = [str(shared_file("libri-dev", "103", "103-1240-0000.flac")),
             str(shared_file("libri-dev", "1040", "1040-133433-0000.flac"))]
    db = tmp_path / "p.db"
    code = (f"import sys; from voxprint.cli import main; "
            f"assert main(['enroll', 'a', {files[0]!r}, '--db', {str(db)!r}]) == 0; "
            f"assert main(['enroll', 'b', {files[1]!r}, '--db', {str(db)!r}]) == 0; "
            f"assert main(['identify', {files[1]!r}, '--db', {str(db)!r}]) == 0; "
            f"print('torch' in sys.modules, 'librosa' in sys.modules)")
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "False False"
    assert lines[-2].split("\t")[:2] == [files[1], "b"]
