"""Speech for encoder training: lists of clean 16 kHz waves (no speaker labels are needed:
the encoder learns to match its frozen teacher, not to classify).

Sources (each a list of waves):
- libri-dev TRAIN speakers, only the audio of each utterance's enrolment half (the first half
  of its 2-s segments), so another protocol's test halves are never heard;
- a dataset voxprint can read (speeches5, FSDD, a folder per speaker), only the `train` part of
  its default seed-0 split, so the grid's validation and test clips are never heard;
- ocean-train (speechocean762: non-native English, children and adults), only its TRAIN speakers
  (`ocean_split.json` beside this file); its DEV speakers check checkpoints, its TEST speakers are
  left for reports. Listed, not loaded, like a big corpus;
- a big corpus: a folder per speaker, or LibriSpeech's `speaker/chapter/*.flac` (every audio
  file below the root is used). Its files are listed, not loaded: each is read when drawn.

A source with a dev split of its own (libri-dev, ocean-train) also checks checkpoints (`dev_segments`):
a choice made on one kind of voice is not a choice for the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import audio
from .. import protocol as P
from ..config import DataConfig
from ..datasets import discover, prepare
from ..errors import DataError
from ..io import read_json

OCEAN_SPLIT_FILE = Path(__file__).parent / "ocean_split.json"  # written by benchmarks/encoder_sources.py


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


def ocean_split() -> dict:
    """ocean-train speakers: {"train": [...], "dev": [...], "test": [...]} (ocean_split.json)."""
    return read_json(OCEAN_SPLIT_FILE)


def ocean_train(root: str | Path, speakers: list[str]) -> list[Path]:
    """Every recording of the listed ocean-train speakers, as paths (read when drawn)."""
    files = [f for s in speakers for f in sorted((Path(root) / s).glob("*.flac"))]
    if not files:
        raise DataError(f"{root}: no recordings of the ocean-train training speakers")
    return files


def ocean_segments(root: str | Path, speakers: list[str]) -> list[P.Segment]:
    """Each listed speaker's recordings joined in name order and cut into the protocol's 2-s segments;
    the first half enrol. Speakers are named `ocean/<id>` so that they never share a name with another
    source's."""
    out = []
    for spk in speakers:
        files = sorted((Path(root) / spk).glob("*.flac"))
        if not files:
            raise DataError(f"{Path(root) / spk}: no recordings")
        pieces = P.cut(np.concatenate([audio.load(f, P.SAMPLE_RATE)[0] for f in files]))
        k, name = P.enrol_count(len(pieces)), f"ocean/{spk}"
        out += [P.Segment(f"{name}/{i}", name, i, i < k, p, str(Path(root) / spk), i * P.SEGMENT_S,
                          i * P.SEGMENT_S + len(p) / P.SAMPLE_RATE) for i, p in enumerate(pieces)]
    return out


def dev_segments(sources, data_home: str | Path, libri_split: dict, most: int | None = None) -> dict[str, list[P.Segment]]:
    """{source: dev segments} for libri-dev (always: the encoder's own check) and every other training
    source in `sources` with a dev split (ocean-train); `most`: the first N dev speakers of each."""
    home = Path(data_home)
    out = {"libri": P.segments(home / "libri-dev", libri_split["dev"][:most])}
    if "ocean" in sources:
        out["ocean"] = ocean_segments(home / "ocean-train", ocean_split()["dev"][:most])
    return out
