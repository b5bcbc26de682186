"""Padded copies of a data set: known non-speech before and after every clip.

Real recordings carry silence around the speech; FSDD and speeches5 clips hardly do.
A padded copy adds `seconds` of digital silence ("silence") or of a quiet recorded-noise
bed ("room": a noise file's evaluation part - after augment.train_fraction, so never the
noise trained on - scaled to `level_db` dBFS RMS and laid under the whole padded clip)
before and after every clip, keeping the layout, names, speakers and splits, so the copy
is used exactly like the original (`voxprint run --data COPY`). The padding is known
non-speech: benchmarks/vad.py and benchmarks/padded.py score detectors and models on it, tests check
models are not fooled (`padded_set`: a padded copy of a shared data subset, built once per folder).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.common import DATA
from voxprint import audio
from voxprint.augment import build_sources
from voxprint.datasets import _cap, dataset_rate, discover
from voxprint.errors import AudioError, DataError
from voxprint.io import atomic_write_bytes

log = logging.getLogger(__name__)

KINDS = ("silence", "room")
ROOM_NOISE = "exercise_bike.wav"  # a steady machine hum, the closest of the shared noises to room tone
ROOM_LEVEL_DB = -55.0


def pad_clip(y: np.ndarray, pad: int, bed: np.ndarray | None = None) -> np.ndarray:
    """[T] -> [T + 2 * pad]: `pad` zeros each side, plus `bed` [T + 2 * pad] when given."""
    out = np.concatenate([np.zeros(pad, np.float32), y.astype(np.float32), np.zeros(pad, np.float32)])
    if bed is not None:
        out = out + bed[: len(out)]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def scaled_to(x: np.ndarray, level_db: float) -> np.ndarray:
    """`x` scaled to an RMS of `level_db` dBFS."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x * (10.0 ** (level_db / 20.0) / max(rms, 1e-12))).astype(np.float32)


class RoomBed:
    """Quiet recorded noise from the evaluation part of `noise_file`, at `level_db` dBFS RMS."""

    def __init__(self, noise_file: str | Path, sample_rate: int, level_db: float = ROOM_LEVEL_DB,
                 train_fraction: float = 0.8):
        sources = build_sources([str(noise_file)], sample_rate, "eval", train_fraction)
        if not sources:
            raise DataError(f"{noise_file}: no usable noise for the room bed")
        self.source, self.level_db = sources[0], level_db

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return scaled_to(self.source.sample(n, rng), self.level_db)


def default_room_noise() -> Path:
    from voxprint.dirs import data_home

    return data_home() / "noise" / ROOM_NOISE


def _write_wav(path: Path, y: np.ndarray, sample_rate: int) -> None:
    buf = io.BytesIO()
    sf.write(buf, y, sample_rate, format="WAV", subtype="PCM_16")
    atomic_write_bytes(path, buf.getvalue())


def padded_copy(src: str | Path, out: str | Path, kind: str = "silence", seconds: float = 1.0,
                max_per_speaker: int | None = None, speakers: list[str] | None = None,
                level_db: float = ROOM_LEVEL_DB, noise_file: str | Path | None = None, seed: int = 0,
                train_fraction: float = 0.8) -> Path:
    """Write a padded copy of data set `src` ("fsdd", a folder) under `out`; returns `out`.

    FSDD keeps its file names under out/recordings/; folder layouts keep
    out/audio/<speaker>/<name>, and a dataset noise folder is linked as out/noise.
    Clips keep their own sample rate; they are written as 16-bit PCM WAV. A file that cannot be
    used is left out with a warning (as a run would skip it). The room bed comes from the part of
    its noise file after `train_fraction` (pass the run's augment.train_fraction): never noise
    trained on. A manifest (whose split column a folder layout would lose) is refused.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    ds = discover(src)
    if ds.layout == "manifest":
        raise DataError(f"{src}: padded copies keep folder layouts and FSDD names, not a manifest's split column")
    items = [it for it in ds.items if not speakers or it.speaker in speakers]
    if max_per_speaker:
        items = _cap(items, max_per_speaker, ds)
    out = Path(out)
    sr = dataset_rate(ds)
    bed = RoomBed(noise_file or default_room_noise(), sr, level_db, train_fraction) if kind == "room" else None
    rng = np.random.default_rng(seed)
    written: set[Path] = set()
    for it in items:
        rel = Path(it.path).name if ds.layout == "fsdd" else Path(it.speaker) / Path(it.path).name
        target = (out / ("recordings" if ds.layout == "fsdd" else "audio") / rel).with_suffix(".wav")
        if target in written:  # a.flac and a.wav of one speaker would land on one name
            raise DataError(f"{it.path}: its padded copy {target} would overwrite another clip's")
        try:
            y, _ = audio.load(it.path, sr)
        except AudioError as e:
            log.warning(f"padded copy: skip {e}")
            continue
        pad = round(seconds * sr)
        noise = bed(len(y) + 2 * pad, rng) if bed else None
        _write_wav(target, pad_clip(y, pad, noise), sr)
        written.add(target)
    if ds.noise_dir is not None and not (out / "noise").exists():
        (out / "noise").symlink_to(Path(ds.noise_dir).resolve(), target_is_directory=True)
    return out


SETS = ("fsdd", "speeches5")  # the shared data sets a padded_set copies


def padded_set(tmp: str | Path, name: str, kind: str, seconds: float = 1.0, max_per_speaker: int | None = None,
               speakers: list[str] | None = None, seed: int = 0, data: Path = DATA) -> Path:
    """The padded copy of shared data set `name` (fsdd, speeches5) under `tmp`, written once per
    settings, with the room bed from the shared noise/exercise_bike.wav; returns its root (usable as
    --data). A missing shared file is a DataError naming it."""
    if name not in SETS:
        raise ValueError(f"padded_set: {name!r} is not one of {SETS}")
    src, noise = data / name, data / "noise" / ROOM_NOISE
    for path in (src, noise):
        if not path.exists():
            raise DataError(f"{path}: not found (set VOXPRINT_DATA to the shared data folder)")
    tag = f"{name}-{kind}-{seconds:g}s-{max_per_speaker or 'all'}-{'_'.join(speakers or ['all'])}-{seed}"
    out = Path(tmp) / tag
    if not out.exists():
        padded_copy(src, out, kind, seconds, max_per_speaker=max_per_speaker, speakers=speakers, seed=seed,
                    noise_file=noise)
    return out
