"""POST /v1/diarize: who spoke when in an upload, with enrolled names where a cluster matches."""

from __future__ import annotations

from ..diarize import DiarizeConfig, cluster_names, diarize_wave
from ..diarize.naming import ClusterMatch
from ..diarize.output import as_dict


def diarize_upload(engine, files, speakers: int | None = None) -> dict:
    """One uploaded file (decoded under the same limits as identify) -> turns and speakers; with no
    one enrolled, the clusters keep their speaker-N labels. `speakers`: a known speaker count."""
    (y,) = engine._waves(files)
    result = diarize_wave(engine.rec, y, DiarizeConfig(speakers=speakers))
    snap = engine.cache.snapshot()
    if snap.count and len(result.centroids):
        matches = [_match(snap, c, engine.threshold) for c in result.centroids]
        result = result.relabelled(cluster_names(matches), matches)
    doc = as_dict(files[0][1] or "upload", result)
    doc["threshold"] = engine.threshold
    doc["seconds"] = doc.pop("duration")
    return doc


def _match(snap, centroid, threshold: float) -> ClusterMatch:
    """naming.match_profiles' rule (best profile by cosine, named when it reaches the threshold) through the
    server's profile index, so a replica with many profiles does not score them all."""
    names, scores = snap.nearest(centroid / max(float((centroid @ centroid) ** 0.5), 1e-12), 1)
    best = float(scores[0])
    return ClusterMatch(names[0] if best >= threshold else None, best, names[0])
