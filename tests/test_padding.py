"""Padded copies of data sets: the layout survives, the padding is exactly what was asked for."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from benchmarks.padding import pad_clip, scaled_to
from voxprint import audio
from voxprint.datasets import _cap, discover


def test_pad_clip_shapes_and_bed():
    y = np.ones(10, np.float32) * 0.5
    z = pad_clip(y, 4)
    assert z.shape == (18,) and not z[:4].any() and not z[-4:].any() and (z[4:14] == 0.5).all()
    bed = np.full(18, 0.01, np.float32)
    assert np.allclose(pad_clip(y, 4, bed)[:4], 0.01)
    level = 20 * np.log10(np.sqrt(np.mean(scaled_to(np.random.default_rng(0).standard_normal(1000), -55) ** 2)))
    assert abs(level + 55) < 1e-3


def test_padded_fsdd_silence_keeps_names_speakers_and_splits(padded, shared_data):
    root = padded("fsdd", "silence", max_per_speaker=4, speakers=["george", "jackson"])
    ds = discover(root)
    assert ds.layout == "fsdd" and ds.speakers == ["george", "jackson"]
    # the same clips as `voxprint run --set data.max_per_speaker=4` picks from the original
    orig = discover(shared_data / "fsdd")
    chosen = _cap([it for it in orig.items if it.speaker in ("george", "jackson")], 4, orig)
    assert sorted(p.rsplit("/", 1)[1] for p in (it.path for it in ds.items)) == \
        sorted(it.path.rsplit("/", 1)[1] for it in chosen)
    assert {it.split for it in ds.items} == {"test", "train"}
    for it in ds.items[:3]:
        name = it.path.rsplit("/", 1)[1]
        orig, sr = audio.load(shared_data / "fsdd" / "recordings" / name, None)
        z, sr2 = sf.read(it.path, dtype="float32")
        assert sr2 == sr == 8000 and len(z) == len(orig) + 2 * sr
        assert not z[:sr].any() and not z[-sr:].any()  # exact digital silence
        assert np.abs(z[sr:-sr] - orig).max() < 1 / 32768 + 1e-7  # the clip itself, to 16-bit precision


def test_padded_speeches5_room_noise_has_a_quiet_bed(padded):
    root = padded("speeches5", "room", max_per_speaker=3, speakers=["Julia_Gillard", "Nelson_Mandela"])
    ds = discover(root)
    assert ds.layout == "folders" and ds.speakers == ["Julia_Gillard", "Nelson_Mandela"]
    assert ds.noise_dir is not None and (root / "noise").is_symlink()  # augment's "auto" noise still found
    for it in ds.items:
        z, sr = sf.read(it.path, dtype="float32")
        assert sr == 16000 and len(z) == 3 * sr
        lead = 20 * np.log10(np.sqrt(np.mean(z[: sr // 2].astype(np.float64) ** 2)))
        assert -62 < lead < -48, lead  # a bed at about -55 dBFS, not silence and not loud


def test_unknown_kind_is_rejected(tmp_path):
    from benchmarks.padding import padded_copy

    with pytest.raises(ValueError, match="kind"):
        padded_copy("fsdd", tmp_path / "x", "hum")


def test_a_bad_clip_is_left_out_of_the_copy_and_a_manifest_is_refused(tmp_path, shared_data):
    import soundfile as sf

    from benchmarks.padding import padded_copy
    from voxprint.errors import DataError

    src = tmp_path / "src"
    for spk in ("a", "b"):
        (src / spk).mkdir(parents=True)
        for i in range(3):
            y, sr = sf.read(shared_data / "fsdd" / "recordings" / f"{i}_george_{(spk == 'b' and 7) or 5}.wav")
            sf.write(src / spk / f"{i}.wav", y, sr)
    sf.write(src / "a" / "silent.wav", np.zeros(8000, np.float32), 8000)
    out = padded_copy(src, tmp_path / "out", "silence", 0.5)
    assert sorted(p.name for p in (out / "audio" / "a").iterdir()) == ["0.wav", "1.wav", "2.wav"]
    (tmp_path / "m.csv").write_text("path,speaker,split\nsrc/a/0.wav,a,train\nsrc/b/0.wav,b,test\n")
    with pytest.raises(DataError, match="manifest"):
        padded_copy(tmp_path / "m.csv", tmp_path / "out2", "silence")
