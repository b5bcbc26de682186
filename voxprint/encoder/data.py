"""Speech for encoder training: lists of clean 16 kHz waves (no speaker labels are needed:
the encoder learns to match its frozen teacher, not to classify).

Sources (each a list of waves):
- libri-dev TRAIN speakers, only the audio of each utterance's enrolment half (the first half
  of its 2-s segments), so another protocol's test halves are never heard;
- a dataset voxprint can read (speeches5, FSDD, a folder per speaker), only the `train` part of
  its default seed-0 split, so the grid's validation and test clips are never heard;
- a big corpus: a folder per speaker, or LibriSpeech's `speaker/chapter/*.flac` (every audio
  file below the root is used). Its files are listed, not loaded: each is read when drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import audio
from .. import protocol as P
from ..config import DataConfig
from ..datasets import discover, prepare
from ..errors import DataError


def libri_train(root: str | Path, speakers: list[str]) -> list[np.ndarray]:
    """The enrolment half of each listed speaker's utterance (never its test segments)."""
    out = []
    for spk in speakers:
        y = audio.load(P.utterance(Path(root), spk), P.SAMPLE_RATE)[0]
        k = P.enrol_count(len(P.cut(y)))
        out.append(y[: int(k * P.SEGMENT_S * P.SAMPLE_RATE)])
    return out


def dataset_train(spec: str | Path, sample_rate: int = P.SAMPLE_RATE) -> list[np.ndarray]:
    """Clips of the train part of a voxprint dataset's default split (seed 0)."""
    parts, _, _, _ = prepare(discover(spec), DataConfig(), 0, sample_rate)
    return list(parts["train"].waves)


def corpus(root: str | Path) -> list[Path]:
    """Every audio file below `root`, as paths (read lazily by `clip`)."""
    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in audio.AUDIO_EXTENSIONS)
    if not files:
        raise DataError(f"{root}: no audio files below it")
    return files


def clip(item: np.ndarray | Path) -> np.ndarray:
    """A pool entry as a wave: in memory already, or read from its file now."""
    return item if isinstance(item, np.ndarray) else audio.load(item, P.SAMPLE_RATE)[0]


def seconds(waves: list) -> float | None:
    """Total seconds of an in-memory pool (None for a lazy one)."""
    if any(not isinstance(w, np.ndarray) for w in waves):
        return None
    return round(float(sum(len(w) for w in waves) / P.SAMPLE_RATE), 1)
