"""Seeded synthetic conversations with reference turns, from a folder of one-speaker recordings.

    from benchmarks import synth
    voices = synth.load_voices(["/data/libri-dev/103", ...], 16000)   # {speaker: [T] clips}
    conv = synth.conversation(voices, synth.ConversationConfig(), seed=0)
    conv.audio  # [T] float32; conv.turns  # reference Turns (overlaps allowed)

Distributions (ConversationConfig): the speaker count is uniform in [min_speakers, max_speakers] (never
more than the voices given); the length is uniform in [min_seconds, max_seconds]; who speaks next is
uniform over the others; a turn lasts a log-normal time (median turn_median_s, sigma turn_sigma) clipped
to [min_turn_s, max_turn_s] and to the speaker's recording; the pause before it is exponential (mean
pause_mean_s); with probability `overlap` a turn starts before the last ends instead, by 0.3 s up to half
of either turn (so at most that share of turns overlap: 0-20 %); each speaker's level is uniform within
+-level_db. A turn is a random stretch of its speaker's recording (a new offset each time: with one
~12-s utterance per speaker, a long conversation hears the same words again). Noise, when given, is a
random stretch of a noise recording mixed at `snr_db` against the conversation's speech power.

Two references: `turns` spans each turn from its first to its last sample, pauses included, and `voiced`
keeps only where the speaker is heard (VOICED_* below: a stretch's 10-ms frames within 35 dB of the
speaker's loud frames, pauses under 0.3 s bridged), the way a person annotating a meeting marks speech
and not the silence before a sentence or a long breath inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxprint import audio
from voxprint.diarize.turns import Turn


@dataclass
class ConversationConfig:
    min_speakers: int = 2
    max_speakers: int = 6
    min_seconds: float = 60.0
    max_seconds: float = 180.0
    turn_median_s: float = 2.5
    turn_sigma: float = 0.7
    min_turn_s: float = 0.5
    max_turn_s: float = 8.0
    pause_mean_s: float = 0.4
    overlap: float = 0.1  # chance that a turn starts before the previous one ends
    level_db: float = 3.0
    sample_rate: int = 16000


@dataclass
class Conversation:
    audio: np.ndarray  # [T] float32
    turns: list[Turn]  # reference, sorted by start; labels are the speakers' folder names
    sample_rate: int
    voiced: list[Turn] = field(default_factory=list)  # the turns' heard parts (pauses of 0.3 s or more cut)

    @property
    def speakers(self) -> list[str]:
        return sorted({t.label for t in self.turns})


def load_voices(folders, sample_rate: int = 16000) -> dict[str, np.ndarray]:
    """{folder name: its recordings concatenated [T]} for each speaker folder."""
    out = {}
    for d in folders:
        d = Path(d)
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in audio.AUDIO_EXTENSIONS)
        out[d.name] = np.concatenate([audio.load(p, sample_rate)[0] for p in files])
    return out


def _turn_length(rng, cfg: ConversationConfig, available: float) -> float:
    t = float(np.exp(rng.normal(np.log(cfg.turn_median_s), cfg.turn_sigma)))
    return min(max(t, cfg.min_turn_s), cfg.max_turn_s, available)


def _schedule(rng, cfg: ConversationConfig, names: list[str], lengths: dict[str, float]) -> list[Turn]:
    """Reference turns until the conversation's drawn length is reached."""
    total = rng.uniform(cfg.min_seconds, cfg.max_seconds)
    turns: list[Turn] = []
    who = str(rng.choice(names))
    t = float(rng.exponential(cfg.pause_mean_s))
    while t < total:
        dur = _turn_length(rng, cfg, lengths[who])
        start = t
        if turns and rng.random() < cfg.overlap:
            prev = turns[-1]
            most = min(prev.end - prev.start, dur) / 2
            start = prev.end - (rng.uniform(0.3, most) if most > 0.3 else 0.0)
        turns.append(Turn(round(start, 3), round(start + dur, 3), who))
        t = turns[-1].end + float(rng.exponential(cfg.pause_mean_s))
        who = str(rng.choice([n for n in names if n != who]))
    return turns


def conversation(voices: dict[str, np.ndarray], cfg: ConversationConfig, seed: int,
                 noise: np.ndarray | None = None, snr_db: float | None = None) -> Conversation:
    """One conversation among speakers drawn from `voices` ({name: [T] at cfg.sample_rate})."""
    rng = np.random.default_rng(seed)
    sr = cfg.sample_rate
    k = int(rng.integers(cfg.min_speakers, min(cfg.max_speakers, len(voices)) + 1))
    names = [str(n) for n in rng.choice(sorted(voices), size=k, replace=False)]
    gains = {n: 10 ** (rng.uniform(-cfg.level_db, cfg.level_db) / 20) for n in names}
    turns = _schedule(rng, cfg, names, {n: len(voices[n]) / sr for n in names})
    floors = {n: loud_floor(voices[n], sr) for n in names}
    y = np.zeros(int(np.ceil(max(t.end for t in turns) * sr)) + sr // 2, np.float32)
    voiced = []
    for t in turns:
        v = voices[t.label]
        n = min(round((t.end - t.start) * sr), len(v))  # millisecond rounding can pass its length
        off = int(rng.integers(0, len(v) - n + 1))
        a = round(t.start * sr)
        y[a : a + n] += gains[t.label] * v[off : off + n]
        voiced += [Turn(round(t.start + p, 3), round(t.start + q, 3), t.label)
                   for p, q in heard(v[off : off + n], sr, floors[t.label])]
    if noise is not None and snr_db is not None:
        y = add_noise(y, noise, snr_db, rng)
    return Conversation(y, sorted(turns, key=lambda t: t.start), sr, sorted(voiced, key=lambda t: t.start))


VOICED_FRAME_S = 0.01
VOICED_BELOW_DB = 35.0  # a frame is heard within this many dB of the speaker's loud frames (95th percentile)
VOICED_GAP_S = 0.3  # shorter pauses stay inside a piece of speech


def _frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    f = max(round(VOICED_FRAME_S * sr), 1)
    n = len(x) // f
    return 10 * np.log10((x[: n * f].astype(np.float64).reshape(n, f) ** 2).mean(axis=1) + 1e-12)


def loud_floor(x: np.ndarray, sr: int) -> float:
    """dB level below which a frame of this speaker's recording `x` is not heard."""
    return float(np.percentile(_frame_db(x, sr), 95)) - VOICED_BELOW_DB


def heard(x: np.ndarray, sr: int, floor_db: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the heard pieces of stretch `x` [T]: frames above `floor_db`, pauses
    under VOICED_GAP_S bridged."""
    on = _frame_db(x, sr) > floor_db
    idx = np.flatnonzero(on)
    if len(idx) == 0:
        return []
    gap = round(VOICED_GAP_S / VOICED_FRAME_S)
    cuts = np.flatnonzero(np.diff(idx) > gap)
    firsts, lasts = np.r_[idx[0], idx[cuts + 1]], np.r_[idx[cuts], idx[-1]]
    return [(a * VOICED_FRAME_S, (b + 1) * VOICED_FRAME_S) for a, b in zip(firsts, lasts)]


def add_noise(y: np.ndarray, noise: np.ndarray, snr_db: float, rng) -> np.ndarray:
    """`y` plus a random stretch of `noise` (looped if short) at `snr_db` against y's speech power
    (its samples above -60 dBFS, so pauses do not lower the reference)."""
    reps = -(-len(y) // len(noise)) + 1
    bed = np.tile(noise, reps)
    off = int(rng.integers(0, len(bed) - len(y) + 1))
    bed = bed[off : off + len(y)].astype(np.float64)
    active = np.abs(y) > 1e-3
    p_speech = float(np.mean(y[active].astype(np.float64) ** 2)) if active.any() else 1e-8
    p_noise = float(np.mean(bed**2)) + 1e-12
    return (y + bed * np.sqrt(p_speech / p_noise / 10 ** (snr_db / 10))).astype(np.float32)


def overlap_share(turns: list[Turn], step: float = 0.01) -> float:
    """Share of speech time where two or more turns overlap."""
    end = max(t.end for t in turns)
    count = np.zeros(int(np.ceil(end / step)) + 1, np.int32)
    for t in turns:
        count[int(t.start / step) : int(t.end / step)] += 1
    speech = (count > 0).sum()
    return float((count > 1).sum() / max(speech, 1))
