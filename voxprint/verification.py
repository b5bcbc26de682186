"""Verification (same speaker or not) and open-set identification metrics.

Convention throughout: a trial is ACCEPTED when ``score >= threshold``; labels are 1 (or True) for
same-speaker (target) trials and 0 for different-speaker (non-target) trials.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError
from .vectors import unit


def cosine_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, D] x [M, D] -> [N, M] cosine similarities (rows L2-normalised first; zero rows score 0)."""
    a, b = (unit(np.atleast_2d(np.asarray(x, dtype=np.float64))) for x in (a, b))
    if a.shape[1] != b.shape[1]:
        raise DataError(f"cosine_scores: dimensions differ ({a.shape[1]} vs {b.shape[1]})")
    return a @ b.T


def _split(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel() != 0
    if s.shape != y.shape:
        raise DataError(f"{s.size} scores but {y.size} labels")
    if not np.all(np.isfinite(s)):
        raise DataError("scores contain NaN or inf")
    if not y.any() or y.all():
        raise DataError("need both same-speaker and different-speaker trials")
    return s[y], s[~y]


def det_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operating points, thresholds ascending: fpr falls from 1 to 0 while fnr rises from 0 to 1.

    The points are scikit-learn's `det_curve` (the thresholds where the error rates change), plus
    the two trivial systems at the ends: accept all (the lowest score; fpr 1, fnr 0) and reject
    all (just above the highest score; fpr 0, fnr 1). Every threshold is finite.
    """
    from sklearn.metrics import det_curve as sk_det_curve

    pos, neg = _split(scores, labels)
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(pos.size, bool), np.zeros(neg.size, bool)])
    fpr, fnr, thr = sk_det_curve(y, s)
    # scikit-learn ends the curve at threshold +inf (reject all); that point is ours, at a finite threshold
    keep = np.isfinite(thr)
    fpr, fnr, thr = fpr[keep], fnr[keep], thr[keep]
    lo, hi = s.min(), np.nextafter(s.max(), np.inf)
    fpr = np.concatenate([[1.0], fpr, [0.0]])
    fnr = np.concatenate([[0.0], fnr, [1.0]])
    thr = np.concatenate([[lo], thr, [hi]])
    return fpr, fnr, thr


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and its threshold, linearly interpolated between the two DET points that bracket
    fnr == fpr (the nearest point alone is biased by up to a step of the curve)."""
    fpr, fnr, thr = det_curve(scores, labels)
    d = fnr - fpr  # rises from -1 (first threshold) to +1 (last), never decreasing
    i = int(np.argmax(d >= 0))
    if d[i] == 0 or i == 0:
        return float(fpr[i]), float(thr[i])
    a = -d[i - 1] / (d[i] - d[i - 1])  # fraction of the way from point i-1 to point i
    rate = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    return float(rate), float(thr[i - 1] + a * (thr[i] - thr[i - 1]))


def min_dcf(scores, labels, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0) -> tuple[float, float]:
    """Normalised minimum detection cost (NIST SRE): min over thresholds of
    (c_miss * p_target * fnr + c_fa * (1 - p_target) * fpr) / min(c_miss * p_target, c_fa * (1 - p_target)).
    At most 1 because the accept-all and reject-all thresholds are among those tried."""
    if not 0 < p_target < 1:
        raise DataError(f"p_target must be in (0, 1), got {p_target}")
    fpr, fnr, thr = det_curve(scores, labels)
    cost = c_miss * p_target * fnr + c_fa * (1 - p_target) * fpr
    cost = cost / min(c_miss * p_target, c_fa * (1 - p_target))
    i = int(np.argmin(cost))
    return float(cost[i]), float(thr[i])


def threshold_at_far(scores, labels, far: float) -> float:
    """Smallest threshold at which at most a fraction ``far`` of the different-speaker trials are accepted.

    With k = floor(far * n_neg) false accepts allowed, that is the value just above the (k+1)-th highest
    non-target score: any threshold at or below it would accept k+1 of them.
    """
    if not 0 <= far <= 1:
        raise DataError(f"far must be in [0, 1], got {far}")
    _, neg = _split(scores, labels)
    k = int(np.floor(far * neg.size + 1e-9))  # tolerance: 0.1 * 10 must allow 1, not 0.999...
    if k >= neg.size:
        return float(np.min(np.asarray(scores, dtype=np.float64)))  # everything may be accepted
    neg = np.sort(neg)[::-1]
    return float(np.nextafter(neg[k], np.inf))


def trial_pairs(labels: np.ndarray, max_pairs: int | None = None, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j of utterances with ``same = labels[i] == labels[j]``; if there are more than
    ``max_pairs``, a uniform random subset of them (reproducible from ``seed``), ordered by (i, j)."""
    labels = np.asarray(labels)
    n = labels.shape[0]
    total = n * (n - 1) // 2
    if max_pairs is None or total <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        # Sample pair numbers without building all pairs, then map number -> (i, j) in row-major order of
        # the upper triangle: row i starts at offset i*(2n-i-1)/2.
        k = np.sort(rng.choice(total, size=int(max_pairs), replace=False))
        rows = np.arange(n, dtype=np.int64)
        start = rows * (2 * n - rows - 1) // 2
        i = np.searchsorted(start, k, side="right") - 1
        j = k - start[i] + i + 1
    i, j = i.astype(np.int64), j.astype(np.int64)
    return i, j, labels[i] == labels[j]


def open_set(scores: np.ndarray, true_index: np.ndarray, threshold: float) -> dict:
    """Open-set identification against K enrolled profiles.

    scores [N, K]; true_index[n] is the right profile's column, or -1 for a speaker who is not enrolled.
    A known trial is right only if its best-scoring profile is the true one AND clears the threshold;
    an unknown trial is right if no profile clears it. A fraction over zero trials is NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(true_index).astype(np.int64).ravel()
    if s.ndim != 2 or s.shape[0] != t.size:
        raise DataError(f"open_set: scores {s.shape} do not match {t.size} trials")
    k = s.shape[1]
    if np.any((t < -1) | (t >= k)):
        raise DataError(f"open_set: true_index must be -1 or in [0, {k})")
    if k == 0:
        best = np.full(t.size, -1)
        top = np.full(t.size, -np.inf)
    else:
        best = np.argmax(s, axis=1)
        top = s[np.arange(t.size), best]
    known = t >= 0
    n_known, n_unknown = int(known.sum()), int((~known).sum())
    ok_known = (best == t) & (top >= threshold) & known
    ok_unknown = (top < threshold) & ~known
    return {
        "known_accuracy": float(ok_known.sum() / n_known) if n_known else float("nan"),
        "unknown_rejection": float(ok_unknown.sum() / n_unknown) if n_unknown else float("nan"),
        "n_known": n_known,
        "n_unknown": n_unknown,
    }


def can_calibrate(labels: np.ndarray) -> bool:
    """Whether `labels` give both kinds of trial: a speaker with two clips, and two speakers."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return len(counts) >= 2 and bool((counts >= 2).any())


def calibrate(embeddings: np.ndarray, labels: np.ndarray, far: float | None = None, seed: int = 0,
              max_trials: int = 200_000) -> dict:
    """Accept threshold from same/different-speaker trials among (validation or dev) clips: at the
    EER point, or at a target false-accept rate. embeddings [N, E] L2-normalised, labels [N]."""
    i, j, same = trial_pairs(labels, max_trials, seed)
    scores = np.sum(embeddings[i] * embeddings[j], axis=1)
    e, t_eer = eer(scores, same)
    if far is None:
        return {"method": "eer", "threshold": float(t_eer), "val_eer": float(e), "n_trials": int(len(scores))}
    return {"method": "far", "far": far, "threshold": float(threshold_at_far(scores, same, far)),
            "val_eer": float(e), "n_trials": int(len(scores))}


def cllr(llr, labels) -> float:
    """Log-likelihood-ratio cost (bits; 0 perfect, 1 = an LLR of 0 always): how good LLRs [N] are as
    LLRs, calibration included. labels [N] bool, True for same-speaker trials."""
    llr, labels = np.asarray(llr, dtype=np.float64), np.asarray(labels, dtype=bool)
    tar = np.mean(np.logaddexp(0, -llr[labels])) if labels.any() else 0.0
    non = np.mean(np.logaddexp(0, llr[~labels])) if (~labels).any() else 0.0
    return float((tar + non) / (2 * np.log(2)))


def act_dcf(llr, labels, p_target: float = 0.01) -> float:
    """Normalised actual detection cost: LLRs [N] thresholded where Bayes puts them for p_target
    (accept when llr >= log((1 - p) / p)); compare with min_dcf, which picks the best threshold."""
    llr, labels = np.asarray(llr, dtype=np.float64), np.asarray(labels, dtype=bool)
    acc = llr >= np.log((1 - p_target) / p_target)
    fnr, fpr = np.mean(~acc[labels]), np.mean(acc[~labels])
    return float((p_target * fnr + (1 - p_target) * fpr) / min(p_target, 1 - p_target))
