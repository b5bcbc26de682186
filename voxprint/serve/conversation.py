"""POST /v1/diarize: who spoke when in an upload, with enrolled names where a cluster matches."""

from __future__ import annotations

from ..diarize import DiarizeConfig, cluster_names, diarize_wave
from ..diarize.naming import match_profiles
from ..diarize.output import as_dict


def diarize_upload(engine, files, speakers: int | None = None) -> dict:
    """One uploaded file (decoded under the same limits as identify) -> turns and speakers; with no
    one enrolled, the clusters keep their speaker-N labels. `speakers`: a known speaker count."""
    (y,) = engine._waves(files)
    result = diarize_wave(engine.rec, y, DiarizeConfig(speakers=speakers))
    snap = engine.cache.snapshot()
    if snap.names and len(result.centroids):
        matches = match_profiles(result.centroids, snap.names, snap.means, engine.threshold)
        result = result.relabelled(cluster_names(matches), matches)
    doc = as_dict(files[0][1] or "upload", result)
    doc["threshold"] = engine.threshold
    doc["seconds"] = doc.pop("duration")
    return doc
