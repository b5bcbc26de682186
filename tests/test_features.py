"""Features: shapes, agreement with librosa / scipy, batching, silence, registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import soundfile as sf
import torch

from benchmarks.common import DATA
from voxprint.config import FeatureConfig
from voxprint.errors import ConfigError
from voxprint.features import FEATURES, LPC, MFCC, FeatureExtractor, LogMel, build_feature
from voxprint.features.lpc import R0_ABS, R0_REL

CLIP_8K = DATA / "fsdd" / "recordings" / "0_george_0.wav"
CLIP_16K = DATA / "speeches5" / "audio" / "Nelson_Mandela" / "0.wav"
CLIP_16K_B = DATA / "speeches5" / "audio" / "Magaret_Tarcher" / "0.wav"

MEL_TOL_DB = 1e-3  # max abs difference to librosa, dB (measured ~6e-5)
MFCC_TOL = 1e-2  # max abs difference to librosa, coefficients up to ~400 (measured ~2.5e-4)
LPC_REL_TOL = 1e-6  # max abs difference / max |a| against scipy's Toeplitz solver


def read(path: Path) -> tuple[np.ndarray, int]:
    if not path.exists():
        pytest.fail(f"{path} not found (set VOXPRINT_DATA to the shared data folder)")
    y, sr = sf.read(path, dtype="float32")
    return y, sr


def librosa_kw(f: FeatureExtractor) -> dict:
    return dict(
        n_fft=f.n_fft,
        hop_length=f.hop_length,
        win_length=f.win_length,
        center=True,
        pad_mode="constant",
    )


VARIANTS = [
    FeatureConfig(name="mfcc"),
    FeatureConfig(name="mfcc", deltas=True, n_mfcc=13),
    FeatureConfig(name="mel", n_mels=64),
    FeatureConfig(name="lpc", lpc_order=12),
    FeatureConfig(name="lpc", lpcc=True),
]


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: f"{c.name}-d{c.deltas}-c{c.lpcc}")
@pytest.mark.parametrize("sr", [8000, 16000])
def test_shapes(cfg, sr):
    f = build_feature(cfg, sr)
    expected_dim = {
        "mfcc": cfg.n_mfcc * (3 if cfg.deltas else 1),
        "mel": cfg.n_mels,
        "lpc": cfg.lpc_order + 1,
    }[cfg.name]
    assert f.dim == expected_dim
    g = torch.Generator().manual_seed(0)
    for T in (sr, 1234, 5 * f.hop_length + 1, 50):  # includes clips of < 9 frames (deltas)
        wave = 0.1 * torch.randn(3, T, generator=g)
        out = f(wave)
        frames = 1 + T // f.hop_length
        assert f.num_frames(T) == frames
        assert out.shape == (3, f.dim, frames) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        one = f(wave[1])
        assert one.shape == (f.dim, frames)
        torch.testing.assert_close(one, out[1], atol=1e-4, rtol=1e-4)


def test_geometry():
    f = build_feature(FeatureConfig(name="mel"), 16000)
    assert (f.sample_rate, f.win_length, f.hop_length, f.n_fft) == (16000, 400, 160, 512)
    f = build_feature(FeatureConfig(name="lpc", win_ms=32, hop_ms=12.5), 8000)
    assert (f.win_length, f.hop_length, f.n_fft) == (256, 100, 256)
    f = build_feature(FeatureConfig(name="mfcc", n_fft=1024), 16000)
    assert f.n_fft == 1024 and f(torch.zeros(16000)).shape == (20, 101)
    with pytest.raises(ConfigError):
        build_feature(FeatureConfig(name="mfcc", n_fft=256), 16000)  # shorter than the window


def test_registry_and_bad_name():
    assert FEATURES == {"mfcc": MFCC, "mel": LogMel, "lpc": LPC}
    with pytest.raises(ConfigError) as e:
        build_feature(FeatureConfig(name="plp"), 16000)
    assert str(e.value) == "unknown feature 'plp'; valid: lpc, mel, mfcc"


# ----------------------------------------------------------------------------- vs librosa


@pytest.mark.parametrize(
    "path,options",
    [
        (CLIP_8K, {}),
        (CLIP_8K, {"fmin": 50.0, "fmax": 3500.0, "n_mels": 30, "top_db": None}),
        (CLIP_16K, {}),
        (CLIP_16K, {"top_db": 40.0}),
    ],
)
def test_mel_matches_librosa(path, options):
    y, sr = read(path)
    cfg = FeatureConfig(name="mel", **options)
    f = build_feature(cfg, sr)
    S = librosa.feature.melspectrogram(
        y=y, sr=sr, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, **librosa_kw(f)
    )
    ref = librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=cfg.top_db)
    out = f(torch.from_numpy(y)).numpy()
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < MEL_TOL_DB


@pytest.mark.parametrize("path", [CLIP_8K, CLIP_16K])
def test_mfcc_matches_librosa(path):
    y, sr = read(path)
    cfg = FeatureConfig(name="mfcc", deltas=True)
    f = build_feature(cfg, sr)
    # librosa.feature.mfcc always applies power_to_db's default top_db = 80 (= cfg.top_db).
    m = librosa.feature.mfcc(
        y=y, sr=sr, n_mfcc=cfg.n_mfcc, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
        **librosa_kw(f),
    )
    d1 = librosa.feature.delta(m, width=9, order=1, mode="interp")
    d2 = librosa.feature.delta(m, width=9, order=2, mode="interp")
    ref = np.concatenate([m, d1, d2])
    out = f(torch.from_numpy(y)).numpy()
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < MFCC_TOL


def test_mfcc_other_top_db_matches_librosa():
    y, sr = read(CLIP_16K)
    y = np.concatenate([np.zeros(3200, np.float32), 0.05 * y])  # silence: the floor matters
    cfg = FeatureConfig(name="mfcc", top_db=None, n_mfcc=30, n_mels=64)
    f = build_feature(cfg, sr)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=cfg.n_mels, **librosa_kw(f))
    ref = librosa.feature.mfcc(S=librosa.power_to_db(S, top_db=None), n_mfcc=cfg.n_mfcc)
    out = f(torch.from_numpy(y)).numpy()
    assert np.abs(out - ref).max() < MFCC_TOL


def test_delta_exact_on_polynomials_and_short_clips():
    f = build_feature(FeatureConfig(name="mfcc", deltas=True), 16000)
    for frames in (30, 9, 5, 3):  # fewer than 9 frames: the fit spans all frames
        t = torch.arange(frames, dtype=torch.float32)
        x = torch.stack([2.5 * t - 1.0, 0.5 * t**2 + t])  # slope 2.5; second derivative 1
        torch.testing.assert_close(f.delta(x, 1)[0], torch.full((frames,), 2.5))
        torch.testing.assert_close(f.delta(x, 2)[1], torch.ones(frames), atol=1e-4, rtol=0)
    assert (f.delta(torch.ones(2, 1), 1) == 0).all()  # one frame: no slope, no NaN


# ----------------------------------------------------------------------------- batching


@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: f"{c.name}-d{c.deltas}-c{c.lpcc}")
def test_batch_equals_single(cfg):
    a, sr = read(CLIP_16K)
    b, _ = read(CLIP_16K_B)
    lead = np.zeros(3200, np.float32)  # 0.2 s of silence (-100 dB), below each clip's floor
    a = np.concatenate([lead, a])
    b = np.concatenate([lead, 0.1 * b])  # 20 dB quieter: a batch-wide max would clip it more
    cfg = dataclasses.replace(cfg, top_db=40.0)  # peaks near -20 dB: floors above -100 dB
    f = build_feature(cfg, sr)
    batch = f(torch.from_numpy(np.stack([a, b])))
    for i, y in enumerate((a, b)):
        torch.testing.assert_close(batch[i], f(torch.from_numpy(y)), atol=1e-3, rtol=1e-4)
    if cfg.name == "mel":  # the floor was active, and per example
        for i in range(2):
            floor = batch[i].max() - cfg.top_db
            assert (batch[i] == floor).any() and batch[i].min() >= floor


# ----------------------------------------------------------------------------- LPC


def numpy_frames(y: np.ndarray, f: FeatureExtractor) -> np.ndarray:
    """Independent framing: centered, zero padded, hann(win_length) in the middle of n_fft."""
    pad = f.n_fft // 2
    x = np.pad(y.astype(np.float64), (pad, pad))
    left = (f.n_fft - f.win_length) // 2
    win = scipy.signal.get_window("hann", f.win_length, fftbins=True)
    starts = np.arange(f.num_frames(len(y))) * f.hop_length + left
    return np.stack([x[s : s + f.win_length] * win for s in starts])


@pytest.mark.parametrize("path,order", [(CLIP_8K, 10), (CLIP_16K, 16)])
def test_lpc_matches_solve_toeplitz(path, order):
    y, sr = read(path)
    f = build_feature(FeatureConfig(name="lpc", lpc_order=order), sr)
    out = f(torch.from_numpy(y)).numpy().astype(np.float64)
    worst = 0.0
    for i, frame in enumerate(numpy_frames(y, f)):
        r = np.correlate(frame, frame, "full")[len(frame) - 1 : len(frame) + order]
        r[0] = r[0] * (1 + R0_REL) + R0_ABS  # the documented regulariser
        a = scipy.linalg.solve_toeplitz(r[:-1], -r[1:])
        worst = max(worst, np.abs(out[:order, i] - a).max() / np.abs(a).max())
        err = r[0] + np.dot(a, r[1:])  # prediction-error energy
        assert abs(out[order, i] - np.log(err)) < 1e-4
    assert worst < LPC_REL_TOL


@pytest.mark.parametrize(
    "a_true",
    [
        [-1.3, 0.7],  # AR(2), poles at radius 0.84
        list(np.convolve([1, -1.3, 0.7], [1, 0.6, 0.45])[1:]),  # AR(4)
    ],
)
def test_lpc_recovers_ar_process(a_true):
    rng = np.random.default_rng(0)
    sr = 16000
    x = scipy.signal.lfilter([1.0], [1.0, *a_true], rng.standard_normal(2 * sr)).astype(np.float32)
    f = build_feature(FeatureConfig(name="lpc", lpc_order=len(a_true)), sr)
    out = f(torch.from_numpy(x)).numpy()
    est = np.median(out[: len(a_true), 2:-2], axis=1)  # skip the half-empty edge frames
    assert np.abs(est - np.array(a_true)).max() < 0.05


def test_lpcc_is_cepstrum_of_all_pole_model():
    y, sr = read(CLIP_8K)
    cfg = FeatureConfig(name="lpc", lpc_order=10)
    a = build_feature(cfg, sr)(torch.from_numpy(y)).numpy().astype(np.float64)
    c = build_feature(dataclasses.replace(cfg, lpcc=True), sr)(torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(c[-1], a[-1].astype(np.float32))  # same log-gain row
    n = 4096
    for i in range(0, a.shape[1], 5):
        A = np.fft.rfft(np.concatenate([[1.0], a[:-1, i]]), n)
        # Real cepstrum of |1/A|; for a minimum-phase model c_n = 2 * real cepstrum[n], n >= 1.
        ceps = np.fft.irfft(-np.log(np.abs(A)), n)
        np.testing.assert_allclose(c[:-1, i], 2 * ceps[1:11], atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- silence


@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: f"{c.name}-d{c.deltas}-c{c.lpcc}")
def test_silence_is_finite(cfg):
    f = build_feature(cfg, 8000)
    out = f(torch.zeros(2, 8000))
    assert torch.isfinite(out).all()
    if cfg.name == "lpc":
        assert (out[:, :-1] == 0).all()
        torch.testing.assert_close(out[:, -1], torch.full_like(out[:, -1], float(np.log(R0_ABS))))
    if cfg.name == "mel":
        assert (out == -100.0).all()  # 10 log10(amin)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("cfg", VARIANTS, ids=lambda c: f"{c.name}-d{c.deltas}-c{c.lpcc}")
def test_cuda_matches_cpu(cfg):
    f = build_feature(cfg, 16000)
    wave = 0.1 * torch.randn(4, 16000, generator=torch.Generator().manual_seed(1))
    cpu = f(wave)
    gpu = f.to("cuda")(wave.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=2e-3, rtol=1e-3)


def test_denoise_subtracts_each_examples_stationary_floor():
    from voxprint.features.mel import DENOISE_FLOOR

    sr = 16000
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    wave = (0.05 * rng.standard_normal(sr) + np.where((t > 0.6) & (t < 0.9), np.sin(2 * np.pi * 1000 * t), 0))
    wave = torch.from_numpy(wave.astype(np.float32))
    base = dict(name="mel", log=False, n_fft=400)
    plain = build_feature(FeatureConfig(**base), sr)(wave)
    clean = build_feature(FeatureConfig(**base, denoise=2.0), sr)(wave)
    assert torch.equal(build_feature(FeatureConfig(**base, denoise=0.0), sr)(wave), plain)
    floor = torch.quantile(plain, 0.1, dim=-1, keepdim=True)
    noise_only = slice(5, 50)  # 50-500 ms: noise alone
    assert torch.allclose(clean[:, noise_only], torch.maximum(plain[:, noise_only] - 2 * floor, DENOISE_FLOOR * floor))
    # most of the noise is gone (measured: a third is left, from the bands with few FFT bins, whose power fluctuates)
    assert clean[:, noise_only].mean() < 0.5 * plain[:, noise_only].mean()
    band = int(plain[:, 70].argmax())  # the tone's band, mid-tone
    assert float(clean[band, 70]) == pytest.approx(float(plain[band, 70] - 2 * floor[band, 0]), rel=1e-5)
    # each example has its own floor: a batch equals its examples one by one
    batch = build_feature(FeatureConfig(**base, denoise=2.0), sr)(torch.stack([wave, 0.1 * wave]))
    assert torch.allclose(batch[0], clean) and torch.allclose(batch[1], 0.01 * clean, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3, 11, 101, 201, 1000])
@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.93, 1.0])
def test_quantile_last_equals_torch_quantile(n, q):
    from voxprint.features.mel import quantile_last

    x = torch.rand(2, 40, n, generator=torch.Generator().manual_seed(n)) ** 8  # power-like spread
    torch.testing.assert_close(quantile_last(x, q), torch.quantile(x, q, dim=-1, keepdim=True), rtol=1e-6, atol=0)
