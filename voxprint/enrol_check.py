"""Enrolment that checks itself: each clip's speech, SNR and number of voices before it joins a
profile, and the new profile against the others.

    checks = check_clips(rec, waves, names, limits)   # [ClipCheck]: quality, voices split, problems
    warn = duplicate_of(scorer, emb_mean, others, far) # the enrolled name this voice already matches

A clip is refused (its reason in the one-line error) when it holds less than `min_speech_s` of
speech, when its SNR estimate is below `min_snr_db`, or when its windows split into two groups of
different voices (the cosine between the two groups' means under `split_max_cos`, chosen on dev
speakers' two-voice concatenations and single-voice clips by benchmarks/fit_scoring.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .quality import Quality, measure

WINDOW_S, HOP_S = 2.0, 1.0  # windows for the two-voice check: the encoder's own segment length
# the SNR estimate needs quiet frames between words: a clip shorter than this (a spoken digit) is
# nearly all voice, its quietest tenth is still speech, and the estimate reads low (FSDD: 3.6 dB)
MIN_SNR_CLIP_S = 1.5
# split_max_cos was fitted on whole libri-dev utterances (about 12 s). On a shorter clip a 2-means split of
# a few overlapping windows disagrees by chance: a 5-s single-voice clip of a libri-dev test speaker split
# at cosine 0.72 against 0.84 and was refused. Below this much speech the clip is not split at all.
MIN_SPLIT_SPEECH_S = 8.0


@dataclass
class EnrolLimits:
    min_speech_s: float = 0.1  # less speech than this is no voice at all (FSDD holds spoken digits of 0.14 s)
    min_snr_db: float = 5.0  # below this the estimate says the noise is as loud as the voice
    # two window groups less alike than this: two voices. Fitted per encoder (scoring.json); None (a
    # folder without one) skips the check rather than guess a threshold for another embedding
    split_max_cos: float | None = None
    duplicate_far: float = 0.01  # a new voice matching another profile at this FAR is warned about
    min_consistency: float | None = None  # clips agreeing less (mean pairwise cosine) are warned about


@dataclass
class ClipCheck:
    name: str  # the file's name as the user gave it
    quality: Quality
    split_cos: float | None  # cosine between the two window groups' means (None: too short to split)
    problems: list[str] = field(default_factory=list)  # reasons to refuse; empty: the clip is usable


def window_starts(n: int, sr: int) -> list[int]:
    """Start samples of WINDOW_S windows every HOP_S over n samples (the last one flush with the end)."""
    w, h = int(WINDOW_S * sr), int(HOP_S * sr)
    if n < 2 * w:
        return []
    starts = list(range(0, n - w + 1, h))
    return starts if starts[-1] == n - w else starts + [n - w]


def split_cos(emb: np.ndarray, iters: int = 10) -> float:
    """Cosine between the means of a 2-means split of window embeddings emb [W, E] (unit rows):
    near 1 when every window is one voice, low when two voices take turns."""
    s = emb @ emb.T
    a, b = np.unravel_index(np.argmin(s), s.shape)  # the two least alike windows seed the groups
    ca, cb = emb[a], emb[b]
    for _ in range(iters):
        to_a = emb @ ca >= emb @ cb
        if to_a.all() or (~to_a).all():
            return 1.0
        ca, cb = emb[to_a].mean(0), emb[~to_a].mean(0)
    return float(ca @ cb / (np.linalg.norm(ca) * np.linalg.norm(cb)))


def voices_split(rec, y: np.ndarray) -> float | None:
    """split_cos of the speech of y [T] cut into windows; None when it is too short for two groups."""
    from . import vad

    speech = vad.detect(y, rec.sample_rate, rec.cfg.vad)
    if speech.seconds < MIN_SPLIT_SPEECH_S:
        return None
    part = speech.part(y)
    starts = window_starts(len(part), rec.sample_rate)
    if len(starts) < 3:
        return None
    n = int(WINDOW_S * rec.sample_rate)
    _, emb = rec.score_waves([part[s : s + n] for s in starts])
    return split_cos(emb.astype(np.float64))


def check_clip(rec, y: np.ndarray, name: str, limits: EnrolLimits) -> ClipCheck:
    q = measure(y, rec.sample_rate, rec.cfg.vad)
    cos = voices_split(rec, y) if limits.split_max_cos is not None else None
    c = ClipCheck(name, q, cos)
    if q.speech_s < limits.min_speech_s:
        c.problems.append(f"too little speech ({q.speech_s:.1f} s; at least {limits.min_speech_s:g} s needed)")
    elif q.snr_db < limits.min_snr_db and len(y) >= MIN_SNR_CLIP_S * rec.sample_rate:
        c.problems.append(f"too noisy (SNR about {q.snr_db:.0f} dB; at least {limits.min_snr_db:g} dB needed)")
    if cos is not None and limits.split_max_cos is not None and cos < limits.split_max_cos:
        c.problems.append(f"more than one voice (its parts agree at cosine {cos:.2f}, "
                          f"one voice gives over {limits.split_max_cos:.2f})")
    return c


def duplicate_of(scorer, mean: np.ndarray, quality: dict, others: list, far: float,
                 threshold: float | None = None) -> tuple[str, float] | None:
    """(name, raw score) of the enrolled profile (`others`: scoring.Candidate, the new name excluded)
    that this voice (unit mean [E], quality sums) already matches at `far`, or None."""
    from .scoring import decide

    if not others:
        return None
    d = decide(scorer, mean, quality, others, far=far, n_profiles=len(others), threshold=threshold)
    return (d.name, d.score) if d.accepted else None
