"""The one place that reads audio files: load -> mono float32 -> resample -> checks.

Files are decoded in blocks of CHUNK_FRAMES, mixed to mono and resampled as a stream, so
reading never needs more than one block of the source plus the mono result: a long 48 kHz
stereo file costs the memory of its mono result at the target rate, not of its decoded source.
Also the fixed-length helpers used for training crops and inference windows.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

MIN_SECONDS = 0.1
SILENCE_RMS = 1e-5  # about -100 dBFS: digital silence or a dead microphone
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".webm", ".opus")
# Sample rates outside this range are a broken or crafted header: a file claiming 1 Hz would be
# resampled to thousands of times its size. Refused from the header, before decoding.
MIN_RATE, MAX_RATE = 1_000, 384_000
# The most samples (at the rate they are returned) one file may hold. A file is scored whole, at
# about 8 bytes a sample (the clip and its speech), so this bounds `predict` at about 1.2 GB
# whatever the file (benchmarks/predict_memory.py): 2**26 samples = 2.3 h at 8 kHz, 70 min at 16 kHz.
MAX_SAMPLES = 2**26
CHUNK_FRAMES = 1 << 17  # source frames decoded per block


def native_rate(path: str | Path) -> int:
    """The file's own sample rate (header only; raises AudioError when no decoder can open it)."""
    problem = not_a_file(path)
    if problem:
        raise AudioError(path, problem)
    with _open(str(path)) as (rate, _, _, _):
        return rate


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


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _av_open(path: str):
    """(container, its first audio stream) through PyAV (FFmpeg libraries in its wheel: WebM/Opus from
    browsers, m4a/AAC from phones), or None when PyAV is not installed or cannot open the file."""
    try:
        import av
    except ImportError:
        return None
    try:
        container = av.open(path)
    except Exception:
        return None
    if not container.streams.audio:
        container.close()
        return None
    return container, container.streams.audio[0]


def _av_blocks(container, stream):
    """[n, channels] float32 blocks of one audio stream, decoded frame by frame."""
    import av

    resampler = av.AudioResampler(format="fltp")  # planar float32, the stream's own rate and channels
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray().T


@contextlib.contextmanager
def _open(path: str):
    """Open for block decoding -> (rate, declared frames or 0, channels, blocks [n, channels] float32).
    soundfile first; then PyAV when installed (`pip install 'voxprint[webm]'`); then audioread (the
    decoders librosa falls back to)."""
    try:
        f = sf.SoundFile(path)
    except Exception as sf_error:
        opened = _av_open(path)
        if opened is not None:
            container, stream = opened
            with container:
                ch = max(1, int(stream.codec_context.channels or 1))
                yield int(stream.codec_context.sample_rate or 0), 0, ch, _av_blocks(container, stream)
            return
        try:
            with warnings.catch_warnings():  # audioread imports stdlib modules deprecated in 3.11
                warnings.simplefilter("ignore")
                import audioread

                g = audioread.audio_open(path)
        except Exception:
            raise AudioError(path, f"not readable as audio ({_first_line(sf_error)})") from None
        with g:
            ch = max(1, int(g.channels))
            yield int(g.samplerate), 0, ch, (np.frombuffer(b, "<i2").reshape(-1, ch) / np.float32(32768) for b in g)
        return
    with f:
        yield int(f.samplerate), int(f.frames), int(f.channels), _sf_blocks(f)


def _sf_blocks(f: sf.SoundFile):
    while len(block := f.read(CHUNK_FRAMES, dtype="float32", always_2d=True)):
        yield block


class _Buffer:
    """A growable float32 array: filled block by block, trimmed in place at the end."""

    def __init__(self, capacity: int):
        self.buf = np.empty(max(capacity, 1), np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        if self.n + len(x) > len(self.buf):
            self.buf.resize(max(2 * len(self.buf), self.n + len(x)), refcheck=False)
        self.buf[self.n : self.n + len(x)] = x
        self.n += len(x)

    def array(self) -> np.ndarray:
        self.buf.resize(self.n, refcheck=False)
        return self.buf


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.1f} s"


def _too_long(path: str, samples: float, rate: int) -> AudioError:
    return AudioError(path, f"too long ({int(samples)} samples = {_duration(samples / rate)} at {rate} Hz; "
                            f"at most {MAX_SAMPLES} = {_duration(MAX_SAMPLES / rate)} per file: split it)")


def _decode(path: str, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """Decode, mix to mono and resample block by block -> (mono float32, its rate)."""
    with _open(path) as (rate, declared, channels, blocks):
        if not MIN_RATE <= rate <= MAX_RATE:
            raise AudioError(path, f"implausible sample rate {rate} Hz in the header "
                                   f"(valid: {MIN_RATE}-{MAX_RATE} Hz)")
        out_rate = sample_rate or rate
        if declared * out_rate / rate > MAX_SAMPLES:
            raise _too_long(path, declared * out_rate / rate, out_rate)
        stream = soxr.ResampleStream(rate, out_rate, 1, dtype="float32", quality="HQ") if out_rate != rate else None
        out = _Buffer(int(declared * out_rate / rate) + 64 if declared > 0 else CHUNK_FRAMES)
        n_in = 0
        try:
            for block in blocks:
                n_in += len(block)
                if not np.isfinite(block).all():
                    raise AudioError(path, "contains NaN or infinite samples")
                # float64 accumulation: the mean of finite float32 samples stays finite
                mono = block.mean(axis=1, dtype=np.float64).astype(np.float32) if channels > 1 else block[:, 0]
                out.append(stream.resample_chunk(np.ascontiguousarray(mono, np.float32)) if stream else mono)
                if out.n > MAX_SAMPLES:
                    raise _too_long(path, n_in * out_rate / rate, out_rate)
        except (AudioError, OSError, MemoryError):
            raise
        except Exception as e:
            raise AudioError(path, f"cannot be decoded ({_first_line(e)[:120]})") from None
        if stream is not None:
            out.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    if declared > 0 and n_in < declared:
        raise AudioError(path, f"truncated (header declares {declared} samples, file holds {n_in})")
    if n_in == 0:
        raise AudioError(path, "holds no audio samples")
    return out.array(), out_rate


def _rms(y: np.ndarray, block: int = 1 << 20) -> float:
    """RMS in float64, a block at a time (no float64 copy of a long clip)."""
    total = sum(float(np.dot(y[i : i + block].astype(np.float64), y[i : i + block])) for i in range(0, len(y), block))
    return float(np.sqrt(total / max(len(y), 1)))


def not_a_file(path: str | Path) -> str | None:
    """Why `path` is not an existing regular file (missing, a broken link or a link loop, a folder,
    a device or pipe - which a decoder could wait on forever), else None. Reads no content."""
    path = str(path)
    if not os.path.exists(path):
        return "symbolic link to nothing (broken, or a loop)" if os.path.islink(path) else "file not found"
    if os.path.isdir(path):
        return "is a folder, not an audio file"
    if not stat.S_ISREG(os.stat(path).st_mode):
        return "not a regular file (a device, pipe or socket)"
    return None


def _check_file(path: str) -> None:
    """Refuse what is not a readable regular file before any decoder sees it."""
    problem = not_a_file(path)
    if problem:
        raise AudioError(path, problem)
    if os.path.getsize(path) == 0:
        raise AudioError(path, "empty file (0 bytes)")
    truncated = _wav_truncation(path)  # opens the file: an unreadable one fails here
    if truncated:
        raise AudioError(path, truncated)


def load(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read `path` as mono float32 at `sample_rate` (None keeps the file's rate) -> ([T], rate).

    Raises AudioError with a one-line reason for missing, empty, unreadable (any OS error,
    permission denied included), truncated, non-finite, silent, too short or too long files,
    and for implausible sample rates (refused from the header, before decoding).
    """
    path = str(path)
    try:
        _check_file(path)
        y, sr = _decode(path, sample_rate)
    except OSError as e:
        raise AudioError(path, f"cannot be read ({(e.strerror or _first_line(e)).lower()})") from None
    except MemoryError:
        raise AudioError(path, "too large to decode in the memory available") from None
    seconds = len(y) / sr
    if seconds < MIN_SECONDS:
        raise AudioError(path, f"too short ({seconds:.3f} s < {MIN_SECONDS} s)")
    if _rms(y) < SILENCE_RMS:
        raise AudioError(path, "silent (RMS below -100 dBFS)")
    return y, sr


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
