"""Speaker diarization: who spoke when in a recording, and which turns are enrolled speakers'.

    from voxprint import Recognizer
    rec = Recognizer()
    turns = rec.diarize("meeting.wav")                  # [Turn(start, end, "speaker-1"), ...]
    turns = rec.diarize("call.wav", speakers=2, identify=True)  # enrolled names where they match

Stages, each in its own module: speech regions (voxprint.vad) -> windows (windows.py) -> one embedding
per window by the model's own features and weights (embed.py) -> spectral or agglomerative clustering
(cluster.py) -> frame-level resegmentation (reseg.py), with a second speaker where the overlap detector
(overlap.py) hears two voices -> turns (turns.py), RTTM (rttm.py), names (naming.py).
Synthetic conversations with reference turns for tuning and measuring: benchmarks/synth.py.
"""

from __future__ import annotations

from .config import DiarizeConfig
from .naming import ClusterMatch, cluster_names, cluster_quality, match_clusters
from .pipeline import Diarization, diarize_wave
from .rttm import read_rttm, to_rttm, write_rttm
from .turns import Turn


def diarize_file(rec, path, cfg: DiarizeConfig | None = None, identify: bool = False, db=None,
                 threshold: float | None = None, progress=None, on_windows=None,
                 far: float | None = None) -> Diarization:
    """Diarize the file at `path` (read in blocks and resampled as a stream by audio.load); with
    `identify`, clusters accepted as an enrolled speaker take that name (naming.match_clusters: the
    identify rule, at target false-accept rate `far`, or a raw cosine `threshold` when one is given)."""
    from .. import audio

    y = audio.load(path, rec.sample_rate)[0]
    result = diarize_wave(rec, y, cfg, progress, on_windows, name=str(path))
    qualities = cluster_quality(y, rec.sample_rate, result) if identify else []
    del y
    if identify and len(result.centroids):
        matches = match_clusters(rec, result.centroids, qualities, db, far, threshold)
        result = result.relabelled(cluster_names(matches), matches)
    return result


__all__ = [
    "ClusterMatch",
    "Diarization",
    "DiarizeConfig",
    "Turn",
    "cluster_names",
    "cluster_quality",
    "diarize_file",
    "diarize_wave",
    "match_clusters",
    "read_rttm",
    "to_rttm",
    "write_rttm",
]
