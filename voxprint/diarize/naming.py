"""Clusters -> enrolled names (`--identify`). Each cluster is decided the way `voxprint identify`
decides a file (scoring.decide: AS-norm against the cohort, accepted at a target false-accept rate;
a raw cosine threshold only when one is given or the model folder has no cohort), with the cluster's
own quality: its seconds of speech and its SNR (its loud frames against the recording's noise floor).
A raw threshold ignores the recording: in noise it named strangers as enrolled speakers
(docs/results/openset.md), and a conversation is often noisy.

    qualities = cluster_quality(y, sr, result)           # per cluster: speech_s, snr_db, clips
    matches = match_clusters(rec, result.centroids, qualities, db)  # [ClusterMatch]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import VoxprintError


@dataclass
class ClusterMatch:
    name: str | None  # the enrolled name, or None when no profile is accepted
    score: float  # raw cosine score of the best candidate
    best: str  # that profile's name, accepted or not
    llr: float | None = None  # calibrated log-likelihood ratio (None without a cohort)


def cluster_quality(y: np.ndarray, sr: int, result) -> list[dict]:
    """Quality sums per cluster of `result` (a Diarization of y [T]), as scoring.decide reads a test clip:
    {"speech_s": its seconds, "snr_db": its turns' loud frames against the recording's quietest, "clips": 1}."""
    from ..quality import FRAME_S, frame_powers, snr_of

    powers = frame_powers(y, sr)
    out = []
    for i, label in enumerate(result.labels):
        mask = np.zeros(len(powers), dtype=bool)
        for t in result.turns:
            if t.label == label:
                mask[int(t.start / FRAME_S) : math.ceil(t.end / FRAME_S)] = True
        voice = powers[mask] if mask.any() else powers
        out.append({"speech_s": float(result.seconds[i]), "snr_db": snr_of(powers, voice), "clips": 1})
    return out


def decided(d) -> ClusterMatch:
    """A scoring.Decision as a cluster's match."""
    return ClusterMatch(d.name if d.accepted else None, d.score, d.candidate, d.llr)


def match_clusters(rec, centroids: np.ndarray, qualities: list[dict], db=None, far: float | None = None,
                   threshold: float | None = None) -> list[ClusterMatch]:
    """Decide each cluster centroid [K, E] (quality sums per cluster: cluster_quality) against the profiles
    `enroll` made, as decisions.identify decides a file; `far`: strangers accepted as someone."""
    from ..decisions import candidates, far_of
    from ..scoring import decide
    from ..vectors import unit

    with rec.store(db) as s:
        s.matrix()  # refuses profiles made by another model
        profiles = s.profiles()
        where = s.db_path  # a URL's password masked
    if not profiles:
        raise VoxprintError(f"{where}: no enrolled speakers; use `voxprint enroll`")
    if threshold is None and rec.scorer is None:
        threshold = rec.threshold  # a run folder without a cohort: its calibrated cosine threshold
    out = []
    for c, q in zip(unit(np.asarray(centroids, dtype=np.float32)), qualities):
        out.append(decided(decide(rec.scorer, c, q, candidates(profiles, c), far_of(rec, far), len(profiles),
                                  threshold)))
    return out


def cluster_names(matches: list[ClusterMatch]) -> list[str]:
    """Labels per cluster: the enrolled name where it matched, else speaker-1, speaker-2, ... (numbered
    among the unnamed clusters, in order of first speech)."""
    out, n = [], 0
    for m in matches:
        if m.name is not None:
            out.append(m.name)
        else:
            n += 1
            out.append(f"speaker-{n}")
    return out
