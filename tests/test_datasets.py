"""Datasets: layouts, labels, splits (official, block, manifest) and prepare() on real clips."""

from __future__ import annotations

import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import shared_file

from voxprint import datasets as D
from voxprint.config import DataConfig
from voxprint.errors import DataError

FSDD_SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
S5_SPEAKERS = ["Benjamin_Netanyau", "Jens_Stoltenberg", "Julia_Gillard", "Magaret_Tarcher", "Nelson_Mandela"]


@pytest.fixture(scope="module")
def fsdd_dir() -> Path:
    return shared_file("fsdd", "recordings").parent


@pytest.fixture(scope="module")
def s5_dir() -> Path:
    return shared_file("speeches5", "audio").parent


def link(src: Path, dst: Path) -> Path:
    """Symlink a real clip into a test layout (copy where symlinks are not allowed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src, dst)
    except OSError:
        shutil.copy(src, dst)
    return dst


def fsdd_index(path: str) -> int:
    return int(Path(path).stem.split("_")[2])


# --------------------------------------------------------------------------- FSDD


@pytest.mark.parametrize("sub", ["", "recordings"])
def test_fsdd_discovery(fsdd_dir, sub):
    ds = D.discover(fsdd_dir / sub if sub else fsdd_dir)
    assert ds.layout == "fsdd"
    assert ds.root == fsdd_dir / "recordings"
    assert ds.speakers == FSDD_SPEAKERS
    assert len(ds.items) == 3000
    assert Counter(it.speaker for it in ds.items) == {s: 500 for s in FSDD_SPEAKERS}


def test_fsdd_by_name_uses_data_home(fsdd_dir, monkeypatch):
    monkeypatch.setenv("VOXPRINT_DATA", str(fsdd_dir.parent))
    ds = D.discover("fsdd")
    assert ds.layout == "fsdd" and ds.root == fsdd_dir / "recordings"


def test_fsdd_official_split(fsdd_dir):
    ds = D.discover(fsdd_dir)
    cfg = DataConfig()
    assert D.split_mode(ds, cfg)[0] == "official"
    out = D.assign_splits(ds.items, "official", cfg, seed=0)
    assert set(out) == {it.path for it in ds.items}  # nothing dropped
    for it in ds.items:
        if fsdd_index(it.path) <= 4:
            assert out[it.path] == "test", it.path
        else:
            assert out[it.path] in ("train", "val"), it.path
    # val is carved from train, stratified: every speaker gets its share
    for spk in FSDD_SPEAKERS:
        splits = Counter(out[it.path] for it in ds.items if it.speaker == spk)
        assert splits["test"] == 50
        assert splits["val"] == round(450 * cfg.val_fraction)
        assert splits["train"] == 450 - splits["val"]


def test_fsdd_val_is_reproducible(fsdd_dir):
    # discovery order is sorted, so the same seed gives the same split; another seed another val
    a = D.assign_splits(D.discover(fsdd_dir).items, "official", DataConfig(), seed=0)
    b = D.assign_splits(D.discover(fsdd_dir / "recordings").items, "official", DataConfig(), seed=0)
    c = D.assign_splits(D.discover(fsdd_dir).items, "official", DataConfig(), seed=1)
    assert a == b
    assert a != c
    assert {k for k, v in a.items() if v == "test"} == {k for k, v in c.items() if v == "test"}


def test_fsdd_rate(fsdd_dir):
    assert D.dataset_rate(D.discover(fsdd_dir)) == 8000


# --------------------------------------------------------------------------- speeches5


def test_speeches5_layout(s5_dir):
    ds = D.discover(s5_dir)
    assert ds.layout == "folders"
    assert ds.root == s5_dir / "audio"
    assert ds.noise_dir == s5_dir / "noise"
    assert ds.speakers == S5_SPEAKERS  # spelled as on disk
    assert not any(s.lower() in D.NOISE_FOLDERS or "noise" in s.lower() for s in ds.speakers)
    assert not any("noise" in Path(it.path).parts for it in ds.items)
    assert Counter(it.speaker for it in ds.items) == {s: 300 for s in S5_SPEAKERS}
    assert all(it.order == int(Path(it.path).stem) for it in ds.items)
    assert D.split_mode(ds, DataConfig())[0] == "block"
    assert D.dataset_rate(ds) == 16000


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_speeches5_block_split(s5_dir, seed):
    ds = D.discover(s5_dir)
    cfg = DataConfig()
    out = D.assign_splits(ds.items, "block", cfg, seed)
    by_spk = defaultdict(list)
    for it in ds.items:
        by_spk[it.speaker].append(it)
    for spk, items in by_spk.items():
        items.sort(key=lambda it: it.order)
        kept = [(it.order, out[it.path]) for it in items if it.path in out]
        split_of = dict(kept)
        assert {s for _, s in kept} == {"test", "val", "train"}, spk
        # one split per block of clip numbers
        block_split = {}
        for n, s in kept:
            assert block_split.setdefault(n // cfg.block_size, s) == s, (spk, n)
        # runs: the split sequence changes only at block boundaries
        for (n0, s0), (n1, s1) in zip(kept, kept[1:]):
            if s0 != s1:
                assert n0 // cfg.block_size != n1 // cfg.block_size, (spk, n0, n1)
        # guard clips: no kept clip touches a clip of another split
        for n, s in kept:
            for m in (n - 1, n + 1):
                assert split_of.get(m, s) == s, (spk, n, m)
        # exactly one clip dropped at each boundary between different splits
        changes = sum(
            block_split[b] != block_split[b - 1] for b in range(1, 300 // cfg.block_size)
        )
        assert len(items) - len(kept) == changes
        # block counts follow the fractions
        nb = 300 // cfg.block_size
        counts = Counter(block_split.values())
        assert counts["test"] == round(nb * cfg.test_fraction)
        assert counts["val"] == max(1, round(nb * cfg.val_fraction))


def test_block_split_needs_three_blocks(s5_dir):
    ds = D.discover(s5_dir)
    items = [it for it in ds.items if it.speaker == "Nelson_Mandela" and it.order < 40]
    with pytest.raises(DataError, match="Nelson_Mandela"):
        D.assign_splits(items, "block", DataConfig(), 0)


# --------------------------------------------------------------------------- speaker folders


def test_speaker_folders_exclude_noise_and_sort_labels(tmp_path, fsdd_dir):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "myset"
    # created in non-sorted order on purpose
    for spk, src in [("zed", "theo"), ("Alice", "george"), ("bob", "lucas")]:
        for i in range(3):
            link(rec / f"{i}_{src}_7.wav", root / spk / f"take_{i}.wav")
    link(rec / "0_jackson_0.wav", root / "noise" / "hum.wav")
    (root / "zed" / "readme.txt").write_text("not audio")
    (root / ".hidden").mkdir()
    link(rec / "1_jackson_0.wav", root / ".hidden" / "x.wav")
    ds = D.discover(root)
    assert ds.layout == "folders" and ds.root == root
    assert ds.speakers == sorted(["zed", "Alice", "bob"]) == ["Alice", "bob", "zed"]
    assert ds.noise_dir == root / "noise"
    assert len(ds.items) == 9
    assert all("noise" not in it.path and ".hidden" not in it.path for it in ds.items)
    assert all(it.order is None for it in ds.items)
    assert D.split_mode(ds, DataConfig())[0] == "random"


def test_speaker_folders_under_audio_with_sibling_noise(tmp_path, fsdd_dir):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "kaggle"
    for spk, src in [("B", "theo"), ("A", "george")]:
        for i in range(3):
            link(rec / f"{i}_{src}_7.wav", root / "audio" / spk / f"{i}.wav")
    link(rec / "0_jackson_0.wav", root / "noise" / "other" / "hum.wav")
    ds = D.discover(root)
    assert ds.root == root / "audio" and ds.noise_dir == root / "noise"
    assert ds.speakers == ["A", "B"]
    assert D.split_mode(ds, DataConfig())[0] == "block"


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "nothing" / "spk").mkdir(parents=True)
    with pytest.raises(DataError, match="no speaker folders"):
        D.discover(tmp_path / "nothing")


def test_missing_dataset_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no such dataset"):
        D.discover(tmp_path / "absent")


# --------------------------------------------------------------------------- CSV manifest


def _manifest(tmp_path: Path, fsdd_dir: Path, rows: list[tuple[str, str, str]]) -> Path:
    rec = fsdd_dir / "recordings"
    lines = ["path,speaker,split"]
    for i, (spk, split, name) in enumerate(rows):
        link(rec / f"{i % 10}_{spk}_{10 + i // 10}.wav", tmp_path / "clips" / spk / name)
        lines.append(f"clips/{spk}/{name},{spk},{split}")
    p = tmp_path / "list.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_manifest_split_column_wins(tmp_path, fsdd_dir):
    # numbered names would otherwise give the block split
    rows = [(spk, split, f"{k}.wav") for spk in ("theo", "george")
            for k, split in enumerate(["train"] * 6 + ["val"] * 2 + ["test"] * 2)]
    p = _manifest(tmp_path, fsdd_dir, rows)
    ds = D.discover(p)
    assert ds.layout == "manifest" and ds.speakers == ["george", "theo"]
    assert all(Path(it.path).exists() and Path(it.path).parent.parent.parent == tmp_path for it in ds.items)
    assert D.split_mode(ds, DataConfig())[0] == "manifest"
    out = D.assign_splits(ds.items, D.split_mode(ds, DataConfig())[0], DataConfig(), 0)
    for it in ds.items:
        assert out[it.path] == it.split


def test_manifest_without_val_carves_val_from_train(tmp_path, fsdd_dir):
    rows = [(spk, split, f"c{k}.wav") for spk in ("theo", "george", "lucas")
            for k, split in enumerate(["train"] * 20 + ["test"] * 4)]
    p = _manifest(tmp_path, fsdd_dir, rows)
    ds = D.discover(p)
    cfg = DataConfig()
    out = D.assign_splits(ds.items, D.split_mode(ds, cfg)[0], cfg, 0)
    for it in ds.items:
        if it.split == "test":
            assert out[it.path] == "test"
        else:
            assert out[it.path] in ("train", "val")
    for spk in ds.speakers:
        c = Counter(out[it.path] for it in ds.items if it.speaker == spk)
        assert c == {"train": 18, "val": 2, "test": 4}, spk


def test_manifest_bad_split_names_the_line(tmp_path, fsdd_dir):
    rows = [("theo", "train", "a.wav"), ("theo", "test", "b.wav"), ("theo", "validation", "c.wav")]
    p = _manifest(tmp_path, fsdd_dir, rows)
    with pytest.raises(DataError) as info:
        D.discover(p)
    msg = str(info.value)
    assert f"{p}:4" in msg and "validation" in msg and "train, val, test" in msg


def test_manifest_needs_header(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("file,who\na.wav,x\n")
    with pytest.raises(DataError, match="path,speaker"):
        D.discover(p)


# --------------------------------------------------------------------------- prepare


def _bad_files(folder: Path) -> dict[str, str]:
    """Write one of each kind of unusable file; returns name -> word in the reason."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("not audio at all\n" * 10)
    sf.write(folder / "silent.wav", np.zeros(8000, np.float32), 8000)
    sf.write(folder / "short.wav", 0.1 * np.ones(400, np.float32), 8000)
    nan = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    nan[10] = np.nan
    sf.write(folder / "nan.wav", nan, 8000, subtype="FLOAT")
    return {"empty.wav": "empty", "text.wav": "not readable", "silent.wav": "silent",
            "short.wav": "too short", "nan.wav": "nan"}


def _speaker(root: Path, rec: Path, name: str, src: str, n: int) -> None:
    for i in range(n):
        link(rec / f"{i % 10}_{src}_{10 + i // 10}.wav", root / name / f"take_{i}.wav")


def test_prepare_skips_bad_files_and_small_speakers(tmp_path, fsdd_dir, caplog):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "set"
    _speaker(root, rec, "anna", "george", 10)
    _speaker(root, rec, "ben", "theo", 10)
    _speaker(root, rec, "cleo", "lucas", 3)  # too few for min_clips=5
    bad = _bad_files(root / "anna")
    ds = D.discover(root)
    assert len(ds.items) == 28
    parts, labels, skipped, _ = D.prepare(ds, DataConfig(), seed=0, sample_rate=8000)

    assert labels == ["anna", "ben"]
    reasons = {Path(s.path).name: s.reason for s in skipped if not s.path.startswith("<")}
    assert set(reasons) == set(bad)
    for name, word in bad.items():
        assert word in reasons[name].lower(), (name, reasons[name])
    assert [s.path for s in skipped if s.path.startswith("<")] == ["<speaker cleo>"]
    # prepare only lists them: the caller reports each once (the unseen-speaker study loads the data again)
    assert not any("skip:" in r.getMessage() for r in caplog.records)

    used = [it for p in parts.values() for it in p.items]
    assert len(used) == 20 and len({it.path for it in used}) == 20
    assert not any(Path(it.path).name in bad for it in used)
    for split in ("train", "val", "test"):
        part = parts[split]
        assert set(part.labels.tolist()) == {0, 1}
        assert len(part.waves) == len(part.items) == len(part.labels)
        for it, w, lab in zip(part.items, part.waves, part.labels):
            assert labels[lab] == it.speaker
            assert w.dtype == np.float32 and w.ndim == 1 and np.isfinite(w).all()


def test_prepare_resamples(tmp_path, fsdd_dir):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "set"
    _speaker(root, rec, "anna", "george", 5)
    _speaker(root, rec, "ben", "theo", 5)
    ds = D.discover(root)
    parts, _, _, _ = D.prepare(ds, DataConfig(), seed=0, sample_rate=16000)
    it, w = parts["train"].items[0], parts["train"].waves[0]
    assert abs(len(w) - 2 * sf.info(it.path).frames) <= 1


def test_prepare_needs_two_speakers(tmp_path, fsdd_dir):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "set"
    _speaker(root, rec, "anna", "george", 8)
    _speaker(root, rec, "ben", "theo", 2)
    _bad_files(root / "ben")  # ben's bad files do not count
    ds = D.discover(root)
    with pytest.raises(DataError, match="at least 2 speakers"):
        D.prepare(ds, DataConfig(), seed=0, sample_rate=8000)


def test_prepare_unknown_speaker(tmp_path, fsdd_dir):
    rec = fsdd_dir / "recordings"
    root = tmp_path / "set"
    _speaker(root, rec, "anna", "george", 5)
    _speaker(root, rec, "ben", "theo", 5)
    ds = D.discover(root)
    with pytest.raises(DataError, match="no speaker carl"):
        D.prepare(ds, DataConfig(speakers=["anna", "carl"]), seed=0, sample_rate=8000)


def test_prepare_speeches5_capped_block_split(s5_dir):
    ds = D.discover(s5_dir)
    cfg = DataConfig(max_per_speaker=60, block_size=10, speakers=["Julia_Gillard", "Magaret_Tarcher"])
    parts, labels, skipped, _ = D.prepare(ds, cfg, seed=0, sample_rate=16000)
    assert labels == ["Julia_Gillard", "Magaret_Tarcher"] and skipped == []
    for spk in labels:
        kept = {it.order: s for s, p in parts.items() for it in p.items if it.speaker == spk}
        assert max(kept) < 60  # a contiguous run of clips
        for n, s in kept.items():
            assert kept.get(n + 1, s) == s
    assert all(len(w) == 16000 for p in parts.values() for w in p.waves)


def test_speechless_long_training_clips_are_skipped_short_ones_heard_whole(tmp_path, fsdd_dir):
    """With a detector, a training/validation clip longer than a window without speech is skipped
    with its reason; a clip that fits in one window is trained on whole (as it is heard in use); test
    clips are all kept."""
    from voxprint.vad import VadConfig

    rng = np.random.default_rng(0)
    rows = ["path,speaker,split"]
    for spk in ("george", "jackson"):
        clips = sorted((fsdd_dir / "recordings").glob(f"*_{spk}_*.wav"))[:8]
        for i, src in enumerate(clips):
            y, sr = sf.read(src, dtype="float32")
            long = np.concatenate([np.zeros(sr // 2, np.float32), y, np.zeros(sr // 2, np.float32)])  # > 1 s
            sf.write(tmp_path / f"{spk}{i}.wav", long, sr)
            rows.append(f"{spk}{i}.wav,{spk},{'test' if i < 2 else 'val' if i < 4 else 'train'}")
        hum = (0.01 * rng.standard_normal(int(1.6 * sr))).astype(np.float32)  # noise, no speech, > 1 s
        hum[: sr // 10] *= np.linspace(0, 1, sr // 10, dtype=np.float32)  # no click: an abrupt onset can read as speech
        sf.write(tmp_path / f"{spk}-hum.wav", hum, sr)
        sf.write(tmp_path / f"{spk}-hum-short.wav", hum[: sr // 2], sr)  # fits in a window
        sf.write(tmp_path / f"{spk}-hum-test.wav", hum, sr)
        rows += [f"{spk}-hum.wav,{spk},train", f"{spk}-hum-short.wav,{spk},train", f"{spk}-hum-test.wav,{spk},test"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    parts, _, skipped, _ = D.prepare(D.discover(tmp_path / "m.csv"), DataConfig(), 0, 8000, VadConfig())
    assert {Path(s.path).name for s in skipped} == {"george-hum.wav", "jackson-hum.wav"}
    assert all("no speech" in s.reason for s in skipped)
    train = {Path(it.path).name for it in parts["train"].items}
    assert {"george-hum-short.wav", "jackson-hum-short.wav"} <= train
    assert {"george-hum-test.wav", "jackson-hum-test.wav"} <= {Path(it.path).name for it in parts["test"].items}
    # what training hears: a long clip's speech (shorter than the padded clip), a short clip whole
    heard = dict(zip((Path(it.path).name for it in parts["train"].items), parts["train"].heard(8000)))
    wave = dict(zip((Path(it.path).name for it in parts["train"].items), parts["train"].waves))
    assert len(heard["george-hum-short.wav"]) == len(wave["george-hum-short.wav"])
    assert len(heard["george4.wav"]) < len(wave["george4.wav"]) - 8000 // 2


def test_two_clip_speakers_of_a_manifest_train_on_one_and_test_on_the_other(tmp_path, fsdd_dir):
    """min_clips=2 (the few-shot benchmark's setting): a speaker with one training and one test
    clip is kept, trained on and tested, without a validation clip; speakers with more give one."""
    rows = ["path,speaker,split"]
    for spk, n in (("george", 2), ("jackson", 4), ("lucas", 4)):
        for i, src in enumerate(sorted((fsdd_dir / "recordings").glob(f"*_{spk}_*.wav"))[:n]):
            rows.append(f"{src},{spk},{'test' if i == n - 1 else 'train'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    parts, labels, skipped, _ = D.prepare(D.discover(tmp_path / "m.csv"), DataConfig(min_clips=2), 0, 8000)
    assert labels == ["george", "jackson", "lucas"] and not skipped
    spk = {k: [it.speaker for it in p.items] for k, p in parts.items()}
    assert spk["train"].count("george") == 1 and spk["test"].count("george") == 1 and "george" not in spk["val"]
    assert {"jackson", "lucas"} <= set(spk["val"])


def test_a_few_unnumbered_files_among_numbered_clips_keep_the_block_split(s5_dir, tmp_path):
    """speeches5-style numbered slices plus two stray files per speaker: still the leak-free block
    split (said, with the count), the strays placed after the last number; a folder that is mostly
    unnumbered gets the random split, saying how many files were numbered."""
    root = tmp_path / "s"
    for spk in ("Julia_Gillard", "Magaret_Tarcher"):
        for i in range(60):
            link(s5_dir / "audio" / spk / f"{i}.wav", root / spk / f"{i}.wav")
        for name in ("take-b.wav", "zz-extra.wav"):
            link(s5_dir / "audio" / spk / "100.wav", root / spk / name)
    ds = D.discover(root)
    mode, why = D.split_mode(ds, DataConfig())
    assert mode == "block" and "4 file(s) not numbered" in why
    cfg = DataConfig(block_size=10)
    out = D.assign_splits(ds.items, "block", cfg, 0)
    for spk in ("Julia_Gillard", "Magaret_Tarcher"):
        seq = [out.get(str(root / spk / f"{i}.wav")) for i in range(60)] + \
              [out.get(str(root / spk / n)) for n in ("take-b.wav", "zz-extra.wav")]
        kept = [s for s in seq if s is not None]
        assert len(set(kept)) == 3  # train, val and test all drawn
        for a, b in zip(seq, seq[1:]):  # a split changes only across a dropped guard clip
            assert a is None or b is None or a == b, (spk, seq)
    mostly = tmp_path / "m"
    for spk in ("A", "B"):
        for i in range(5):
            link(s5_dir / "audio" / "Julia_Gillard" / f"{i}.wav", mostly / spk / f"take{i}.wav")
        link(s5_dir / "audio" / "Julia_Gillard" / "9.wav", mostly / spk / "9.wav")
    mode, why = D.split_mode(D.discover(mostly), DataConfig())
    assert mode == "random" and "2 of 12 files are numbered" in why


def test_a_speaker_whose_training_clips_hold_no_speech_is_skipped_not_fatal(tmp_path, fsdd_dir):
    """Every long training clip of 'hum' holds noise only: that speaker is listed as skipped and
    the run goes on with the others (labels renumbered), as for any other unusable speaker."""
    from voxprint.vad import VadConfig

    rng = np.random.default_rng(1)
    rows = ["path,speaker,split"]
    for spk in ("george", "jackson"):
        for i, src in enumerate(sorted((fsdd_dir / "recordings").glob(f"*_{spk}_*.wav"))[:6]):
            rows.append(f"{src},{spk},{'test' if i == 0 else 'val' if i == 1 else 'train'}")
    for i in range(6):
        hum = (0.01 * rng.standard_normal(int(1.6 * 8000))).astype(np.float32)
        hum[:800] *= np.linspace(0, 1, 800, dtype=np.float32)  # no click at the start
        sf.write(tmp_path / f"hum{i}.wav", hum, 8000)
        rows.append(f"hum{i}.wav,ahum,{'test' if i == 0 else 'val' if i == 1 else 'train'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    parts, labels, skipped, _ = D.prepare(D.discover(tmp_path / "m.csv"), DataConfig(), 0, 8000, VadConfig())
    assert labels == ["george", "jackson"]
    assert "<speaker ahum>" in {s.path for s in skipped}
    for p in parts.values():
        assert {it.speaker for it in p.items} <= {"george", "jackson"}
        assert [labels[k] for k in p.labels] == [it.speaker for it in p.items]
