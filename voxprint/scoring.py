"""From a cosine score to a decision: AS-norm against a cohort, a quality-aware calibrated LLR, and
an accept rule set by a target false-accept rate.

    scorer = Scorer.load(folder)            # cohort.npy + scoring.json shipped with the encoder
    d = decide(scorer, emb, quality, candidates, far=0.01, n_profiles=K)
    d.name, d.score, d.norm, d.llr, d.accepted

Why each step:
- AS-norm (adaptive symmetric normalisation): noise moves every score of a clip, impostor and
  target alike (noise on both sides makes everyone sound alike). Each score is measured against
  the top-N scores of its enrolment and of its test embedding against a cohort of other speakers'
  clips (clean and noisy). Only cohort rows recorded at about the OTHER side's SNR are used (within
  `snr_width` dB): a noisy test clip is compared with impostors that sound like the clean
  enrolment it will meet, not with other noisy clips, which would all look alike to it.
- The accept rule uses that normalised score. Its impostor distribution, fitted on dev speakers,
  is a Gaussian matched to the upper tail (the 0.9 and 0.995 quantiles) of each dev condition, its
  mean and sd a linear function of both sides' SNR (`impostor_snr`); it gives the threshold for a
  target false-accept rate. For verify (one comparison) the rate is per trial. For identify a
  stranger is accepted when ANY of the K enrolled profiles passes, so `far` is the rate of strangers
  accepted as someone: each comparison gets 1 - (1 - far)^(1/K) (K = profiles enrolled), which
  assumes independent comparisons (docs/results/openset.md measures how far that holds).
- The LLR (log-likelihood ratio, natural log, same speaker vs not) is a logistic calibration of the
  normalised score and the quality of both sides (speech seconds, SNR estimate, clips); it is
  reported with the score. Everything is fitted by benchmarks/fit_scoring.py on libri-dev train
  (cohort) and dev (calibration) speakers, never on test speakers or running_tap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from .errors import DataError, VoxprintError
from .io import read_json

COHORT_FILE = "cohort.npy"
COHORT_SNR_FILE = "cohort_snr.npy"
SNR_CAP = 30.0  # dB: cleaner than this no longer changes a score
SCORING_FILE = "scoring.json"
FEATURES = ("norm", "test_log_speech", "test_snr", "enrol_snr", "enrol_log_clips", "norm_x_snr")


@dataclass
class Candidate:
    """An enrolled profile as the decision sees it."""

    name: str
    mean: np.ndarray  # [E] unit-norm mean of its clips' embeddings
    count: int = 1
    quality: dict = field(default_factory=dict)  # additive sums: speech_s, snr_db, clips


@dataclass
class Decision:
    name: str  # the accepted candidate's name, or "unknown"
    score: float  # raw cosine to that candidate (the best by normalised score)
    norm: float | None  # AS-normalised score (None without a cohort)
    llr: float | None  # calibrated log-likelihood ratio (None without a calibration)
    accepted: bool
    candidate: str = ""  # the best candidate, accepted or not


def mean_snr(q: dict) -> float:
    """Mean per-clip SNR estimate of quality sums (clean when unknown)."""
    return float(q.get("snr_db", SNR_CAP * q.get("clips", 1))) / max(float(q.get("clips", 1)), 1.0)


def quality_features(norm, test_q: dict, enrol_q: dict) -> np.ndarray:
    """Calibration inputs [..., len(FEATURES)]. test_q / enrol_q: additive sums (speech_s, snr_db,
    clips). SNRs are capped at 30 dB (cleaner than that no longer changes a score) and scaled /10."""
    norm = np.asarray(norm, dtype=np.float64)
    t_clips = max(float(test_q.get("clips", 1)), 1.0)
    e_clips = max(float(enrol_q.get("clips", 1)), 1.0)
    t_snr = min(float(test_q.get("snr_db", 30.0 * t_clips)) / t_clips, 30.0) / 10
    e_snr = min(float(enrol_q.get("snr_db", 30.0 * e_clips)) / e_clips, 30.0) / 10
    t_speech = math.log(max(float(test_q.get("speech_s", 2.0)), 0.1))
    cols = [norm, np.full_like(norm, t_speech), np.full_like(norm, t_snr), np.full_like(norm, e_snr),
            np.full_like(norm, math.log(e_clips)), norm * min(t_snr, e_snr)]
    return np.stack(cols, axis=-1)


class Scorer:
    """Cohort [C, E] (unit rows) + calibration weights + the impostor model of normalised scores."""

    def __init__(self, cohort: np.ndarray, cohort_snr: np.ndarray, info: dict):
        self.cohort = cohort.astype(np.float32)
        self.cohort_snr = np.minimum(np.asarray(cohort_snr, dtype=np.float64), SNR_CAP)
        self.top_n, self.width = int(info["top_n"]), float(info["snr_width"])
        self.weights = np.asarray(info["weights"], dtype=np.float64)
        self.bias = float(info["bias"])
        self.imp_mean, self.imp_sd = float(info["impostor_mean"]), float(info["impostor_sd"])
        self.info = info

    @classmethod
    def load(cls, folder: str | Path) -> Scorer | None:
        """The folder's scorer, or None when it ships no cohort (a run folder: raw threshold only)."""
        folder = Path(folder)
        cpath, qpath, spath = folder / COHORT_FILE, folder / COHORT_SNR_FILE, folder / SCORING_FILE
        if not cpath.is_file() or not spath.is_file():
            return None
        try:
            cohort = np.load(cpath, allow_pickle=False)
            info = read_json(spath)
            scorer = cls(cohort, np.load(qpath, allow_pickle=False), info)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{folder}: {COHORT_FILE}/{SCORING_FILE} not usable "
                            f"({e.__class__.__name__}: {e})") from None
        shapes_ok = cohort.ndim == 2 and scorer.cohort_snr.shape == (len(cohort),)
        if not shapes_ok or len(scorer.weights) != len(FEATURES):
            raise DataError(f"{folder}: expected a [C, E] cohort, [C] cohort SNRs and "
                            f"{len(FEATURES)} calibration weights")
        return scorer

    def stats(self, vecs: np.ndarray, snr: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of each row's top-N scores against the cohort rows recorded at about `snr` dB
        (the OTHER side's SNR: the impostors a row is compared with sound like that side):
        vecs [M, E] -> ([M], [M])."""
        d = np.abs(self.cohort_snr - min(float(snr), SNR_CAP))
        rows = d <= self.width
        if rows.sum() < 2 * self.top_n:  # too few cohort rows that near: the 2N nearest
            rows = d <= np.sort(d)[min(2 * self.top_n, len(d) - 1)]
        s = np.asarray(vecs, dtype=np.float32) @ self.cohort[rows].T
        n = min(self.top_n, s.shape[1])
        top = np.partition(s, s.shape[1] - n, axis=1)[:, -n:].astype(np.float64)
        return top.mean(1), np.maximum(top.std(1), 1e-4)

    def normalise(self, means: np.ndarray, enrol_snr: np.ndarray, temb: np.ndarray, test_snr: np.ndarray) -> np.ndarray:
        """AS-norm of the raw scores of test embeddings temb [M, E] (per-clip SNR test_snr [M]) against
        profiles means [K, E] (mean per-clip SNR enrol_snr [K]) -> [M, K]. Each profile's statistics
        are taken in the test clip's condition, each test clip's in the profiles' (their mean SNR)."""
        temb, means = np.asarray(temb, np.float32), np.asarray(means, np.float32)
        raw = (temb @ means.T).astype(np.float64)
        mt, st = self.stats(temb, float(np.mean(enrol_snr)))
        out = np.empty_like(raw)
        for j in range(len(temb)):
            me, se = self.stats(means, float(test_snr[j]))
            out[j] = 0.5 * ((raw[j] - me) / se + (raw[j] - mt[j]) / st[j])
        return out

    def llr(self, norm, test_q: dict, enrol_q: dict) -> np.ndarray:
        return quality_features(norm, test_q, enrol_q) @ self.weights + self.bias

    def threshold(self, far: float, n_profiles: int = 1, test_snr=None, enrol_snr=None):
        """Normalised-score threshold: per-comparison rate 1 - (1 - far)^(1/K) of the impostor Gaussian.
        With the SNRs of both sides (dB, broadcastable arrays) and an `impostor_snr` model in
        scoring.json, that Gaussian's mean and sd are the ones fitted for those conditions."""
        if not 0 < far < 1:
            raise VoxprintError(f"--far must be between 0 and 1 (exclusive), got {far}")
        per = 1 - (1 - far) ** (1 / max(int(n_profiles), 1))
        mu, sd = self.imp_mean, self.imp_sd
        model = self.info.get("impostor_snr")
        if model is not None and test_snr is not None and enrol_snr is not None:
            f = snr_features(test_snr, enrol_snr)
            mu, sd = f @ np.asarray(model["mean"]), np.maximum(f @ np.asarray(model["sd"]), 0.1)
        return mu + sd * NormalDist().inv_cdf(1 - per)


def snr_features(test_snr, enrol_snr) -> np.ndarray:
    """[..., 4]: 1, the noisier and the cleaner side's SNR (capped, /10) and their distance, for the
    impostor model. The dev conditions it is fitted on never have an enrolment noisier than its test clip
    (noise on the test side only, or on both), and a line through them, extrapolated to a profile enrolled
    at 20 dB meeting a clean clip, put the threshold out of reach (11.8 where the fitted region gives 2.3:
    that speaker was never accepted). A score is symmetric in its two sides (AS-norm takes each side's
    cohort statistics alike), so that case is the mirror of one the fit has seen: the noisier side stands
    as the test, the cleaner as the enrolment, which leaves every fitted condition as it was."""
    t = np.minimum(np.asarray(test_snr, dtype=np.float64), SNR_CAP) / 10
    e = np.minimum(np.asarray(enrol_snr, dtype=np.float64), SNR_CAP) / 10
    t, e = np.broadcast_arrays(t, e)
    lo, hi = np.minimum(t, e), np.maximum(t, e)
    return np.stack([np.ones_like(lo), lo, hi, hi - lo], axis=-1)


def tail_gaussian(nontarget: np.ndarray, lo: float = 0.9, hi: float = 0.995) -> tuple[float, float]:
    """(mean, sd) of the Gaussian whose `lo` and `hi` quantiles match those of the non-target scores [N]:
    the accept threshold lives in the upper tail, and a Gaussian fitted to the whole distribution
    (wider than its tail, pooled over conditions) put it far too high."""
    q_lo, q_hi = np.quantile(np.asarray(nontarget, dtype=np.float64), [lo, hi])
    z_lo, z_hi = NormalDist().inv_cdf(lo), NormalDist().inv_cdf(hi)
    sd = max(float(q_hi - q_lo) / (z_hi - z_lo), 1e-6)
    return float(q_lo - z_lo * sd), sd


def decide(scorer: Scorer | None, emb: np.ndarray, test_q: dict, candidates: list[Candidate],
           far: float = 0.01, n_profiles: int | None = None, threshold: float | None = None) -> Decision:
    """The one accept/reject rule. emb [E] unit-norm test embedding; test_q its quality sums;
    candidates: the top-k profiles by raw cosine (any order); n_profiles: profiles enrolled in all
    (default len(candidates)); threshold: a raw cosine threshold that overrides `far` (old scripts)."""
    if not candidates:
        raise VoxprintError("no enrolled speakers to compare with")
    means = np.stack([c.mean for c in candidates]).astype(np.float32)
    raw = means @ np.asarray(emb, dtype=np.float32)
    if scorer is None:
        if threshold is None:
            raise VoxprintError("this model folder has no cohort/scoring.json; give a --threshold")
        k = int(raw.argmax())
        ok = bool(raw[k] >= threshold)
        return Decision(candidates[k].name if ok else "unknown", float(raw[k]), None, None, ok, candidates[k].name)
    norm = scorer.normalise(means, np.array([mean_snr(c.quality) for c in candidates]), emb[None, :],
                            np.array([mean_snr(test_q)]))[0]
    thr = scorer.threshold(far, n_profiles or len(candidates), mean_snr(test_q),
                           np.array([mean_snr(c.quality) for c in candidates]))
    k = int(np.argmax(norm - thr))  # the candidate furthest above its own threshold
    llr = float(scorer.llr(norm[k], test_q, candidates[k].quality))
    if threshold is not None:
        ok = bool(raw[k] >= threshold)
    else:
        ok = bool(norm[k] >= np.broadcast_to(thr, norm.shape)[k])
    return Decision(candidates[k].name if ok else "unknown", float(raw[k]), float(norm[k]), llr, ok, candidates[k].name)
