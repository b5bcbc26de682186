"""The diarization pipeline: speech regions -> windows -> embeddings (embed.py) -> clusters -> frame-level
turns, with a second speaker where the overlap detector hears two voices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..vectors import unit
from . import cluster, overlap, reseg
from .config import DiarizeConfig
from .embed import Windows, embed_recording
from .turns import Turn


@dataclass
class Diarization:
    """Turns of one recording, and per cluster its centroid [K, E] and speech seconds."""

    turns: list[Turn]
    centroids: np.ndarray
    seconds: list[float]
    duration: float
    labels: list[str] = field(default_factory=list)  # per cluster
    matches: list = field(default_factory=list)  # naming.ClusterMatch per cluster (with --identify)

    def relabelled(self, labels: list[str], matches=None) -> Diarization:
        """The same turns under new cluster labels (enrolled names)."""
        old = {lab: new for lab, new in zip(self.labels, labels)}
        turns = [Turn(t.start, t.end, old[t.label]) for t in self.turns]
        return Diarization(turns, self.centroids, self.seconds, self.duration, list(labels), matches or [])


def frames_to_turns(labels: np.ndarray, frame_s: float, names: list[str]) -> list[Turn]:
    """Runs of frame labels -> turns (non-speech runs dropped)."""
    return [Turn(round(a * frame_s, 3), round(b * frame_s, 3), names[lab])
            for a, b, lab in reseg.runs(labels) if lab != reseg.NONE]


def cluster_windows(emb: np.ndarray, cfg: DiarizeConfig, hop_s: float) -> np.ndarray:
    """Window labels [W]: spectral or agglomerative clustering of the embeddings less cfg.centre times
    their mean; then (only when the speaker count is not given) clusters with under cfg.min_cluster_s of
    windows folded into their nearest, and clusters of one voice merged (cfg.merge_heard on the
    clustered embeddings, cfg.merge_sim on the embeddings as they are)."""
    heard = unit(emb - cfg.centre * emb.mean(axis=0)) if cfg.centre and len(emb) > 1 else emb
    if cfg.method == "spectral":
        labels = cluster.spectral(heard, cfg.keep, cfg.speakers, cfg.min_speakers, cfg.max_speakers)
    else:
        labels = cluster.ahc(heard, cfg.threshold, cfg.speakers, cfg.min_speakers, cfg.max_speakers)
    if cfg.speakers is None and len(labels):
        keep = max(cfg.min_speakers, 1)
        labels = cluster.fold_small(emb, labels, max(round(cfg.min_cluster_s / hop_s), 1), keep)
        if cfg.method == "spectral":
            for space, min_sim in ((heard, cfg.merge_heard), (emb, cfg.merge_sim)):
                if min_sim < 1:
                    labels = cluster.merge_close(space, labels, min_sim, keep)
    return labels


def diarize_wave(rec, y: np.ndarray, cfg: DiarizeConfig | None = None,
                 progress: Callable[[int], None] | None = None, on_windows: Callable[[int], None] | None = None,
                 name: str = "<clip>") -> Diarization:
    """Who spoke when in clip `y` [T] at rec.sample_rate. `on_windows(W)` is told the window count
    before embedding starts and `progress(n)` after each batch (a progress bar). A clip in which the
    voice activity detector hears less than vad.min_speech_seconds raises NoSpeechError naming `name`,
    as `identify` refuses it: nobody spoke, and noise is nobody's turn."""
    cfg = (cfg or DiarizeConfig()).check()
    return turns_of(embed_recording(rec, y, cfg, progress, on_windows, name), cfg, rec.sample_rate)


def turns_of(w: Windows, cfg: DiarizeConfig, sample_rate: int) -> Diarization:
    """Stages 3-4: cluster the windows' embeddings, then give each speech frame its speaker."""
    window, frame = (round(s * sample_rate) for s in (cfg.window_s, cfg.frame_s))
    n_frames = -(-w.n_samples // frame)
    if len(w.emb) == 0:
        return Diarization([], w.emb[:0], [], w.n_samples / sample_rate)
    labels = cluster_windows(w.emb, cfg, cfg.hop_s)
    cents = cluster.centroids(w.emb, labels)
    scores = reseg.frame_scores(w.starts, window, w.emb @ cents.T, n_frames, frame)
    lab = reseg.frame_labels(scores, reseg.speech_frames(w.regions, n_frames, frame))
    lab = reseg.bridge(reseg.smooth(lab, round(cfg.min_turn_s / cfg.frame_s)), round(cfg.bridge_s / cfg.frame_s),
                       round(cfg.change_gap_s / cfg.frame_s))
    two = np.full(n_frames, reseg.NONE)
    if w.overlap is not None and cfg.overlap_threshold < 1:
        marked = overlap.per_frame(w.overlap, cfg.frame_s, n_frames) >= cfg.overlap_threshold
        two = reseg.second_voice(lab, marked, round(cfg.min_overlap_s / cfg.frame_s))
    order = _first_spoken(lab)  # clusters that kept frames, first speaker first
    final = np.full(len(cents) + 1, reseg.NONE)  # index -1 (NONE) stays NONE
    final[order] = np.arange(len(order))
    lab, two = final[lab], final[two]
    names = [f"speaker-{i + 1}" for i in range(len(order))]
    seconds = [float((lab == i).sum() * cfg.frame_s) for i in range(len(order))]
    turns = sorted(frames_to_turns(lab, cfg.frame_s, names) + frames_to_turns(two, cfg.frame_s, names),
                   key=lambda t: (t.start, t.end))
    return Diarization(turns, cents[order], seconds, w.n_samples / sample_rate, names)


def _first_spoken(lab: np.ndarray) -> list[int]:
    """Cluster indices that hold frames, in order of their first frame (a cluster can lose all its
    frames to resegmentation; it is then dropped)."""
    speech = lab[lab != reseg.NONE]
    _, first = np.unique(speech, return_index=True)
    return [int(speech[i]) for i in sorted(first)]
