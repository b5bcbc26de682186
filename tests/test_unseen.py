"""The unseen-speaker study: per-seed speaker partitions, systems kept off speakers they heard,
dev-speaker thresholds, trial files that another system scores identically, seeds aggregated."""

from __future__ import annotations

import numpy as np
import pytest

from voxprint import config as C
from voxprint import protocol as P
from voxprint import unseen as U
from voxprint.io import read_json


def spectral_embed(waves):
    """A cheap stand-in for an encoder: mean log power in 24 bands of 32-ms frames."""
    out = []
    for w in waves:
        n = len(w) // 512 * 512
        frames = np.abs(np.fft.rfft(np.asarray(w[:n]).reshape(-1, 512), axis=1)) ** 2
        bands = np.add.reduceat(frames, np.linspace(0, frames.shape[1], 25).astype(int)[:-1], axis=1)
        out.append(np.log(bands.mean(0) + 1e-9))
    out = np.asarray(out)
    return out - out.mean(1, keepdims=True)


@pytest.fixture
def cfg(shared_data):
    return C.load(None, ["data.path=speeches5", "eval.verification_pool=[libri-dev]", "eval.study_seeds=2",
                         "eval.enroll_clips=2", "eval.study_max_clips=5"])


def test_partitions_are_disjoint_cover_the_speakers_and_change_with_the_seed():
    speakers = [f"s{i:02d}" for i in range(12)]
    seen = set()
    for seed in range(4):
        p = U.partition("any", speakers, seed)
        assert sorted(p["train"] + p["dev"] + p["test"]) == speakers
        assert not (set(p["train"]) & set(p["dev"]) or set(p["train"]) & set(p["test"]) or set(p["dev"]) & set(p["test"]))
        assert len(p["test"]) >= 2 and p["dev"]
        assert U.partition("any", speakers, seed) == p  # reproducible
        seen.add(tuple(p["test"]))
    assert len(seen) > 1  # seeds redraw the speakers
    libri = U.partition("libri-dev", [], 3)
    assert libri == {k: P.load_split()[k] for k in ("train", "dev", "test")}  # the encoder's fixed split


def test_a_system_is_never_scored_on_speakers_it_heard_and_trial_files_reproduce_its_figures(cfg, tmp_path):
    lengths = {"fresh": set(), "replay": set()}

    def recording(name):
        def embed(waves):
            lengths[name] |= {len(w) for w in waves}
            return spectral_embed(waves)
        return embed

    def systems_for(parts, seed):
        test = parts["speeches5"]["test"]
        return [U.System("fresh", recording("fresh"), set()),
                U.System("heard", spectral_embed, {("speeches5", test[0])})]  # heard one test speaker

    result = U.study(cfg, tmp_path, systems_for)
    scored = {(s["name"], s["dataset"]) for s in result["systems"]}
    # "heard" trained on a speeches5 test speaker: never scored there, still scored on libri-dev
    assert scored == {("fresh", "speeches5"), ("fresh", "libri-dev"), ("heard", "libri-dev")}
    for s in result["systems"]:
        assert len(s["eer"]) == 2 and all(0 <= e <= 1 for e in s["eer"])  # one figure per seed
    saved = read_json(tmp_path / "verification.json")
    assert saved["settings"] == U.study_settings(cfg)
    for seed in (0, 1):
        rows = P.read_trials(tmp_path / "verification" / f"s{seed}" / "speeches5" / "trials.txt")
        enrolled = sorted({e for e, _, _ in rows})
        assert rows and all(e in enrolled for e, _, _ in rows)
        assert sum(lab == "target" for _, _, lab in rows) > 0
    # another system scoring the written trial files hears exactly the same audio: the same figures
    C.save(cfg, tmp_path / "config.yaml")  # as in a run folder
    U.score_trial_files(tmp_path, "replay", lambda w: recording("replay")([w])[0])
    assert lengths["replay"] == lengths["fresh"]  # every segment cut again to the sample
    by = {(s["name"], s["dataset"], s["condition"]): s for s in read_json(tmp_path / "verification.json")["systems"]}
    for key in [(d, c) for d in ("speeches5", "libri-dev") for c in ("clean", "white-5dB")]:
        replay, fresh = by[("replay", *key)], by[("fresh", *key)]
        assert replay["eer"] == pytest.approx(fresh["eer"]) and replay["n_target"] == fresh["n_target"]
        assert replay["threshold"] == pytest.approx(fresh["threshold"])


def test_dev_thresholds_use_only_dev_speakers_the_system_never_heard():
    rng = np.random.default_rng(0)
    segs = [("d", P.Segment(f"{spk}/{i}", spk, i, i < 2, rng.standard_normal(8000).astype(np.float32)))
            for spk in ("a", "b", "c") for i in range(4)]
    calls = []

    def embed(waves):
        calls.append(len(waves))
        return spectral_embed(waves)

    fresh = U.System("x", embed, set())
    assert U.dev_threshold(fresh, segs) is not None
    assert U.dev_threshold(U.System("y", embed, {("d", "a"), ("d", "b")}), segs) is None  # one speaker left
    calls.clear()
    U.dev_threshold(U.System("z", embed, {("d", "a")}), segs)
    assert calls and max(calls) <= 8  # only b's and c's segments were embedded


def test_aggregate_keeps_one_value_per_seed():
    row = {"name": "n", "dataset": "d", "condition": "clean", "n_target": 3, "n_nontarget": 9, "det": {},
           "min_dcf": 0.5, "known_accuracy": 1.0, "unknown_rejection": 0.5, "threshold": 0.7}
    out = U.aggregate([row | {"eer": 0.1}, row | {"eer": 0.3}, row | {"eer": 0.2, "condition": "white-5dB"}])
    assert [(o["condition"], o["eer"]) for o in out] == [("clean", [0.1, 0.3]), ("white-5dB", [0.2])]


def test_datasets_missing_from_the_data_home_are_left_out_and_nothing_to_score_is_not_an_error(tmp_path, monkeypatch,
                                                                                              caplog):
    """A fresh install has FSDD only: the study leaves out what is not there, says so, and when no
    system can be scored the run still ends well (no verification.json, one line why)."""
    from conftest import SHARED_DATA

    home = tmp_path / "home"
    home.mkdir()
    (home / "fsdd").symlink_to(SHARED_DATA / "fsdd")
    monkeypatch.setenv("VOXPRINT_DATA", str(home))
    cfg = C.load(None, ["eval.study_seeds=1", "eval.study_max_clips=4"])  # pool: speeches5, libri-dev
    with caplog.at_level("WARNING"):
        assert U.available_specs(cfg) == ["fsdd"]
        heard = U.System("heard", spectral_embed, {("fsdd", s) for s in U._dataset_speakers("fsdd")[1]})
        assert U.study(cfg, tmp_path, lambda parts, seed: [heard]) == {}
    text = caplog.text
    assert "speeches5 left out" in text and "libri-dev left out" in text and "nothing to score" in text
    assert not (tmp_path / "verification.json").exists()


def test_a_dataset_whose_speakers_have_no_clip_beyond_their_enrolment_is_left_out_with_a_line(cfg, tmp_path, caplog):
    """A few clips per speaker (configs/fewshot.yaml's kind of set): eval.enroll_clips takes them all,
    so the dataset gives no same-speaker trial. It is left out, said once per seed, and the other
    datasets are still scored - the finished grid never fails at its last step."""
    import dataclasses

    few = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, enroll_clips=5))  # = study_max_clips
    with caplog.at_level("WARNING"):
        result = U.study(few, tmp_path, lambda parts, seed: [U.System("fresh", spectral_embed, set())])
    assert {s["dataset"] for s in result["systems"]} == {"libri-dev"}
    assert caplog.text.count("speeches5 left out: its test speakers give no same-speaker trial") == 2  # 2 seeds
    assert not (tmp_path / "verification" / "s0" / "speeches5").exists()
