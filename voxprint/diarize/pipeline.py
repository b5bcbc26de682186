"""The diarization pipeline: speech regions -> windows -> embeddings -> clusters -> frame-level turns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import vad
from . import cluster, reseg
from .config import DiarizeConfig
from .embed import embed_windows
from .turns import Turn
from .windows import window_starts


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


VAD_BLOCK_S = 300.0  # speech is found 5 minutes at a time: the detector's memory grows with its input


def speech_regions(rec, y: np.ndarray) -> np.ndarray:
    """[R, 2] speech sample ranges of `y` by the Recognizer's own voice activity settings, found block
    by block (VAD_BLOCK_S; a 60-minute file at once took 1.3 GB in the detector) and joined where a
    region runs across a block edge. A block where the detector hears too little speech falls back to
    its audible part, as `predict` does with a file."""
    from ..vad.regions import merge

    sr, cfg = rec.sample_rate, rec.cfg.vad
    block = round(VAD_BLOCK_S * sr)
    starts = list(range(0, len(y), block))
    if len(starts) > 1 and len(y) - starts[-1] < sr:  # a last sliver joins the block before it
        starts.pop()
    parts = []
    for i, a in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(y)
        parts.append(vad.detect(y[a:end], sr, cfg).or_all(cfg.min_speech_seconds).regions + a)
    return merge(np.concatenate(parts), round(cfg.min_silence_ms * sr / 1000))


def frames_to_turns(labels: np.ndarray, frame_s: float, names: list[str]) -> list[Turn]:
    """Runs of frame labels -> turns (non-speech runs dropped)."""
    return [Turn(round(a * frame_s, 3), round(b * frame_s, 3), names[lab])
            for a, b, lab in reseg.runs(labels) if lab != reseg.NONE]


def cluster_windows(emb: np.ndarray, cfg: DiarizeConfig, hop_s: float) -> np.ndarray:
    """Window labels [W]: spectral or agglomerative clustering, then clusters with under cfg.min_cluster_s of
    windows folded into their nearest (only when the speaker count is not given)."""
    if cfg.method == "spectral":
        labels = cluster.spectral(emb, cfg.keep, cfg.speakers, cfg.min_speakers, cfg.max_speakers)
    else:
        labels = cluster.ahc(emb, cfg.threshold, cfg.speakers, cfg.min_speakers, cfg.max_speakers)
    if cfg.speakers is None and len(labels):
        keep = max(cfg.min_speakers, 1)
        labels = cluster.fold_small(emb, labels, max(round(cfg.min_cluster_s / hop_s), 1), keep)
        if cfg.method == "spectral" and cfg.merge_sim < 1:
            labels = cluster.merge_close(emb, labels, cfg.merge_sim, keep)
    return labels


@dataclass
class Windows:
    """A recording's speech regions [R, 2], window starts [W] (samples) and embeddings [W, E]."""

    regions: np.ndarray
    starts: np.ndarray
    emb: np.ndarray
    n_samples: int


def embed_recording(rec, y: np.ndarray, cfg: DiarizeConfig, progress=None, on_windows=None) -> Windows:
    """Stages 1-2: speech regions of `y` [T], windows inside them, one embedding per window."""
    window, hop = (round(s * rec.sample_rate) for s in (cfg.window_s, cfg.hop_s))
    regions = speech_regions(rec, y)
    starts = window_starts(regions, len(y), window, hop)
    if on_windows is not None:
        on_windows(len(starts))
    return Windows(regions, starts, embed_windows(rec, y, starts, window, cfg.batch, progress, cfg.workers), len(y))


def diarize_wave(rec, y: np.ndarray, cfg: DiarizeConfig | None = None,
                 progress: Callable[[int], None] | None = None, on_windows: Callable[[int], None] | None = None,
                 ) -> Diarization:
    """Who spoke when in clip `y` [T] at rec.sample_rate. `on_windows(W)` is told the window count
    before embedding starts and `progress(n)` after each batch (a progress bar)."""
    cfg = (cfg or DiarizeConfig()).check()
    return turns_of(embed_recording(rec, y, cfg, progress, on_windows), cfg, rec.sample_rate)


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
    two = reseg.second_voice(scores, lab, cfg.overlap_margin, round(cfg.min_overlap_s / cfg.frame_s))
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
