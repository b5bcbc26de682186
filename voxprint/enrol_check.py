"""Enrolment that checks itself: each clip's speech, SNR and number of voices before it joins a
profile, and the new profile against the others.

    c = check_clip(rec, y, name, limits)  # ClipCheck: quality, two-voice statistics, problems (refuse), doubts (warn)
    warn = duplicate_of(scorer, embs, qualities, others, far)  # the enrolled name most clips already match

A clip is refused (its reason in the one-line error) when it holds less than `min_speech_s` of
speech, when its SNR estimate is below `min_snr_db`, or, from 8 s of speech (MIN_SPLIT_SPEECH_S), when
its windows split into two groups of different voices (the cosine between the two groups' means under
`split_max_cos`, chosen on dev speakers' two-voice concatenations and single-voice clips by
benchmarks/fit_scoring.py).

A clip of 3 to 8 s of speech (the length of most enrolment recordings) is enrolled with a WARNING when
its speech cut in two at some point gives two sides less alike than `turn_min_cos` (`turn_cos`; chosen
on dev speakers by benchmarks/enrol_voices.py). A warning, not a refusal: two sides of 1.5-4 s are
short, and about 3 in 100 single voices fall under the threshold (a libri-dev clip enrolled by the
tests cut at 0.62); refusing them would turn away real users, while the warning names the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import read_json
from .quality import Quality, measure

WINDOW_S, HOP_S = 2.0, 1.0  # windows for the two-voice check: the encoder's own segment length
# the SNR estimate needs quiet frames between words: a clip shorter than this (a spoken digit) is
# nearly all voice, its quietest tenth is still speech, and the estimate reads low (FSDD: 3.6 dB)
MIN_SNR_CLIP_S = 1.5
# split_max_cos was fitted on whole libri-dev utterances (about 12 s). On a shorter clip a 2-means split of
# a few overlapping windows disagrees by chance: a 5-s single-voice clip of a libri-dev test speaker split
# at cosine 0.72 against 0.84 and was refused. Below this much speech the clip is not split at all.
MIN_SPLIT_SPEECH_S = 8.0
# Shorter clips (the usual enrolment recording) are checked for two voices taking turns: the speech is cut in
# two at every TURN_STEP_S, each side at least TURN_MIN_PART_S, and both sides are embedded whole. One voice
# keeps every cut's two sides alike; when two take turns, the cut nearest the change leaves two voices. On
# libri-dev DEV speakers (4-10 s clips) one voice's lowest cut cosine was 0.73-0.91, two voices' 0.43-0.76.
TURN_MIN_PART_S, TURN_STEP_S = 1.5, 0.5
# The turn threshold per embedding (Recognizer.model_id -> cosine), written by `python -m benchmarks.enrol_voices
# --results --write` from LIBRI-DEV and ocean-train DEV speakers (docs/results/enrol-voices.md; a test compares the
# two). A model without an entry (a run folder, a retrained encoder) is not cut until it is fitted for it.
TURN_FILE = Path(__file__).parent / "enrol_turn.json"


def turn_thresholds() -> dict[str, float]:
    return {k: float(v["turn_min_cos"]) for k, v in read_json(TURN_FILE).items()} if TURN_FILE.exists() else {}

@dataclass
class EnrolLimits:
    min_speech_s: float = 0.1  # less speech than this is no voice at all (FSDD holds spoken digits of 0.14 s)
    min_snr_db: float = 5.0  # below this the estimate says the noise is as loud as the voice
    # two window groups less alike than this: two voices. Fitted per encoder (scoring.json); None (a
    # folder without one) skips the check rather than guess a threshold for another embedding
    split_max_cos: float | None = None
    duplicate_far: float = 0.01  # a new voice matching another profile at this FAR is warned about
    min_consistency: float | None = None  # clips agreeing less (mean pairwise cosine) are warned about
    # a clip cut in two with sides less alike than this holds two voices taking turns; None: the value
    # fitted for the model (TURN_FILE), and no turn check for a model without one
    turn_min_cos: float | None = None


@dataclass
class ClipCheck:
    name: str  # the file's name as the user gave it
    quality: Quality
    split_cos: float | None  # cosine between the two window groups' means (None: too short to split)
    problems: list[str] = field(default_factory=list)  # reasons to refuse; empty: the clip is usable
    turn_cos: float | None = None  # lowest cosine between the two sides of a cut (None: not checked)
    doubts: list[str] = field(default_factory=list)  # reasons to warn: enrolled, but maybe not one voice


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


def cut_points(n: int, sr: int) -> list[int]:
    """Where a clip of n samples of speech is cut in two: every TURN_STEP_S, each side >= TURN_MIN_PART_S."""
    side, step = int(TURN_MIN_PART_S * sr), int(TURN_STEP_S * sr)
    return list(range(side, n - side + 1, step))


def turn_cos(rec, y: np.ndarray) -> float | None:
    """The lowest cosine between the two sides of a cut of y's speech (sides embedded whole): near 1 for one
    voice, low when two voices take turns. None when the speech is too short to cut (under 2 x
    TURN_MIN_PART_S) or long enough for the window split (MIN_SPLIT_SPEECH_S)."""
    from . import vad

    speech = vad.detect(y, rec.sample_rate, rec.cfg.vad)
    if speech.seconds >= MIN_SPLIT_SPEECH_S:
        return None
    part = speech.part(y)
    cuts = cut_points(len(part), rec.sample_rate)
    if not cuts:
        return None
    _, emb = rec.score_waves([part[:c] for c in cuts] + [part[c:] for c in cuts])  # unit rows
    return float(np.min(np.sum(emb[: len(cuts)] * emb[len(cuts):], axis=1)))


def turn_limit(rec, limits: EnrolLimits) -> float | None:
    """The turn threshold in force: the one given, else the one fitted for rec's embedding, else None."""
    return limits.turn_min_cos if limits.turn_min_cos is not None else turn_thresholds().get(rec.model_id)


def measure_clip(rec, y: np.ndarray, name: str, split: bool = True, turn: bool = True) -> ClipCheck:
    """A clip's quality and its two-voice statistics (`split`: the window split, `turn`: the turn cut), no verdict."""
    return ClipCheck(name, measure(y, rec.sample_rate, rec.cfg.vad), voices_split(rec, y) if split else None,
                     turn_cos=turn_cos(rec, y) if turn else None)


def judge(c: ClipCheck, limits: EnrolLimits, clip_s: float) -> list[str]:
    """The reasons to refuse a measured clip of `clip_s` seconds (empty: usable)."""
    q, out = c.quality, []
    if q.speech_s < limits.min_speech_s:
        out.append(f"too little speech ({q.speech_s:.1f} s; at least {limits.min_speech_s:g} s needed)")
    elif q.snr_db < limits.min_snr_db and clip_s >= MIN_SNR_CLIP_S:
        out.append(f"too noisy (SNR about {q.snr_db:.0f} dB; at least {limits.min_snr_db:g} dB needed)")
    if c.split_cos is not None and limits.split_max_cos is not None and c.split_cos < limits.split_max_cos:
        out.append(f"more than one voice (its parts agree at cosine {c.split_cos:.2f}, "
                   f"one voice gives over {limits.split_max_cos:.2f})")
    return out


def doubt(c: ClipCheck, turn_max: float | None) -> list[str]:
    """The reasons to warn about a measured clip (enrolled all the same): two voices taking turns, maybe."""
    if c.turn_cos is None or turn_max is None or c.turn_cos >= turn_max:
        return []
    return [f"maybe more than one voice (cut in two, its sides agree at cosine {c.turn_cos:.2f}; one voice "
            f"usually gives over {turn_max:.2f}); enrol a recording of this person alone"]


def check_clip(rec, y: np.ndarray, name: str, limits: EnrolLimits) -> ClipCheck:
    turn_max = turn_limit(rec, limits)
    c = measure_clip(rec, y, name, split=limits.split_max_cos is not None, turn=turn_max is not None)
    c.problems = judge(c, limits, len(y) / rec.sample_rate)
    c.doubts = [] if c.problems else doubt(c, turn_max)
    return c


def duplicate_of(scorer, embs: np.ndarray, qualities: list[dict], others: list, far: float,
                 threshold: float | None = None) -> tuple[str, float, int] | None:
    """(name, mean raw score, clips matched) of the enrolled profile (`others`: scoring.Candidate, the new
    name excluded) that most of this voice's clips (unit embeddings [N, E], each clip's quality sums)
    already match at `far`, or None. Each clip is decided as identify decides a clip against profiles,
    the comparison the calibration was fitted on. The clips' mean against the profiles is not: a mean of
    one person's clips lies nearer another person's mean than a clip does, and judged that way far more
    new voices were said to match someone than the target allows (both ways in docs/results/openset.md)."""
    from .scoring import decide

    if not others or len(embs) == 0:
        return None
    hits: dict[str, list[float]] = {}
    for e, q in zip(embs, qualities):
        d = decide(scorer, e, q, others, far=far, n_profiles=len(others), threshold=threshold)
        if d.accepted:
            hits.setdefault(d.name, []).append(d.score)
    if not hits:
        return None
    name, scores = max(hits.items(), key=lambda kv: len(kv[1]))
    return (name, float(np.mean(scores)), len(scores)) if 2 * len(scores) >= len(embs) else None
