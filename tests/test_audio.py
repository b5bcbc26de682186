"""audio.load: one clear AudioError (path + reason) per bad file; good files come out mono float32."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from voxprint import audio
from voxprint.errors import AudioError, VoxprintError

SR = 16000


def tone(seconds: float, sr: int = SR, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def expect_error(path, *words: str) -> AudioError:
    """load(path) raises one AudioError whose path, reason and message agree."""
    with pytest.raises(AudioError) as info:
        audio.load(path)
    err = info.value
    assert isinstance(err, VoxprintError)
    assert err.path == str(path)
    assert str(err) == f"{path}: {err.reason}"
    assert "\n" not in str(err)
    for w in words:
        assert w in err.reason.lower(), err.reason
    return err


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.wav", "not found")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    expect_error(p, "empty", "0 bytes")


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
@pytest.mark.parametrize("cut", [1, 1000, 16000])
def test_truncated_wav(tmp_path, subtype, cut):
    # libsndfile does not notice a cut WAV (it shrinks the frame count to what is there),
    # so audio.py compares the data chunk size in the header with the file size.
    full = tmp_path / "full.wav"
    sf.write(full, tone(1.0), SR, subtype=subtype)
    data = full.read_bytes()
    p = tmp_path / "cut.wav"
    p.write_bytes(data[:-cut])
    err = expect_error(p, "truncated")
    assert "declares" in err.reason
    audio.load(full)  # the uncut file is fine


def test_truncated_inside_header(tmp_path):
    full = tmp_path / "full.wav"
    sf.write(full, tone(1.0), SR)
    p = tmp_path / "cut.wav"
    p.write_bytes(full.read_bytes()[:30])  # inside the fmt chunk
    expect_error(p, "truncated")


def test_wav_with_trailing_chunk_is_not_truncated(tmp_path):
    # Real files (Speech Commands noise) carry a LIST chunk after the data: not a truncation.
    p = tmp_path / "list.wav"
    sf.write(p, tone(0.5), SR)
    raw = bytearray(p.read_bytes())
    extra = b"LIST" + (4).to_bytes(4, "little") + b"INFO"
    raw += extra
    raw[4:8] = (int.from_bytes(raw[4:8], "little") + len(extra)).to_bytes(4, "little")
    p.write_bytes(bytes(raw))
    y, sr = audio.load(p)
    assert sr == SR and len(y) == int(0.5 * SR)


def test_text_file_named_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is a text file, not audio\n" * 20)
    expect_error(p, "not readable as audio")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    y = tone(0.5)
    y[100] = bad
    p = tmp_path / "nan.wav"
    sf.write(p, y, SR, subtype="FLOAT")
    expect_error(p, "nan or infinite")


def test_silent_file(tmp_path):
    p = tmp_path / "silent.wav"
    sf.write(p, np.zeros(SR, dtype=np.float32), SR)
    expect_error(p, "silent")


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, tone(0.05), SR)
    err = expect_error(p, "too short")
    assert "0.050" in err.reason


def test_exactly_min_length_is_accepted(tmp_path):
    p = tmp_path / "tenth.wav"
    sf.write(p, tone(0.1), SR)
    y, _ = audio.load(p)
    assert len(y) == SR // 10


def test_directory(tmp_path):
    d = tmp_path / "folder.wav"
    d.mkdir()
    expect_error(d, "folder")


# --------------------------------------------------------------------------- good input


def test_stereo_is_mixed_to_mono_by_mean(tmp_path):
    left, right = tone(0.5, freq=300), tone(0.5, freq=700, amp=0.1)
    p = tmp_path / "stereo.wav"
    sf.write(p, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, sr = audio.load(p)
    assert sr == SR and y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("seconds", [1.0, 0.73])
def test_resample_44k1_to_16k(tmp_path, seconds):
    src = tone(seconds, sr=44100, freq=1000)
    p = tmp_path / "cd.wav"
    sf.write(p, src, 44100, subtype="FLOAT")
    y, sr = audio.load(p, 16000)
    assert sr == 16000 and y.dtype == np.float32
    assert abs(len(y) - len(src) * 16000 / 44100) <= 1
    # still a 1 kHz tone of the same level
    ref = tone(len(y) / 16000, sr=16000, freq=1000)[: len(y)]
    mid = slice(200, len(y) - 200)
    assert abs(np.sqrt(np.mean(y[mid] ** 2)) - np.sqrt(np.mean(ref[mid] ** 2))) < 0.01
    spec = np.abs(np.fft.rfft(y[mid]))
    peak_hz = np.argmax(spec) * 16000 / len(y[mid])
    assert abs(peak_hz - 1000) < 5


def test_native_rate_kept_without_target(tmp_path):
    p = tmp_path / "cd.wav"
    sf.write(p, tone(0.5, sr=44100), 44100)
    y, sr = audio.load(p)
    assert sr == 44100 and len(y) == int(0.5 * 44100)
    assert audio.native_rate(p) == 44100


@pytest.mark.parametrize("fmt,subtype,tol", [("FLAC", "PCM_16", 1e-4), ("OGG", "VORBIS", None)])
def test_flac_and_ogg(tmp_path, fmt, subtype, tol):
    src = tone(0.5)
    p = tmp_path / f"clip.{fmt.lower()}"
    sf.write(p, src, SR, format=fmt, subtype=subtype)
    y, sr = audio.load(p)
    assert sr == SR and y.dtype == np.float32
    assert abs(len(y) - len(src)) <= 64
    if tol is not None:
        np.testing.assert_allclose(y, src, atol=tol)
    else:  # lossy: compare levels
        assert abs(np.sqrt(np.mean(y**2)) - np.sqrt(np.mean(src**2))) < 0.02


def test_real_clips_load(shared_data):
    y, sr = audio.load(shared_data / "fsdd" / "recordings" / "0_george_0.wav")
    assert sr == 8000 and y.dtype == np.float32 and y.ndim == 1
    y, sr = audio.load(shared_data / "speeches5" / "audio" / "Nelson_Mandela" / "0.wav")
    assert sr == 16000 and len(y) == 16000


# --------------------------------------------------------------------------- windows and crops


def test_windows_cover_long_clip_with_last_aligned_to_end():
    y = np.arange(1000, dtype=np.float32)
    w = audio.windows(y, 300)
    assert w.shape[1] == 300
    starts = [int(row[0]) for row in w]
    assert starts[0] == 0 and starts[-1] == 700  # last window ends at the last sample
    assert all(b - a <= 150 for a, b in zip(starts, starts[1:]))
    np.testing.assert_array_equal(w[-1], y[-300:])
    covered = np.zeros(len(y), bool)
    for s in starts:
        covered[s : s + 300] = True
    assert covered.all()


def test_windows_exact_hop_multiple_has_no_duplicate():
    y = np.arange(600, dtype=np.float32)
    w = audio.windows(y, 200, hop=100)
    assert [int(r[0]) for r in w] == [0, 100, 200, 300, 400]


def test_windows_short_clip_is_wrap_padded():
    y = np.arange(70, dtype=np.float32)
    w = audio.windows(y, 200)
    assert w.shape == (1, 200)
    np.testing.assert_array_equal(w[0], np.tile(y, 3)[:200])


def test_windows_exact_length():
    y = np.arange(200, dtype=np.float32)
    w = audio.windows(y, 200)
    assert w.shape == (1, 200)
    np.testing.assert_array_equal(w[0], y)


@pytest.mark.parametrize("length", [50, 200, 1000])
def test_random_crop_length(length):
    rng = np.random.default_rng(0)
    y = np.arange(length, dtype=np.float32)
    for _ in range(20):
        c = audio.random_crop(y, 200, rng)
        assert c.shape == (200,) and c.dtype == np.float32
        if length > 200:  # a contiguous slice of the clip
            s = int(c[0])
            np.testing.assert_array_equal(c, y[s : s + 200])
        else:  # only the clip's own samples, no silence
            assert set(np.unique(c)) <= set(y.tolist())


# --------------------------------------------------------------------------- bounded memory and time


@pytest.mark.parametrize("rate", [1, 999, 384_001])
def test_implausible_header_rate_is_refused_before_decoding(tmp_path, rate):
    # 16000 samples claiming 1 Hz would resample to 128 M samples at 8 kHz: refused from the header
    p = tmp_path / "rate.wav"
    sf.write(p, tone(1.0), rate, subtype="PCM_16")
    err = expect_error(p, "implausible sample rate", f"{rate} hz")
    assert "1000-384000" in err.reason
    with pytest.raises(AudioError, match="implausible"):
        audio.load(p, 8000)


@pytest.mark.parametrize("rate", [1000, 384_000])
def test_edge_rates_are_accepted(tmp_path, rate):
    p = tmp_path / "edge.wav"
    sf.write(p, tone(0.5, sr=rate, freq=100), rate, subtype="PCM_16")
    y, sr = audio.load(p, 8000)
    assert sr == 8000 and abs(len(y) - 4000) <= 1


def test_block_decoding_equals_whole_file_decoding(tmp_path, monkeypatch):
    """Blocks of 1000 frames, mixed and resampled as a stream, give exactly what decoding the whole
    file, mixing and resampling it in one go gives."""
    import soxr

    rng = np.random.default_rng(0)
    src = (0.2 * rng.standard_normal((44100 * 2 + 123, 2))).astype(np.float32)
    p = tmp_path / "stereo.wav"
    sf.write(p, src, 44100, subtype="FLOAT")
    whole = soxr.resample(src.mean(axis=1, dtype=np.float64).astype(np.float32), 44100, 16000, quality="HQ")
    monkeypatch.setattr(audio, "CHUNK_FRAMES", 1000)
    y, sr = audio.load(p, 16000)
    assert sr == 16000 and y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, whole)
    monkeypatch.setattr(audio, "CHUNK_FRAMES", 1 << 17)
    np.testing.assert_array_equal(audio.load(p, 16000)[0], whole)


def test_a_file_longer_than_the_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "long.wav"
    sf.write(p, tone(2.0), SR)
    monkeypatch.setattr(audio, "MAX_SAMPLES", SR)  # 1 s allowed at 16 kHz: a 2 s file is "too long"
    err = expect_error(p, "too long", "split it")
    assert err.reason == f"too long (32000 samples = 2.0 s at {SR} Hz; at most 16000 = 1.0 s per file: split it)"
    y, _ = audio.load(p, 8000)  # at 8 kHz it holds 16000 samples: within the limit
    assert len(y) == 16000


def test_a_pipe_named_like_audio_is_refused_without_waiting(tmp_path):
    p = tmp_path / "pipe.wav"
    os.mkfifo(p)
    expect_error(p, "not a regular file")


def test_a_link_loop_and_a_broken_link_say_so(tmp_path):
    (tmp_path / "loop.wav").symlink_to(tmp_path / "loop.wav")
    (tmp_path / "broken.wav").symlink_to(tmp_path / "absent.wav")
    expect_error(tmp_path / "loop.wav", "symbolic link to nothing")
    expect_error(tmp_path / "broken.wav", "symbolic link to nothing")


def test_an_os_error_while_reading_is_the_files_audio_error(tmp_path, monkeypatch):
    """Any OSError (permission denied, I/O error) is an AudioError naming the file; the permission case
    itself needs a non-root user and is run in tests/test_awkward.py."""
    p = tmp_path / "ok.wav"
    sf.write(p, tone(0.5), SR)

    def refuse(*args, **kw):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(audio, "_wav_truncation", refuse)
    expect_error(p, "cannot be read", "permission denied")


@pytest.mark.parametrize("container, codec, name", [("webm", "libopus", "rec.webm"), ("mp4", "aac", "phone.m4a")])
def test_browser_and_phone_recordings_decode_through_pyav(tmp_path, shared_data, container, codec, name):
    """WebM/Opus (browsers' MediaRecorder) and m4a/AAC (phones), which soundfile cannot read: PyAV's
    FFmpeg decodes them, resampled to the rate asked, with the recording's level and length."""
    from conftest import encode_av

    y, sr = sf.read(shared_data / "speeches5" / "audio" / "Julia_Gillard" / "5.wav", dtype="float32")
    path = encode_av(tmp_path / name, y, sr, container, codec)
    out, rate = audio.load(path, 16000)
    assert rate == 16000 and out.dtype == np.float32
    assert abs(len(out) - len(y)) < 0.05 * sr  # codec padding/priming only
    level = lambda x: 10 * np.log10(np.mean(np.square(x, dtype=np.float64)))
    assert abs(level(out) - level(y)) < 1.0


def test_a_text_file_named_webm_is_one_clear_line(tmp_path):
    p = tmp_path / "fake.webm"
    p.write_text("not a recording at all, just text " * 20)
    expect_error(p, "not readable as audio")
