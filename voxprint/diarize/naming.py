"""Clusters -> enrolled names (`--identify`). The one place where a cluster is scored against the
profile store, so a change of the identify decision rule (score normalisation, a calibrated
threshold) is made here once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VoxprintError


@dataclass
class ClusterMatch:
    name: str | None  # the enrolled name, or None when no profile passes the threshold
    score: float  # cosine score of the best profile
    best: str  # that profile's name, passing or not


def match_clusters(rec, centroids: np.ndarray, db=None, threshold: float | None = None) -> list[ClusterMatch]:
    """Score each cluster centroid [K, E] against the profiles `enroll` made, as `Recognizer.identify`
    scores a file: cosine with each profile's mean, best profile named when it reaches the threshold
    (the model's calibrated one by default)."""
    threshold = rec.threshold if threshold is None else threshold
    with rec.store(db) as s:
        names, mat = s.matrix()
        where = s.db_path  # a URL's password masked
    if not names:
        raise VoxprintError(f"{where}: no enrolled speakers; use `voxprint enroll`")
    return match_profiles(centroids, names, mat, threshold)


def match_profiles(centroids: np.ndarray, names: list[str], mat: np.ndarray, threshold: float) -> list[ClusterMatch]:
    """The decision itself, for a profile matrix already read (mat [P, E] unit means of `names`): the
    CLI, the Python API and POST /v1/diarize all come here."""
    scores = centroids.astype(np.float32) @ mat.T.astype(np.float32)
    out = []
    for row in scores:
        k = int(row.argmax())
        out.append(ClusterMatch(names[k] if row[k] >= threshold else None, float(row[k]), names[k]))
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
