"""Verification metrics against cases whose answers are known analytically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voxprint.errors import VoxprintError
from voxprint.verification import (
    cosine_scores,
    det_curve,
    eer,
    min_dcf,
    open_set,
    threshold_at_far,
    trial_pairs,
)


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _gauss(d, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(d / 2, 1, n), rng.normal(-d / 2, 1, n)])
    labels = np.concatenate([np.ones(n, int), np.zeros(n, int)])
    return scores, labels


def test_cosine_scores():
    a = np.array([[3.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 5.0], [2.0, 0.0], [-1.0, -1.0]])
    s = cosine_scores(a, b)
    assert s.shape == (2, 3)
    np.testing.assert_allclose(s, [[0, 1, -1 / math.sqrt(2)], [1 / math.sqrt(2), 1 / math.sqrt(2), -1]], atol=1e-12)
    with pytest.raises(VoxprintError):
        cosine_scores(a, np.ones((1, 3)))


@pytest.mark.parametrize("d", [1.0, 2.0, 3.0])
def test_eer_two_gaussians(d):
    scores, labels = _gauss(d)
    rate, thr = eer(scores, labels)
    assert abs(rate - _phi(-d / 2)) < 0.01
    assert abs(thr) < 0.05  # symmetric classes cross at 0


def test_eer_interpolates():
    # pos {2, 3, 4}, neg {1, 2.5}. At threshold 2.5: fpr 1/2, fnr 1/3; at 3: fpr 0, fnr 1/3. The curves cross
    # inside that segment at 1/3; either end point alone would give (fpr+fnr)/2 = 5/12 or 1/6.
    scores = np.array([2, 3, 4, 1, 2.5])
    labels = np.array([1, 1, 1, 0, 0])
    rate, t = eer(scores, labels)
    assert rate == pytest.approx(1 / 3)
    assert 2.5 <= t <= 3


def test_perfect_and_reversed():
    pos, neg = np.linspace(1, 2, 50), np.linspace(-2, -1, 70)
    scores = np.concatenate([pos, neg])
    labels = np.r_[np.ones(50), np.zeros(70)]
    rate, thr = eer(scores, labels)
    assert rate == 0.0 and -1 < thr <= 1
    dcf, dthr = min_dcf(scores, labels)
    assert dcf == 0.0 and -1 < dthr <= 1
    assert eer(-scores, labels)[0] == pytest.approx(1.0)
    assert min_dcf(-scores, labels)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("p_target,c_miss,c_fa", [(0.01, 1, 1), (0.05, 1, 1), (0.5, 1, 1), (0.01, 10, 1)])
def test_min_dcf_bounds(p_target, c_miss, c_fa):
    rng = np.random.default_rng(3)
    noise = rng.normal(size=20_000)
    labels = rng.integers(0, 2, size=20_000)
    # uninformative scores: nothing beats the best trivial system, so normalised minDCF ~ 1
    dcf, _ = min_dcf(noise, labels, p_target, c_miss, c_fa)
    assert 0.9 <= dcf <= 1.0
    scores, labels = _gauss(2.0, n=20_000)
    dcf, thr = min_dcf(scores, labels, p_target, c_miss, c_fa)
    assert 0 < dcf < 1
    # the threshold reproduces the cost
    pos, neg = scores[labels == 1], scores[labels == 0]
    cost = c_miss * p_target * np.mean(pos < thr) + c_fa * (1 - p_target) * np.mean(neg >= thr)
    assert cost / min(c_miss * p_target, c_fa * (1 - p_target)) == pytest.approx(dcf)


def test_min_dcf_analytic():
    # p_target=0.5 with unit costs: normalised DCF = fnr + fpr, minimised at the crossing: 2*Phi(-d/2)
    scores, labels = _gauss(2.0)
    assert min_dcf(scores, labels, p_target=0.5)[0] == pytest.approx(2 * _phi(-1.0), abs=0.01)


def test_det_curve_monotone():
    scores, labels = _gauss(1.5, n=5000)
    scores = np.round(scores, 1)  # plenty of ties
    fpr, fnr, thr = det_curve(scores, labels)
    assert np.all(np.diff(thr) > 0) and np.all(np.isfinite(thr))
    assert np.all(np.diff(fpr) <= 0) and np.all(np.diff(fnr) >= 0)
    assert (fpr[0], fnr[0], fpr[-1], fnr[-1]) == (1.0, 0.0, 0.0, 1.0)
    # matches a direct count at every threshold
    pos, neg = scores[labels == 1], scores[labels == 0]
    for k in range(0, thr.size, 7):
        assert fpr[k] == np.mean(neg >= thr[k]) and fnr[k] == np.mean(pos < thr[k])


@pytest.mark.parametrize("far", [0.0, 0.001, 0.01, 0.1, 0.5, 1.0])
def test_threshold_at_far(far):
    scores, labels = _gauss(2.0, n=3000, seed=4)
    scores = np.round(scores, 2)  # ties make off-by-one mistakes visible
    thr = threshold_at_far(scores, labels, far)
    neg = scores[labels == 0]
    assert np.mean(neg >= thr) <= far
    # smallest: any lower score value would exceed the FAR
    lower = np.unique(scores[scores < thr])
    if lower.size:
        assert np.mean(neg >= lower[-1]) > far


def test_threshold_at_far_exact_fraction():
    neg = np.arange(10, dtype=float)  # 0..9
    scores = np.r_[neg, [100.0]]
    labels = np.r_[np.zeros(10), 1]
    thr = threshold_at_far(scores, labels, 0.1)  # one false accept allowed: accept only the 9
    assert 8 < thr <= 9


def test_trial_pairs():
    labels = np.array(["a", "b", "a", "c", "b"])
    i, j, same = trial_pairs(labels)
    assert len(i) == 10 and np.all(i < j)
    assert set(zip(i.tolist(), j.tolist())) == {(x, y) for x in range(5) for y in range(x + 1, 5)}
    assert same.sum() == 2  # (0,2) and (1,4)
    big = np.arange(2000) // 10
    i, j, same = trial_pairs(big, max_pairs=5000, seed=7)
    assert len(i) == 5000 and np.all(i < j) and np.all(j < 2000)
    assert len(set(zip(i.tolist(), j.tolist()))) == 5000  # no duplicates
    np.testing.assert_array_equal(same, big[i] == big[j])
    i2, j2, _ = trial_pairs(big, max_pairs=5000, seed=7)
    np.testing.assert_array_equal(i, i2)
    np.testing.assert_array_equal(j, j2)
    assert not np.array_equal(i, trial_pairs(big, max_pairs=5000, seed=8)[0])
    # the subset spans the whole triangle, not a corner of it
    assert i.min() < 100 and i.max() > 1800


def test_open_set():
    scores = np.array(
        [
            [0.9, 0.1, 0.2],  # known 0, right and above threshold -> correct
            [0.3, 0.8, 0.1],  # known 1, right, above -> correct
            [0.6, 0.5, 0.1],  # known 1, argmax wrong -> wrong
            [0.1, 0.4, 0.2],  # known 1, right but below threshold -> wrong
            [0.2, 0.3, 0.1],  # unknown, max below -> rejected
            [0.7, 0.1, 0.1],  # unknown, max above -> falsely accepted
        ]
    )
    true_index = np.array([0, 1, 1, 1, -1, -1])
    r = open_set(scores, true_index, threshold=0.5)
    assert r == {"known_accuracy": 0.5, "unknown_rejection": 0.5, "n_known": 4, "n_unknown": 2}
    r = open_set(scores[:4], true_index[:4], 0.0)
    assert r["known_accuracy"] == 0.75 and r["n_unknown"] == 0 and math.isnan(r["unknown_rejection"])
    with pytest.raises(VoxprintError):
        open_set(scores, np.array([0, 1, 1, 1, -1, 3]), 0.5)


def test_needs_both_classes():
    with pytest.raises(VoxprintError):
        eer(np.array([0.1, 0.2]), np.array([1, 1]))


def _exact_det(scores, labels):
    """Reference: every distinct score as a threshold, plus one above the largest."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    thr = np.append(np.unique(s), np.nextafter(s.max(), np.inf))
    return (neg.size - np.searchsorted(neg, thr, "left")) / neg.size, np.searchsorted(pos, thr, "left") / pos.size, thr


@pytest.mark.parametrize("seed", range(40))
def test_det_eer_and_min_dcf_agree_with_an_exact_curve_and_thresholds_stay_finite(seed):
    """Small score sets with ties, the highest score a non-target or the lowest a target: the cases in which
    scikit-learn's curve starts late or ends at +inf. Thresholds stay finite and ascending; EER and minDCF
    equal those of the exact curve."""
    from voxprint.verification import det_curve, eer, min_dcf

    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    scores = np.round(rng.normal(size=n), 1)  # coarse: ties
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    fpr, fnr, thr = det_curve(scores, labels)
    assert np.all(np.isfinite(thr)) and np.all(np.diff(thr) >= 0)
    assert (fpr[0], fnr[0], fpr[-1], fnr[-1]) == (1.0, 0.0, 0.0, 1.0)
    e, t = eer(scores, labels)
    xf, xn, _ = _exact_det(scores, labels)
    d = xn - xf
    i = int(np.argmax(d >= 0))
    ref = xf[i] if d[i] == 0 or i == 0 else xf[i - 1] + (-d[i - 1] / (d[i] - d[i - 1])) * (xf[i] - xf[i - 1])
    assert e == pytest.approx(ref) and np.isfinite(t)
    c, t2 = min_dcf(scores, labels, p_target=0.2)
    cost = (0.2 * xn + 0.8 * xf) / 0.2
    assert c == pytest.approx(cost.min()) and np.isfinite(t2)


def test_can_calibrate_needs_a_same_speaker_and_a_different_speaker_trial():
    """One validation clip per speaker (a few-shot set) gives no same-speaker trial: the run
    skips calibration with a warning instead of failing (calibrate() itself would refuse)."""
    from voxprint.verification import calibrate, can_calibrate

    assert not can_calibrate(np.array([0, 1, 2]))
    assert not can_calibrate(np.array([0, 0, 0]))
    assert can_calibrate(np.array([0, 1, 1]))
    emb = np.eye(3, dtype=np.float32)
    with pytest.raises(VoxprintError):
        calibrate(emb, np.array([0, 1, 2]))
    assert math.isfinite(calibrate(emb, np.array([0, 1, 1]))["threshold"])
