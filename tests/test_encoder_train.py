"""`voxprint encoder train` end to end on a tiny budget: it writes an ordinary model folder
that Recognizer opens, with weights loadable with weights_only=True, an int8 ONNX that agrees
with PyTorch, a dev-speaker threshold and provenance whose checksums match."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file

from voxprint import protocol as P
from voxprint.cli import main
from voxprint.encoder.folder import verify_checksums
from voxprint.inference import Recognizer
from voxprint.io import read_json

QUICK = ["--set", "steps=2", "--set", "val_every=1", "--set", "batch_size=4", "--set", "clean_batch=2",
         "--set", "crop_s=[0.5,0.5]", "--set", "sources={libri: 1.0}", "--set", "dev_speakers=4",
         "--set", "threads=1"]


def test_encoder_train_writes_a_model_folder(tmp_path, shared_data, capsys):
    out = tmp_path / "enc"
    assert main(["encoder", "train", "--out", str(out), "--data", str(shared_data), *QUICK]) == 0
    assert "best dev step" in capsys.readouterr().out
    state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert verify_checksums(out) == {}
    prov = read_json(out / "provenance.json")
    assert prov["steps"] == 2 and prov["best_step"] in (0, 1, 2)
    assert [h["step"] for h in prov["dev_history"]] == [0, 1, 2]
    assert prov["sources"][0]["source"] == "libri" and prov["sources"][0]["clips"] == 76
    assert not any("running_tap" in r.get("file", "") for r in prov["noise"])
    assert np.isfinite(read_json(out / "calibration.json")["threshold"])
    assert read_json(out / "labels.json") == []
    notice = (out / "NOTICE").read_text()  # derived from GE2E: its Apache-2.0 notice travels with it
    assert "Resemble.AI" in notice and "Apache License" in notice and "TERMS AND CONDITIONS" in notice

    segs = P.segments(shared_file("libri-dev"), P.load_split()["test"][:1])
    waves = [s.wave for s in segs[:3]]
    emb = Recognizer(out).score_waves(waves)[1]
    assert emb.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    emb_q = Recognizer(out, engine="onnx").score_waves(waves)[1]
    assert np.min(np.sum(emb * emb_q, axis=1)) > 0.98  # int8 weights: close, not equal


def test_unknown_training_option_is_one_clear_line(tmp_path, shared_data, capsys):
    assert main(["encoder", "train", "--out", str(tmp_path / "x"), "--data", str(shared_data),
                 "--set", "stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("voxprint: encoder train: unknown key stepz; valid keys: steps") and "\n" not in err


@pytest.mark.parametrize("setting, message", [
    ("steps=-5", "steps = -5 is out of range; valid: 1 ≤ steps ≤ 10000000 (optimizer steps)"),
    ("val_every=0", "val_every = 0 is out of range"),
    ("snr_db=[20,-5]", "snr_db [20.0, -5.0]: expected [low, high] with low ≤ high"),
    ("steps=many", "steps: expected an integer, got 'many'"),
])
def test_a_bad_training_setting_is_refused_in_one_line_before_training(tmp_path, shared_data, capsys, setting,
                                                                       message):
    assert main(["encoder", "train", "--out", str(tmp_path / "x"), "--data", str(shared_data),
                 "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"voxprint: encoder train: {message}")
    assert "\n" not in err and not (tmp_path / "x").exists()


def test_a_student_starts_from_an_encoder_folder_at_its_own_frame_hop():
    from voxprint.encoder.folder import load_net, sha256
    from voxprint.encoder.train import EncoderTrainConfig, init_record, make_student
    from voxprint.features import build_feature
    from voxprint.pretrained import ENCODER_DIR

    cfg = EncoderTrainConfig(init=str(ENCODER_DIR), hop_ms=20.0, denoise=1.5)
    model_cfg, net = make_student(cfg, None, [])
    _, ref = load_net(ENCODER_DIR)
    assert set(net.state_dict()) == set(ref.state_dict())
    assert all(torch.equal(net.state_dict()[k], v) for k, v in ref.state_dict().items())
    assert (model_cfg.features.hop_ms, model_cfg.features.denoise) == (20.0, 1.5)
    assert build_feature(model_cfg.features, 16000)(torch.zeros(16000)).shape == (40, 51)  # 1 + 16000 // 320
    assert init_record(str(ENCODER_DIR))["model.pt sha256"] == sha256(ENCODER_DIR / "model.pt")
    assert init_record(None) is None


def test_init_from_a_folder_that_is_not_a_ge2e_encoder_is_one_clear_line(tmp_path, shared_data, capsys):
    from voxprint import config as C
    from voxprint.encoder.folder import encoder_config

    bad = tmp_path / "cnn"
    bad.mkdir()
    C.save(encoder_config(["model.name=cnn"]), bad / "config.yaml")
    assert main(["encoder", "train", "--out", str(tmp_path / "x"), "--data", str(shared_data), *QUICK,
                 "--set", f"init={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"voxprint: init: {bad} holds a 'cnn' model, not a ge2e encoder"


def test_ocean_train_splits_apart_and_keeps_the_reported_test_half(shared_data):
    """Encoder TRAIN and DEV speakers come from the half other benchmarks tune on, children and adults in
    both; the TEST half every report uses is the one benchmarks/profiles.py holds out, untouched."""
    from benchmarks.profiles import CHILD_MAX_AGE, ocean_rows, ocean_split
    from voxprint.encoder import data as D

    split, rows = D.ocean_split(), ocean_rows(shared_data / "ocean-train")
    halves = ocean_split(rows)
    assert split["test"] == halves["test"]
    assert sorted(split["train"] + split["dev"]) == halves["dev"] and not set(split["train"]) & set(split["dev"])
    kids = {r["speaker"] for r in rows if int(r["age"]) <= CHILD_MAX_AGE}
    assert kids & set(split["train"]) and kids & set(split["dev"]) and set(split["dev"]) - kids
    from benchmarks.encoder_sources import enc_split

    assert enc_split(rows) == {"train": split["train"], "dev": split["dev"]}  # the file is what --write-split writes


def test_training_on_ocean_train_checks_its_dev_speakers_too(tmp_path, shared_data):
    """A source with dev speakers of its own is checked beside libri-dev's; the choice is the mean over both."""
    from voxprint.encoder import data as D

    out = tmp_path / "enc"
    quick = [q.replace("sources={libri: 1.0}", "sources={libri: 0.5, ocean: 0.5}") for q in QUICK]
    assert main(["encoder", "train", "--out", str(out), "--data", str(shared_data), *quick,
                 "--set", "steps=1", "--set", "dev_speakers=3"]) == 0
    prov = read_json(out / "provenance.json")
    assert [s["source"] for s in prov["sources"]] == ["libri", "ocean"]
    for h in prov["dev_history"]:
        assert set(h["sources"]) == {"libri", "ocean"}
        means = [np.mean([h["sources"][s][c] for s in h["sources"]]) for c in ("clean", "white-5dB", "white-0dB")]
        assert h["mean_eer"] == pytest.approx(np.mean(means))
    assert "ocean dev split (3 speakers)" in read_json(out / "calibration.json")["speakers"]
    segs = D.ocean_segments(shared_data / "ocean-train", D.ocean_split()["dev"][:1])
    assert all(s.speaker.startswith("ocean/") for s in segs) and sum(s.enrol for s in segs) == len(segs) // 2
