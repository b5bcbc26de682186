"""The one place that reads audio files: load -> mono float32 -> resample -> checks.

Also the fixed-length helpers used for training crops and inference windows.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

MIN_SECONDS = 0.1
SILENCE_RMS = 1e-5  # about -100 dBFS: digital silence or a dead microphone
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif")


def native_rate(path: str | Path) -> int:
    """The file's own sample rate (header only)."""
    try:
        return int(sf.info(str(path)).samplerate)
    except Exception:
        import librosa

        return int(librosa.get_samplerate(str(path)))


def _wav_truncation(path: str) -> str | None:
    """Reason if `path` is a RIFF/WAVE file cut short, else None.

    libsndfile silently shrinks the frame count of a truncated WAV to what the file
    holds, so compare the header's declared chunk sizes with the file size instead.
    Streaming placeholders (data size 0 or 0xFFFFFFFF) are not checked.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(endian + "4sI", f.read(8))
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF) or pos + 8 + csize <= size:
                    return None
                return f"truncated (header declares {csize} bytes of audio data, file holds {size - pos - 8})"
            if pos + 8 + csize > size:
                return f"truncated (the '{cid.decode('latin-1').strip()}' chunk runs past the end of the file)"
            pos += 8 + csize + (csize & 1)
        if pos < size:
            return "truncated (the file ends inside a chunk header)"
    return None


def _read(path: str) -> tuple[np.ndarray, int]:
    """Decode to [frames, channels] float32. soundfile first, librosa/audioread for the rest."""
    truncated = _wav_truncation(path)
    if truncated:
        raise AudioError(path, truncated)
    try:
        with sf.SoundFile(path) as f:
            declared = f.frames
            data = f.read(dtype="float32", always_2d=True)
            sr = f.samplerate
        if declared > 0 and len(data) < declared:
            raise AudioError(path, f"truncated (header declares {declared} samples, file holds {len(data)})")
        return data, sr
    except AudioError:
        raise
    except Exception as sf_error:
        first = str(sf_error).splitlines()[0] if str(sf_error) else type(sf_error).__name__
        try:
            import warnings

            import librosa

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y, sr = librosa.load(path, sr=None, mono=False)
            y = np.atleast_2d(y).T.astype(np.float32)
            return y, int(sr)
        except Exception:
            raise AudioError(path, f"not readable as audio ({first})") from None


def load(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read `path` as mono float32 at `sample_rate` (None keeps the file's rate).

    Raises AudioError with a one-line reason for missing, empty, unreadable, truncated,
    non-finite, silent or too-short files.
    """
    path = str(path)
    if not os.path.exists(path):
        raise AudioError(path, "file not found")
    if os.path.isdir(path):
        raise AudioError(path, "is a folder, not an audio file")
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)")
    data, sr = _read(path)
    if data.size == 0:
        raise AudioError(path, "holds no audio samples")
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or infinite samples")
    y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and sr != sample_rate:
        y = soxr.resample(y, sr, sample_rate, quality="HQ").astype(np.float32)
        sr = sample_rate
    seconds = len(y) / sr
    if seconds < MIN_SECONDS:
        raise AudioError(path, f"too short ({seconds:.3f} s < {MIN_SECONDS} s)")
    if float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < SILENCE_RMS:
        raise AudioError(path, "silent (RMS below -100 dBFS)")
    return np.ascontiguousarray(y, dtype=np.float32), sr


def wrap_pad(y: np.ndarray, n: int) -> np.ndarray:
    """Repeat a short clip until it is `n` samples long (no artificial silence)."""
    if len(y) >= n:
        return y[:n]
    reps = -(-n // len(y))
    return np.tile(y, reps)[:n]


def random_crop(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random `n`-sample window; short clips are wrap-padded from a random offset."""
    if len(y) <= n:
        return wrap_pad(np.roll(y, -int(rng.integers(len(y)))), n)
    start = int(rng.integers(len(y) - n + 1))
    return y[start : start + n]


def window_starts(length: int, n: int, hop: int | None = None) -> list[int]:
    """Start samples of the `n`-sample windows that cover a clip of `length` samples: every
    `hop` samples (default n // 2), the last one aligned to the end, so every sample is seen.
    A clip of at most `n` samples has the single start 0 (it is wrap-padded)."""
    if length <= n:
        return [0]
    hop = hop or max(1, n // 2)
    starts = list(range(0, length - n + 1, hop))
    if starts[-1] != length - n:
        starts.append(length - n)
    return starts


def windows(y: np.ndarray, n: int, hop: int | None = None, starts: list[int] | None = None) -> np.ndarray:
    """Cover a clip with `n`-sample windows -> [W, n] (see `window_starts`; short clips give one
    wrap-padded window). Predictions of the windows are averaged by the caller."""
    if len(y) <= n:
        return wrap_pad(y, n)[None, :]
    starts = window_starts(len(y), n, hop) if starts is None else starts
    return np.stack([y[s : s + n] for s in starts])
