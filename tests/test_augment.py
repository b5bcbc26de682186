"""Noise: exact SNR mixing, pink-noise spectrum, train/eval noise disjointness, the Augmenter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from conftest import shared_file

from voxprint import audio
from voxprint.augment import (
    Augmenter,
    NoiseSource,
    build_sources,
    mix_at_snr,
    pink_noise,
    white_noise,
)
from voxprint.errors import ConfigError

SNR_TOL_DB = 1e-3
SNRS = [-5.0, 0.0, 10.0, 20.0]


def realised_snr(speech: np.ndarray, mixed: np.ndarray) -> float:
    """Independent of voxprint.augment.power: plain mean squares in float64."""
    speech = speech.astype(np.float64)
    noise = mixed.astype(np.float64) - speech
    return 10.0 * np.log10(np.mean(speech**2) / np.mean(noise**2))


@pytest.fixture(scope="module")
def clips() -> dict[str, tuple[np.ndarray, int]]:
    paths = {
        "fsdd-8k": shared_file("fsdd", "recordings", "3_nicolas_12.wav"),
        "speeches5-16k": shared_file("speeches5", "audio", "Julia_Gillard", "17.wav"),
    }
    return {k: audio.load(p) for k, p in paths.items()}


@pytest.fixture(scope="module")
def tap_noise() -> Path:
    return shared_file("noise", "running_tap.wav")


def noise_for(kind: str, n: int, sr: int, tap: Path, rng) -> np.ndarray:
    if kind == "white":
        return white_noise(n, rng)
    if kind == "pink":
        return pink_noise(n, rng)
    y, _ = audio.load(tap, sr)
    start = int(rng.integers(len(y) - n))
    return y[start : start + n]


# --------------------------------------------------------------------------- SNR


@pytest.mark.parametrize("clip", ["fsdd-8k", "speeches5-16k"])
@pytest.mark.parametrize("kind", ["white", "pink", "recorded"])
def test_mix_at_snr_hits_target(clips, tap_noise, clip, kind):
    speech, sr = clips[clip]
    rng = np.random.default_rng(0)
    for snr in SNRS:
        for scale in (1.0, 1e-3):  # a very quiet clip must hit the SNR as well
            s = (speech * scale).astype(np.float32)
            noise = noise_for(kind, len(s), sr, tap_noise, rng)
            mixed = mix_at_snr(s, noise, snr)
            assert mixed.dtype == np.float32 and mixed.shape == s.shape
            got = realised_snr(s, mixed)
            assert abs(got - snr) < SNR_TOL_DB, (clip, kind, snr, scale, got)


def test_mix_at_snr_does_not_change_speech_level(clips):
    speech, _ = clips["fsdd-8k"]
    noise = white_noise(len(speech), np.random.default_rng(1))
    mixed = mix_at_snr(speech, 10 * noise, 10.0)  # noise level does not matter
    assert abs(realised_snr(speech, mixed) - 10.0) < SNR_TOL_DB
    # speech kept as it is; only the noise is scaled
    added = (mixed - speech).astype(np.float64)
    gain = float(added @ noise) / float(noise @ noise)
    np.testing.assert_allclose(added, gain * noise, atol=1e-6)


def test_mix_with_silent_noise_is_finite():
    s = np.sin(np.arange(1000) / 3).astype(np.float32)
    out = mix_at_snr(s, np.zeros(1000, np.float32), 10.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, s)


# --------------------------------------------------------------------------- noise colours


@pytest.mark.parametrize("seed", [0, 1])
def test_pink_noise_slope(seed):
    y = pink_noise(2**17, np.random.default_rng(seed))
    assert y.dtype == np.float32 and len(y) == 2**17
    assert abs(float(np.std(y)) - 1.0) < 1e-3
    f, p = scipy.signal.welch(y, fs=16000, nperseg=4096)
    band = (f >= 20) & (f <= 7000)
    slope = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert abs(slope + 1.0) < 0.2, slope  # 1/f power: -3 dB per octave of density
    # equal power in every octave band
    octaves = [p[(f >= lo) & (f < 2 * lo)].sum() for lo in 125 * 2.0 ** np.arange(5)]
    assert np.ptp(10 * np.log10(octaves)) < 1.5


def test_white_noise_is_flat():
    y = white_noise(2**17, np.random.default_rng(0))
    f, p = scipy.signal.welch(y, fs=16000, nperseg=4096)
    band = (f >= 20) & (f <= 7000)
    assert abs(np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]) < 0.1


# --------------------------------------------------------------------------- sources


def test_train_and_eval_parts_are_disjoint_and_cover_the_file(tap_noise):
    sr, frac = 16000, 0.8
    full, _ = audio.load(tap_noise, sr)
    (train,) = build_sources([str(tap_noise)], sr, "train", frac)
    (ev,) = build_sources([str(tap_noise)], sr, "eval", frac)
    assert train.kind == ev.kind == "recorded" and train.name == "running_tap"
    (rt,), (re,) = train.ranges, ev.ranges
    assert rt["file"] == re["file"] == str(tap_noise)
    assert rt["start_s"] == 0.0
    assert rt["end_s"] == re["start_s"]  # touching, not overlapping
    assert re["end_s"] == round(len(full) / sr, 3)
    assert rt["end_s"] == pytest.approx(frac * len(full) / sr, abs=1e-3)
    (_, t), (_, e) = train.segments[0], ev.segments[0]
    assert len(t) + len(e) == len(full)
    np.testing.assert_array_equal(t, full[: len(t)])
    np.testing.assert_array_equal(e, full[-len(e) :])  # the eval part is the file's tail


def test_samples_stay_in_their_part(tap_noise):
    # every training draw comes from the train segment, every eval draw from the eval one
    sr = 8000
    (train,) = build_sources([str(tap_noise)], sr, "train", 0.5)
    (ev,) = build_sources([str(tap_noise)], sr, "eval", 0.5)
    full, _ = audio.load(tap_noise, sr)
    cut = len(train.segments[0][1])
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = train.sample(4000, rng)
        y = ev.sample(4000, rng)
        assert len(x) == len(y) == 4000
        assert any(np.array_equal(x, full[s : s + 4000]) for s in _starts(full[:cut], x))
        assert any(np.array_equal(y, full[cut + s : cut + s + 4000]) for s in _starts(full[cut:], y))


def _starts(hay: np.ndarray, needle: np.ndarray) -> list[int]:
    return np.flatnonzero(hay[: len(hay) - len(needle) + 1] == needle[0]).tolist()


def test_auto_finds_dataset_noise_recursively(shared_data, caplog):
    from voxprint.datasets import discover

    ds = discover(shared_data / "speeches5")
    (src,) = build_sources(["auto"], 16000, "train", 0.8, dataset_noise=ds.noise_dir)
    assert caplog.records == []
    assert src.name == "dataset-noise" and src.kind == "recorded"
    files = sorted(Path(f).name for f, _ in src.segments)
    expected = sorted(p.name for p in (shared_data / "speeches5" / "noise").rglob("*.wav"))
    assert files == expected and len(files) == 6
    # the stereo file is in, mixed down to mono
    stereo = next(f for f, _ in src.segments if sf.info(f).channels == 2)
    seg = dict(src.segments)[stereo]
    raw, _ = sf.read(stereo, dtype="float32", always_2d=True)
    assert seg.ndim == 1
    np.testing.assert_allclose(seg, raw.mean(axis=1)[: len(seg)], atol=1e-6)


def test_auto_without_dataset_noise_uses_data_home(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("VOXPRINT_DATA", str(shared_data))
    (src,) = build_sources(["auto"], 16000, "eval", 0.8)
    assert sorted(Path(f).parent for f, _ in src.segments) == [shared_data / "noise"] * 6
    monkeypatch.setenv("VOXPRINT_DATA", str(tmp_path))  # no noise there: silently nothing
    assert build_sources(["auto"], 16000, "eval", 0.8) == []


def test_missing_noise_path_warns_once_and_is_skipped(tmp_path, caplog):
    missing = tmp_path / "no-such-noise"
    sources = build_sources(["white", str(missing), "pink"], 16000, "train", 0.8)
    warnings = [r.getMessage() for r in caplog.records]
    assert [s.name for s in sources] == ["white", "pink"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(missing) in warnings[0] and "not found" in warnings[0]


def test_bad_noise_file_warns_and_rest_is_used(tmp_path, tap_noise, caplog):
    folder = tmp_path / "noises"
    folder.mkdir()
    (folder / "broken.wav").write_bytes(b"")
    sf.write(folder / "ok.wav", white_noise(16000, np.random.default_rng(0)) * 0.1, 16000)
    (src,) = build_sources([str(folder)], 16000, "train", 0.8)
    warnings = [r.getMessage() for r in caplog.records]
    assert [Path(f).name for f, _ in src.segments] == ["ok.wav"]
    assert len(warnings) == 1 and "broken.wav" in warnings[0]


def test_build_sources_checks_arguments():
    with pytest.raises(ConfigError, match="train_fraction"):
        build_sources(["white"], 16000, "train", 1.0)
    with pytest.raises(ValueError):
        build_sources(["white"], 16000, "test", 0.8)


# --------------------------------------------------------------------------- Augmenter


def _synthetic(name: str) -> NoiseSource:
    (src,) = build_sources([name], 16000, "train", 0.8)
    return src


def test_augmenter_prob_zero_is_identity():
    aug = Augmenter([_synthetic("white"), _synthetic("pink")], prob=0.0, snr_db=[0.0, 20.0])
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(8000) / 7).astype(np.float32)
    for _ in range(20):
        assert np.array_equal(aug(y, rng), y)


def test_augmenter_prob_one_adds_noise_in_range():
    aug = Augmenter([_synthetic("white"), _synthetic("pink")], prob=1.0, snr_db=[5.0, 15.0])
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(8000) / 7).astype(np.float32)
    for _ in range(20):
        out = aug(y, rng)
        assert out.shape == y.shape and out.dtype == np.float32
        assert not np.array_equal(out, y)
        assert 5.0 - SNR_TOL_DB <= realised_snr(y, out) <= 15.0 + SNR_TOL_DB


def test_augmenter_draws_fresh_noise_every_call(tap_noise):
    y = np.sin(np.arange(8000) / 7).astype(np.float32)
    rec = build_sources([str(tap_noise)], 16000, "train", 0.8)
    for sources in ([_synthetic("white")], [_synthetic("pink")], rec):
        aug = Augmenter(sources, prob=1.0, snr_db=[10.0, 10.0])
        rng = np.random.default_rng(0)
        a, b = aug(y, rng), aug(y, rng)
        assert not np.allclose(a - y, b - y)


def test_augmenter_without_sources_is_identity():
    y = np.ones(100, np.float32)
    assert Augmenter([], prob=1.0, snr_db=[0.0, 20.0])(y, np.random.default_rng(0)) is y


@pytest.mark.parametrize("bad", [[10.0], [20.0, 0.0], [0.0, 5.0, 10.0]])
def test_augmenter_rejects_bad_snr_range(bad):
    with pytest.raises(ConfigError, match="snr_db"):
        Augmenter([], prob=0.5, snr_db=bad)


# --------------------------------------------------------------------------- noisy validation


def test_noisy_validation_copy_is_fixed_and_at_the_training_snr(clips):
    """train.val_noise: every validation window once more with a seeded draw of the training noise,
    at an SNR inside the training range; the same seed gives the same copy (a stable monitor)."""
    import torch

    from voxprint.config import Config
    from voxprint.datasets import Loaded
    from voxprint.train import _loaders

    y, sr = clips["fsdd-8k"]
    n = sr
    waves = [y[:n], y[: n // 2], np.roll(y, 100)[:n]]
    part = Loaded([None] * 3, waves, np.array([0, 1, 2]))
    cfg = Config()
    aug = Augmenter([NoiseSource("white", "synthetic", [], [])], prob=0.0, snr_db=[0.0, 5.0])  # prob 0: mix ignores it
    _, val = _loaders(cfg, {"train": part, "val": part}, n, None, None, val_noise=aug)
    x, lab = val.dataset.tensors
    assert x.shape == (6, n) and lab.tolist() == [0, 1, 2, 0, 1, 2]
    for clean, noisy in zip(x[:3].numpy(), x[3:].numpy()):
        assert 0.0 - 1e-3 <= realised_snr(clean, noisy) <= 5.0 + 1e-3
    _, again = _loaders(cfg, {"train": part, "val": part}, n, None, None, val_noise=aug)
    assert torch.equal(again.dataset.tensors[0], x)
    _, plain = _loaders(cfg, {"train": part, "val": part}, n, None, None)
    assert plain.dataset.tensors[0].shape == (3, n)
