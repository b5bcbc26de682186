"""The disk cache (voxprint.cache): keys change with anything that changes the features; hits skip the
computation; unreadable entries are computed again."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from voxprint.cache import DiskCache, cache_key
from voxprint.config import FeatureConfig

# A different value for every FeatureConfig field; the test below checks none is missed.
CHANGED = {
    "name": "mel",
    "win_ms": 32.0,
    "hop_ms": 16.0,
    "n_fft": 1024,
    "n_mels": 64,
    "fmin": 20.0,
    "fmax": 4000.0,
    "top_db": None,
    "n_mfcc": 13,
    "deltas": True,
    "lpc_order": 12,
    "lpcc": True,
    "log": False,
    "denoise": 2.0,
}


@pytest.fixture
def files(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"clip{i}.wav"
        p.write_bytes(bytes([i]) * 100)
        paths.append(str(p))
    return paths


def key(files, cfg=None, sample_rate=16000, window=16000):
    return cache_key(files, cfg or FeatureConfig(), sample_rate=sample_rate, window=window)


class Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_same_inputs_same_key(files):
    k = key(files)
    assert k == key(list(files)) == key(files, FeatureConfig())
    assert len(k) == 64 and int(k, 16) >= 0


def test_every_feature_field_changes_the_key(files):
    assert set(CHANGED) == {f.name for f in dataclasses.fields(FeatureConfig)}
    base = key(files)
    keys = {base}
    for name, value in CHANGED.items():
        assert getattr(FeatureConfig(), name) != value, name
        k = key(files, dataclasses.replace(FeatureConfig(), **{name: value}))
        assert k != base, name
        keys.add(k)
    assert len(keys) == len(CHANGED) + 1


def test_rate_window_and_file_list_change_the_key(files):
    base = key(files)
    assert key(files, sample_rate=8000) != base
    assert key(files, window=8000) != base
    assert key(files[:2]) != base
    assert key(list(reversed(files))) != base


def test_touching_a_file_changes_the_key(files):
    base = key(files)
    st = os.stat(files[1])
    os.utime(files[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert key(files) != base


def test_rewriting_a_file_changes_the_key(files):
    base = key(files)
    st = os.stat(files[0])
    with open(files[0], "ab") as f:
        f.write(b"x")
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, new size
    assert key(files) != base


def test_hit_returns_stored_array_without_computing(tmp_path, files):
    cache = DiskCache(tmp_path / "cache")
    k = key(files)
    value = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    first = Counter(value)
    out = cache.array(k, first)
    assert first.calls == 1
    np.testing.assert_array_equal(out, value)
    assert (tmp_path / "cache" / k[:2] / f"{k}.npz").is_file()

    second = Counter(np.zeros(1))
    again = DiskCache(tmp_path / "cache").array(k, second)
    assert second.calls == 0
    assert again.dtype == np.float32 and again.shape == (2, 3, 4)
    np.testing.assert_array_equal(again, value)

    other = Counter(np.ones(3))
    DiskCache(tmp_path / "cache").array(key(files, sample_rate=8000), other)
    assert other.calls == 1


def test_no_temporary_files_left(tmp_path, files):
    cache = DiskCache(tmp_path / "cache")
    k = key(files)
    cache.array(k, lambda: np.ones(5))
    assert [p.name for p in (tmp_path / "cache" / k[:2]).iterdir()] == [f"{k}.npz"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b"",  # empty
        lambda b: b[: len(b) - 7],  # truncated data
        lambda b: b[:40],  # truncated header
        lambda b: b"garbage, not a numpy file" * 4,
    ],
    ids=["empty", "truncated", "header", "garbage"],
)
def test_corrupted_entry_is_recomputed(tmp_path, files, damage):
    cache = DiskCache(tmp_path / "cache")
    k = key(files)
    value = np.linspace(0, 1, 50, dtype=np.float32)
    cache.array(k, lambda: value)
    entry = tmp_path / "cache" / k[:2] / f"{k}.npz"
    entry.write_bytes(damage(entry.read_bytes()))
    recompute = Counter(value)
    out = cache.array(k, recompute)
    assert recompute.calls == 1
    np.testing.assert_array_equal(out, value)
    np.testing.assert_array_equal(DiskCache(tmp_path / "cache").get(k)["array"], value)  # rewritten


def test_no_root_always_computes(files):
    cache = DiskCache(None)
    c = Counter(np.ones(2))
    cache.array(key(files), c)
    cache.array(key(files), c)
    assert c.calls == 2


def test_named_arrays_round_trip_with_their_dtypes(tmp_path):
    cache = DiskCache(tmp_path)
    value = {"emb": np.ones((2, 3), np.float32), "n": np.int64(7), "starts": np.arange(4)}
    first = Counter(value)
    cache.get_or_compute("k1", first)
    again = DiskCache(tmp_path).get_or_compute("k1", first)
    assert first.calls == 1 and set(again) == set(value)
    assert again["emb"].dtype == np.float32 and int(again["n"]) == 7
    np.testing.assert_array_equal(again["starts"], value["starts"])


def test_a_bare_npy_in_an_entrys_place_is_computed_again(tmp_path):
    cache = DiskCache(tmp_path)
    cache.path("abc").parent.mkdir(parents=True)
    np.save(cache.path("abc").with_suffix(""), np.zeros(3))  # np.save appends .npy
    cache.path("abc").with_suffix(".npy").rename(cache.path("abc"))
    assert cache.get("abc") is None and not cache.path("abc").exists()


def test_named_cache_lives_under_voxprint_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXPRINT_CACHE", str(tmp_path))
    assert DiskCache.named("features").root == tmp_path / "features"
    monkeypatch.setenv("VOXPRINT_CACHE", "off")
    c = Counter(np.ones(2))
    DiskCache.named("features").array("k", c)
    DiskCache.named("features").array("k", c)
    assert c.calls == 2 and not any(tmp_path.iterdir())


def test_key_of_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        cache_key([str(tmp_path / "gone.wav")], FeatureConfig())


def test_clean_features_follow_the_speech_regions_not_just_the_settings(tmp_path, monkeypatch):
    """Two detections of the same long clip (another detector version, say) with the same settings
    must not share a cache entry: the key holds the regions that shaped what is heard."""
    import soundfile as sf
    import torch

    from voxprint.clip_scoring import clean_features
    from voxprint.config import VadConfig
    from voxprint.features import build_feature
    from voxprint.vad import Speech

    monkeypatch.setenv("VOXPRINT_CACHE", str(tmp_path / "cache"))
    sr, window = 8000, 8000
    y = (0.1 * np.random.default_rng(0).standard_normal(3 * sr)).astype(np.float32)  # longer than a window
    path = tmp_path / "long.wav"
    sf.write(path, y, sr)
    cfg = FeatureConfig(name="mel")
    features = build_feature(cfg, sr)
    first = Speech(np.array([[0, 2 * sr]]), len(y), sr)
    other = Speech(np.array([[sr, 3 * sr]]), len(y), sr)
    with torch.no_grad():
        a, _ = clean_features(features, cfg, sr, window, [str(path)], [y], [first], VadConfig())
        b, _ = clean_features(features, cfg, sr, window, [str(path)], [y], [other], VadConfig())
        again, _ = clean_features(features, cfg, sr, window, [str(path)], [y], [first], VadConfig())
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, again)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2


def test_clean_features_follow_what_is_heard_not_just_the_regions(tmp_path, monkeypatch):
    """The same regions under another rule for what a model hears of them (the span slack of
    vad.Speech.fitted changed once) must not be served the old rule's features: they would be other
    windows, and a count of windows that no longer matches the clip's broke scoring."""
    import soundfile as sf
    import torch

    from voxprint.clip_scoring import clean_features
    from voxprint.config import VadConfig
    from voxprint.features import build_feature
    from voxprint.vad import Speech, regions

    sr, window = 8000, 8000
    y = (0.1 * np.random.default_rng(1).standard_normal(3 * sr)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, y, sr)
    cfg = FeatureConfig(name="mel")
    features = build_feature(cfg, sr)
    # a span a tenth longer than the window: heard as its centred window under a 10 % slack,
    # as its speech (two regions, 7,800 samples) without one
    speech = Speech(np.array([[sr, sr + 6000], [sr + 7000, sr + 8800]]), len(y), sr, audible=(sr, sr + 8800))

    def scored(cache: str, slack: float):
        monkeypatch.setenv("VOXPRINT_CACHE", str(tmp_path / cache))
        monkeypatch.setattr(regions, "SPAN_SLACK", slack)
        with torch.no_grad():
            return clean_features(features, cfg, sr, window, [str(path)], [y], [speech], VadConfig())

    (wide, _), (narrow, _) = scored("shared", 0.10), scored("shared", 0.0)
    fresh, _ = scored("fresh", 0.0)
    assert not np.allclose(wide, narrow)
    np.testing.assert_array_equal(narrow, fresh)
