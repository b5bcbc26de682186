"""identify / verify / enrol as decisions: the library functions that Recognizer, the CLI and the
HTTP API all call. Each file is embedded and its quality measured (voxprint.quality), then one rule
decides (voxprint.scoring.decide): AS-norm + calibrated LLR + a target false-accept rate, or a raw
cosine threshold when one is given (old scripts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .clip_scoring import NoClips
from .enrol_check import ClipCheck, EnrolLimits, check_clip, duplicate_of
from .errors import AudioError, NothingAnswered, VoxprintError
from .quality import measure, require_speech
from .scoring import Candidate, Decision, decide
from .store import Profile, normalise_name
from .vectors import unit

TOP_K = 10  # candidates by raw cosine handed to the decision (a vector index may hand them over later)


@dataclass
class EnrolResult:
    profile: Profile
    clips: list[ClipCheck]
    warnings: list[str] = field(default_factory=list)


def measured(rec, paths, on_error=None) -> tuple[list[str], np.ndarray, list[dict]]:
    """(paths answered, unit embeddings [N, E], quality sums per file), files read one at a time. A file
    that cannot be read, or holds no speech (vad.min_speech_seconds), goes to on_error (or raises)."""
    ok, quals = [], []

    def waves():
        for p in paths:
            try:
                y = rec.load(p)
                q = require_speech(measure(y, rec.sample_rate, rec.cfg.vad), rec.cfg.vad.min_speech_seconds, p)
            except AudioError as e:  # unreadable, or no speech: no voice to score
                if on_error is None:
                    raise
                on_error(e)
                continue
            ok.append(str(p))
            quals.append(q.as_sums())
            yield y

    try:
        _, emb = rec.score_waves(waves())
    except NoClips:  # not one usable file: every one was reported through on_error
        return [], np.zeros((0, rec.embed_dim), np.float32), []
    good = np.isfinite(emb).all(axis=1)
    for k in np.flatnonzero(~good):
        e = AudioError(ok[k], "the model's scores are not finite (absurd sample values?)")
        if on_error is None:
            raise e
        on_error(e)
    keep = np.flatnonzero(good)
    return [ok[k] for k in keep], emb[keep], [quals[k] for k in keep]


def candidates(profiles: list[Profile], emb: np.ndarray, k: int = TOP_K) -> list[Candidate]:
    """The k profiles nearest to emb [E] by raw cosine, as decision candidates."""
    means = np.stack([p.mean for p in profiles]).astype(np.float32)
    order = np.argsort(-(means @ emb.astype(np.float32)))[:k]
    return [Candidate(profiles[i].name, profiles[i].mean, profiles[i].count, profiles[i].quality) for i in order]


def far_of(rec, far: float | None) -> float:
    return float(rec.cfg.decision.far if far is None else far)


def identify(rec, paths, db=None, far=None, threshold=None, on_error=None) -> list[tuple[str, Decision]]:
    """(file, Decision) per usable file; `far` is the rate of strangers accepted as someone."""
    with rec.store(db) as s:
        s.matrix()  # refuses profiles made by another model
        profiles = s.profiles()
        where = s.db_path  # a URL's password masked
    if not profiles:
        raise VoxprintError(f"{where}: no enrolled speakers; use `voxprint enroll`")
    if threshold is None and rec.scorer is None:
        threshold = rec.threshold  # a run folder without a cohort: its calibrated cosine threshold
    ok, emb, quals = measured(rec, paths, on_error)
    return [(p, decide(rec.scorer, e, q, candidates(profiles, e), far_of(rec, far), len(profiles), threshold))
            for p, e, q in zip(ok, emb, quals)]


def _all(rec, paths, on_error):
    ok, emb, quals = measured(rec, paths, on_error)
    if len(ok) < len(paths):
        raise NothingAnswered(f"no score: {len(paths) - len(ok)} of {len(paths)} file(s) skipped")
    return emb, quals


def verify(rec, a, b, far=None, threshold=None, on_error=None) -> Decision:
    """Are files a and b the same voice? `far` per trial; a stands as the enrolment."""
    emb, quals = _all(rec, [a, b], on_error)
    if threshold is None and rec.scorer is None:
        threshold = rec.threshold
    enrol = Candidate(str(a), emb[0], 1, quals[0])
    return decide(rec.scorer, emb[1], quals[1], [enrol], far_of(rec, far), 1, threshold)


def verify_claim(rec, name, path, db=None, far=None, threshold=None, on_error=None) -> Decision:
    with rec.store(db) as s:
        prof = s.get(name)
        if prof is None:
            known = ", ".join(p.name for p in s.profiles()) or "none"
            raise VoxprintError(f"no enrolled speaker '{name}' (enrolled: {known})")
        s.matrix()  # refuses profiles made by another model
    emb, quals = _all(rec, [path], on_error)
    if threshold is None and rec.scorer is None:
        threshold = rec.threshold
    cand = Candidate(prof.name, prof.mean, prof.count, prof.quality)
    return decide(rec.scorer, emb[0], quals[0], [cand], far_of(rec, far), 1, threshold)


def enrol_waves(rec, name: str, waves: list[np.ndarray], files: list[str], store,
                limits: EnrolLimits | None = None, nearby=None) -> EnrolResult:
    """Check every clip [T] (speech, SNR, one voice), then enrol them all or none. Refused: a
    VoxprintError naming each refused file and its reason. Warns when a short clip may hold two voices
    taking turns, when the voice already matches another profile, and reports the profile's consistency. nearby(mean [E]) -> the profiles to check
    for a duplicate voice (default: every profile in the store; a server passes its index's nearest,
    so enrolling among a million profiles does not read them all)."""
    limits = limits or enrol_limits(rec)
    _, emb = rec.score_waves(waves)
    for k in np.flatnonzero(~np.isfinite(emb).all(axis=1)):
        raise AudioError(files[k], "the model's scores are not finite (absurd sample values?); nothing enrolled")
    checks = [check_clip(rec, y, f, limits) for y, f in zip(waves, files)]
    bad = [c for c in checks if c.problems]
    if bad:
        raise VoxprintError(f"enrol {name}: nothing enrolled; " + "; ".join(f"{c.name}: {', '.join(c.problems)}"
                                                                           for c in bad))
    quality: dict = {}
    for c in checks:
        for k, v in c.quality.as_sums().items():
            quality[k] = quality.get(k, 0) + v
    mean = unit(emb.mean(0))
    near = store.profiles() if nearby is None else nearby(mean)
    others = [Candidate(p.name, p.mean, p.count, p.quality) for p in near if p.name != name]
    try:
        threshold = _raw_threshold(rec)
    except VoxprintError:  # no usable calibration.json: no duplicate can be judged, and enrolment needs none
        threshold, others = None, []
    dup = duplicate_of(rec.scorer, emb, [c.quality.as_sums() for c in checks], others, limits.duplicate_far,
                       threshold) if others else None
    prof = store.enroll(name, emb, quality)
    warnings = [f"{c.name}: {d}" for c in checks for d in c.doubts]
    if dup is not None:
        warnings.append(f"this voice already matches enrolled speaker '{dup[0]}' ({dup[2]} of {len(emb)} clip(s), "
                        f"score {dup[1]:.3f}); one person enrolled under two names makes identify ambiguous")
    low = limits.min_consistency
    if prof.consistency is not None and low is not None and prof.consistency < low:
        warnings.append(f"the clips of '{prof.name}' agree poorly (consistency {prof.consistency:.2f}); "
                        "a clip may hold another voice or heavy noise")
    return EnrolResult(prof, checks, warnings)


def _raw_threshold(rec) -> float | None:
    """The folder's calibrated cosine threshold where no cohort decides (None when it has one)."""
    return None if rec.scorer is not None else rec.threshold


def enrol_limits(rec) -> EnrolLimits:
    """EnrolLimits from the folder's config (decision section) and its scoring.json's two-voice threshold."""
    d = rec.cfg.decision
    info = rec.scorer.info if rec.scorer is not None else {}
    low = d.min_consistency if d.min_consistency is not None else info.get("min_consistency")
    return EnrolLimits(d.enrol_min_speech_s, d.enrol_min_snr_db, info.get("split_max_cos"), d.far, low)


def enroll(rec, name: str, paths, db=None, on_error=None, limits: EnrolLimits | None = None) -> EnrolResult:
    """Enrol files: every usable file checked; any refused clip refuses the enrolment (its reason)."""
    name = normalise_name(name)
    files, waves = rec.load_many(paths, on_error)
    if not files:
        raise NothingAnswered(f"enroll {name}: no usable audio among the given files; nothing enrolled")
    with rec.store(db) as s:
        return enrol_waves(rec, name, waves, files, s, limits)
