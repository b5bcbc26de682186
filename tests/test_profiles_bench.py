"""benchmarks/profiles.py on synthetic data: the profile kinds score what they claim (a speaker whose clips
form two clusters is found by k-centroid and nearest-clip scoring where the mean misses it), and the cutting
never lets a speaker's enrolment and test audio overlap in time."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import profiles as B
from voxprint.vectors import unit

SR = B.SR


def _around(direction, n: int, rng, spread: float = 0.02) -> np.ndarray:
    d = np.asarray(direction, dtype=np.float64)
    return unit(d + spread * rng.standard_normal((n, len(d))))


def _two_voices(rng):
    """Speaker `a` speaks in two styles (clusters on axes 0 and 1); `b` sits between them, nearer axis 0."""
    a = np.concatenate([_around([1, 0, 0, 0], 3, rng), _around([0, 1, 0, 0], 3, rng)])
    b = _around([0.8, 0.6, 0, 0], 5, rng)
    return {"a": a, "b": b}


def test_two_cluster_speaker_is_missed_by_the_mean_and_found_by_centroids_and_nearest_clip():
    rng = np.random.default_rng(0)
    clips = _two_voices(rng)
    tests = _around([1, 0, 0, 0], 4, rng)  # `a` in its first style
    by_kind = {k: B.identify({s: B.profile(c, k) for s, c in clips.items()}, tests) for k in B.PROFILES}
    assert by_kind["mean"] == ["b"] * 4
    assert by_kind["k2"] == by_kind["k3"] == by_kind["nearest"] == ["a"] * 4


def test_every_kind_names_well_separated_speakers():
    rng = np.random.default_rng(1)
    clips = {s: _around(np.eye(4)[i], 5, rng) for i, s in enumerate("wxyz")}
    tests = np.concatenate([_around(np.eye(4)[i], 2, rng) for i in range(4)])
    for kind in B.PROFILES:
        assert B.identify({s: B.profile(c, kind) for s, c in clips.items()}, tests) == list("wwxxyyzz"), kind


def test_kmeans_finds_the_two_clusters_and_gives_at_most_one_centroid_per_clip():
    rng = np.random.default_rng(2)
    emb = _two_voices(rng)["a"]
    cent = B.kmeans_centroids(emb, 2)
    assert cent.shape == (2, 4)
    np.testing.assert_allclose(np.linalg.norm(cent, axis=1), 1.0)
    assert sorted(np.argmax(np.abs(cent), axis=1).tolist()) == [0, 1]  # one centroid per style
    assert B.kmeans_centroids(emb[:2], 3).shape == (2, 4)
    np.testing.assert_allclose(B.profile(emb, "mean")[0], unit(emb.mean(0)))
    with pytest.raises(ValueError):
        B.profile(emb, "median")


def _spans_overlap(a: B.Piece, b: B.Piece) -> bool:
    return a.start < b.end and b.start < a.end


@pytest.mark.parametrize("whole", [False, True])
def test_enrolment_and_test_never_overlap_and_test_lengths_share_the_same_audio(whole):
    lengths = [3.2, 4.1, 2.5, 1.7, 2.9]  # seconds per utterance
    utts = [(i + 1 + np.arange(int(s * SR)) / 1e6).astype(np.float32) for i, s in enumerate(lengths)]
    pieces = B.cut_speaker("s", utts, whole_utterances=whole)
    enrol = [p for p in pieces if p.role == "enrol"]
    test = [p for p in pieces if p.role == "test"]
    assert enrol and test
    assert not any(_spans_overlap(e, t) for e in enrol for t in test)
    joined = np.concatenate(utts)
    for p in pieces:
        np.testing.assert_array_equal(p.wave, joined[round(p.start * SR): round(p.end * SR)])
    for sec in B.LENGTHS:
        mine = [p for p in test if p.kind == f"test-{sec:g}"]
        assert len(mine) == int(B.TEST_S / sec)
        assert all(abs(p.end - p.start - sec) < 1e-9 for p in mine)
        assert (min(p.start for p in mine), max(p.end for p in mine)) == (test[0].start, test[0].start + B.TEST_S)
    short = [p for p in enrol if p.kind == "5x1s"]
    assert [(p.start, p.end) for p in short] == [(float(i), float(i + 1)) for i in range(5)]
    if whole:  # the test side starts where an utterance does: the last two hold 4.6 s >= 4 s
        assert test[0].start == pytest.approx(sum(lengths[:3]))
        assert len([p for p in enrol if p.kind == "rest"]) == 3
    else:
        assert test[0].start == pytest.approx(sum(lengths) - B.TEST_S)


def test_too_short_a_speaker_is_left_out():
    assert B.cut_speaker("s", [np.ones(int(8.9 * SR), np.float32)]) == []
    assert B.cut_speaker("s", [np.ones(int(9.0 * SR), np.float32)])


def test_ocean_split_is_seeded_disjoint_and_stratified():
    rows = [{"speaker": f"{i:04d}", "age": str(8 if i < 10 else 25)} for i in range(25)]
    split = B.ocean_split(rows)
    assert split == B.ocean_split(rows)
    assert not set(split["dev"]) & set(split["test"])
    assert sorted(split["dev"] + split["test"]) == [r["speaker"] for r in rows]
    kids = {r["speaker"] for r in rows if r["age"] == "8"}
    assert len(set(split["dev"]) & kids) == 5 and len(set(split["dev"]) - kids) == 7
    assert B.ocean_split(rows, seed=1) != split
