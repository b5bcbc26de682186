"""The libri-dev protocol: segments, the saved speaker split, trials, seeded noise at an exact
SNR, and metrics that are right for systems whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from voxprint import protocol as P
from voxprint.augment import power
from voxprint.errors import DataError


def test_cut_keeps_full_segments_and_a_last_piece_of_one_second_or_more():
    sr = P.SAMPLE_RATE
    assert [len(p) for p in P.cut(np.ones(int(5.5 * sr)))] == [2 * sr, 2 * sr, int(1.5 * sr)]
    assert [len(p) for p in P.cut(np.ones(int(4.9 * sr)))] == [2 * sr, 2 * sr]  # 0.9 s dropped
    assert P.enrol_count(5) == 2 and P.enrol_count(6) == 3 and P.enrol_count(1) == 1


def test_saved_split_is_disjoint_and_reproduced_from_its_seed():
    root = shared_file("libri-dev")
    saved = P.load_split()
    assert (len(saved["train"]), len(saved["dev"]), len(saved["test"])) == (76, 20, 30)
    tr, dv, te = (set(saved[k]) for k in ("train", "dev", "test"))
    assert not (tr & dv or tr & te or dv & te)
    assert tr | dv | te == {p.name for p in root.iterdir() if p.is_dir()}
    assert P.make_split(root, seed=saved["seed"]) == saved


@pytest.fixture(scope="module")
def segs():
    return P.segments(shared_file("libri-dev"), P.load_split()["test"][:4])


def test_trials_are_every_test_segment_against_every_enrolled_speaker(segs, tmp_path):
    rows = P.trials(segs)
    tests = [s for s in segs if not s.enrol]
    assert len(rows) == 4 * len(tests)
    assert sum(lab == "target" for *_, lab in rows) == len(tests)
    enrol_ids = {s.id for s in segs if s.enrol}
    assert not enrol_ids & {t for _, t, _ in rows}  # enrolment segments are never tested
    for spk in {s.speaker for s in segs}:  # enrolment = the first half
        own = sorted((s for s in segs if s.speaker == spk), key=lambda s: s.index)
        assert [s.enrol for s in own] == [i < P.enrol_count(len(own)) for i in range(len(own))]
    P.write_trials(tmp_path / "trials.txt", rows)
    assert P.read_trials(tmp_path / "trials.txt") == rows
    (tmp_path / "bad.txt").write_text("a b maybe\n")
    with pytest.raises(DataError, match="bad.txt:1"):
        P.read_trials(tmp_path / "bad.txt")


def test_noise_is_seeded_per_segment_and_at_the_exact_snr(segs):
    cond = P.Condition("white-5dB", "white", 5.0)
    a, b = P.NoiseBank().apply(segs[0], cond), P.NoiseBank().apply(segs[0], cond)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, P.NoiseBank(seed=1).apply(segs[0], cond))
    noise = a - segs[0].wave
    assert 10 * np.log10(power(segs[0].wave) / power(noise)) == pytest.approx(5.0, abs=0.01)
    tap = P.conditions(shared_file("noise"))[-1]
    assert tap.name == "running_tap-5dB"
    mixed = P.NoiseBank().apply(segs[1], tap)
    assert 10 * np.log10(power(segs[1].wave) / power(mixed - segs[1].wave)) == pytest.approx(5.0, abs=0.01)


def test_metrics_for_an_oracle_and_for_a_system_that_knows_nothing(segs):
    names = sorted({s.speaker for s in segs})

    def oracle(waves):  # the speaker's one-hot, recovered from the segment (test-only trick)
        out = np.zeros((len(waves), len(names)))
        for i, w in enumerate(waves):
            spk = next(s.speaker for s in segs if len(s.wave) == len(w) and np.allclose(s.wave, w))
            out[i, names.index(spk)] = 1.0
        return out

    (m,) = P.evaluate(oracle, segs, [P.Condition("clean")])
    assert m["eer"] == 0.0 and m["top1"] == 1.0 and m["n_enrolled"] == 4
    rng = np.random.default_rng(0)
    (r,) = P.evaluate(lambda w: rng.standard_normal((len(w), 64)), segs, [P.Condition("clean")])
    assert r["eer"] > 0.2 and r["min_dcf"] > 0.5
    with pytest.raises(DataError, match="embeddings for"):
        P.evaluate(lambda w: np.zeros((1, 4)), segs, [P.Condition("clean")])
