"""POST /v1/diarize: who spoke when in an upload, with enrolled names where a cluster is accepted."""

from __future__ import annotations

import numpy as np

from ..diarize import DiarizeConfig, cluster_names, cluster_quality, diarize_wave
from ..diarize.naming import decided
from ..diarize.output import as_dict
from ..vectors import unit


def diarize_upload(engine, files, speakers: int | None = None) -> dict:
    """One uploaded file (decoded under the same limits as identify) -> turns and speakers; with no
    one enrolled, the clusters keep their speaker-N labels. `speakers`: a known speaker count. Each
    cluster is decided as identify decides a clip (engine.decide, with the cluster's own quality),
    through the server's profile index, so a replica with many profiles does not score them all."""
    (y,) = engine._waves(files)
    # noise, music or silence raises NoSpeechError: refused (errors.py) as identify refuses it
    result = diarize_wave(engine.rec, y, DiarizeConfig(speakers=speakers), name=files[0][1] or "upload")
    snap = engine.cache.snapshot()
    if snap.count and len(result.centroids):
        qualities = cluster_quality(y, engine.rec.sample_rate, result)
        embs = unit(np.asarray(result.centroids, dtype=np.float32))
        matches = [decided(engine.decide(e, q, snap)[1]) for e, q in zip(embs, qualities)]
        result = result.relabelled(cluster_names(matches), matches)
    doc = as_dict(files[0][1] or "upload", result)
    doc.update(engine._decision_rule())
    doc["seconds"] = doc.pop("duration")
    return doc
