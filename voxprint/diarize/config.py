"""Settings of `voxprint diarize` (window, clustering and overlap settings chosen by benchmarks/diarize.py
on conversations of libri-dev train and dev speakers, never on its test speakers; a test holds these
defaults to the ones docs/results/diarize.json reports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DiarizeConfig:
    window_s: float = 1.5  # each window is embedded once by the speaker encoder
    hop_s: float = 0.75  # windows start this far apart inside a speech region
    # spectral: windows linked to their nearest neighbours, how many (up to the `keep` share of the
    # windows) and the speaker count chosen per recording by the normalised maximum eigengap (cluster.py);
    # ahc: average linkage stopped at cosine distance `threshold` (the baseline's method)
    method: str = "spectral"
    keep: float = 0.25
    threshold: float = 0.3
    # share of the recording's mean embedding taken from every window before clustering: what all
    # windows share (the room, the line, a steady noise) pulls different voices together. On the 80
    # tuning conversations (keep 0.15, no overlap detector) DER 0.109 with 0, 0.105 with 0.5 or 1;
    # folding below sees the embeddings as they are
    centre: float = 0.5
    # spectral: clusters are one voice when their centroids are this similar after `centre` (1: never):
    # the eigengap splits one voice into two (its loud and soft passages), which then sit far closer to
    # each other than two people do. Halves of one speaker's windows in a tuning conversation: 0.7 %
    # below 0.7 (centre 0.5); two speakers: 0.4 % above
    merge_heard: float = 0.7
    # ... or this similar as they are (1: never). A recording of one voice has no other voice to
    # set it apart from, so `centre` takes most of what its windows share; 0.9 keeps its passages one
    # speaker (0.88 merged different people)
    merge_sim: float = 0.9
    frame_s: float = 0.1  # resegmentation step: turn edges are placed to this resolution
    # a cluster with less speech (windows x hop) than this is folded into its nearest one: a short
    # cluster is mostly a passage of one voice heard apart, rarely a person who said almost nothing.
    # Tuning set with one-voice recordings pooled: at 2 s a third of those came out as two people
    # (DER 0.096 pooled), at 5 s none (0.082); a speaker with under ~5 s in a recording is not found
    min_cluster_s: float = 5.0
    min_turn_s: float = 0.3  # shorter runs of one label are absorbed by their neighbours
    bridge_s: float = 1.0  # pauses shorter than this inside one speaker's turn are bridged
    change_gap_s: float = 0.5  # pauses this short between two speakers are split between them
    # overlapped speech: a frame whose overlap probability (overlap.py's detector, mean over the frame)
    # reaches this also gets the other speaker nearest in time, in runs of at least min_overlap_s
    # (1: the detector is not run). Chosen on a tuning set that also holds conversations of another
    # corpus (ocean-train's children and non-native adults): on LibriSpeech alone a lower threshold wins
    # (0.4), and on the other corpus's conversations it added DER where 0.5-0.6 do not. The detector
    # trained on LibriSpeech alone heard two voices in 10-25 % of one voice's speech on other recordings
    # (benchmarks/overlap.py)
    overlap_threshold: float = 0.5
    min_overlap_s: float = 0.3
    batch: int = 64  # windows per encoder call (memory stays one batch, whatever the file length)
    workers: int = 2  # batches embedded at once (threads; the machine this was measured on has 2 cores)
    speakers: int | None = None  # known speaker count
    min_speakers: int = 1
    max_speakers: int | None = None

    def check(self) -> DiarizeConfig:
        from ..errors import VoxprintError

        if self.speakers is not None and self.speakers < 1:
            raise VoxprintError(f"--speakers must be 1 or more, got {self.speakers}")
        if self.min_speakers < 1 or (self.max_speakers is not None and self.max_speakers < self.min_speakers):
            raise VoxprintError(f"speaker bounds must satisfy 1 <= min <= max, got {self.min_speakers}-"
                                f"{self.max_speakers}")
        if self.method not in ("spectral", "ahc"):
            raise VoxprintError(f"unknown clustering method '{self.method}'; valid: ahc, spectral")
        if not (-1 <= self.merge_heard <= 1 and -1 <= self.merge_sim <= 1):
            raise VoxprintError(f"merge similarities must be in [-1, 1], got {self.merge_heard}, {self.merge_sim}")
        if not 0 < self.keep <= 1:
            raise VoxprintError(f"keep must be in (0, 1], got {self.keep}")
        if not 0 <= self.centre <= 1:
            raise VoxprintError(f"centre must be in [0, 1], got {self.centre}")
        if not 0 < self.overlap_threshold <= 1:
            raise VoxprintError(f"overlap threshold must be in (0, 1], got {self.overlap_threshold}")
        if not (0 < self.hop_s <= self.window_s):
            raise VoxprintError(f"hop ({self.hop_s} s) must be in (0, window = {self.window_s} s]")
        return self
