"""Speech activity: detectors on real and synthetic audio, regions, the no-speech outcome, the cache."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import shared_file

from benchmarks.padding import RoomBed, pad_clip
from voxprint import audio, vad
from voxprint.config import ConfigError, VadConfig, load
from voxprint.errors import AudioError
from voxprint.vad.backends import Frames
from voxprint.vad.regions import merge, runs, to_regions

BACKENDS = ("silero", "webrtc", "energy")
FSDD_CLIP = ("fsdd", "recordings", "3_theo_12.wav")  # 8 kHz, a training-index clip
LIBRI_CLIP = ("libri-dev", "1040", "1040-133433-0000.flac")  # 16 kHz read speech with pauses


def cfg(backend="silero", **kw) -> VadConfig:
    return VadConfig(backend=backend, **kw)


def padding_speech(speech: vad.Speech, pad: int, n_clip: int, tol: int) -> float:
    """Share of the padding labelled speech, leaving out `tol` samples next to the clip."""
    m = speech.mask()
    return float(np.concatenate([m[: pad - tol], m[pad + n_clip + tol :]]).mean())


@pytest.fixture(scope="module")
def fsdd_clip():
    return audio.load(shared_file(*FSDD_CLIP), None)


@pytest.fixture(scope="module")
def libri_clip():
    return audio.load(shared_file(*LIBRI_CLIP), None)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sr", [8000, 16000])
def test_digital_silence_is_no_speech(backend, sr):
    speech = vad.detect(np.zeros(2 * sr, np.float32), sr, cfg(backend))
    assert speech.regions.shape == (0, 2) and speech.fraction == 0.0
    with pytest.raises(vad.NoSpeechError, match=r"quiet\.wav: no speech found"):
        speech.require(0.2, "quiet.wav")


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_speech_is_mostly_speech_with_its_pauses(backend, libri_clip):
    y, sr = libri_clip
    assert sr == 16000
    speech = vad.detect(y, sr, cfg(backend))
    # an utterance of read speech: mostly speech, but the detector hears some pause in it
    assert 0.6 <= speech.fraction <= 0.995, speech.fraction
    assert len(vad.speech_part(y, sr, cfg(backend))) == speech.samples


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("clip", ["fsdd", "libri"])
def test_digital_silence_padding_is_not_speech(backend, clip, fsdd_clip, libri_clip):
    y, sr = fsdd_clip if clip == "fsdd" else libri_clip
    pad = sr
    speech = vad.detect(pad_clip(y, pad), sr, cfg(backend))
    assert padding_speech(speech, pad, len(y), tol=sr // 4) <= 0.02
    clip_share = speech.mask()[pad : pad + len(y)].mean()
    assert clip_share >= 0.6, clip_share  # and the words themselves are kept


@pytest.mark.parametrize("clip", ["fsdd", "libri"])
def test_room_noise_padding_is_not_speech_for_the_default_backend(clip, fsdd_clip, libri_clip):
    y, sr = fsdd_clip if clip == "fsdd" else libri_clip
    bed = RoomBed(shared_file("noise", "exercise_bike.wav"), sr)
    z = pad_clip(y, sr, bed(len(y) + 2 * sr, np.random.default_rng(0)))
    speech = vad.detect(z, sr, VadConfig())
    assert padding_speech(speech, sr, len(y), tol=sr // 4) <= 0.05
    assert speech.mask()[sr : sr + len(y)].mean() >= 0.6


@pytest.mark.parametrize("backend", BACKENDS)
def test_regions_are_in_the_callers_sample_rate(backend, libri_clip):
    """A 44.1 kHz copy (resampled inside the detector) gives the same regions in seconds."""
    y, sr = libri_clip
    y44 = soxr.resample(y, sr, 44100).astype(np.float32)
    a, b = vad.detect(y, sr, cfg(backend)), vad.detect(y44, 44100, cfg(backend))
    assert b.n_samples == len(y44)
    assert abs(a.seconds - b.seconds) < 0.1 * a.seconds
    agree = (a.mask()[(np.arange(len(y44)) * sr) // 44100] == b.mask()).mean()
    assert agree > 0.95


def test_silero_8k_mode_also_finds_the_digit(fsdd_clip):
    y, sr = fsdd_clip
    assert sr == 8000
    speech = vad.detect(pad_clip(y, sr), sr, cfg("silero", silero_rate=8000))
    assert speech.seconds >= 0.2 and padding_speech(speech, sr, len(y), sr // 4) == 0.0


def test_disabled_means_every_sample_is_speech(fsdd_clip):
    y, sr = fsdd_clip
    speech = vad.detect(np.zeros(sr, np.float32), sr, cfg(enabled=False))
    assert speech.regions.tolist() == [[0, sr]] and speech.fraction == 1.0
    assert vad.speech_fraction(y, sr, cfg(enabled=False)) == 1.0


def test_no_speech_outcome_is_an_audio_error_naming_the_file():
    sr = 16000
    y = np.zeros(sr, np.float32)
    with pytest.raises(AudioError) as e:
        vad.speech_part(y, sr, VadConfig(), path="/data/spk/empty.wav")
    assert isinstance(e.value, vad.NoSpeechError)
    assert e.value.path == "/data/spk/empty.wav" and "no speech found" in e.value.reason
    assert "\n" not in str(e.value)
    whole = vad.detect(y, sr, VadConfig()).or_all(0.2)  # a clip that cannot be skipped
    assert whole.regions.tolist() == [[0, sr]]


S5_APPLAUSE = ("speeches5", "audio", "Benjamin_Netanyau", "100.wav")  # 1 s of steady crowd noise, no voice


def test_a_clip_that_cannot_be_skipped_is_heard_by_its_audible_part_when_no_voice_is_found():
    """silero hears no voice in a steady-noise slice of a speech recording (about a fifth of speeches5's
    clips): such a clip is still "no speech" for training (require), but a test clip or a file given to
    predict (or_all) is heard by what the fallback detector keeps - the slice, not the digital silence
    around it - rather than whole."""
    y, sr = audio.load(shared_file(*S5_APPLAUSE), None)
    pad = sr
    padded = pad_clip(y, pad)
    speech = vad.detect(padded, sr, cfg())
    assert speech.samples == 0
    with pytest.raises(vad.NoSpeechError):
        speech.require(0.1, "applause.wav")
    heard = speech.or_all(0.1)
    assert heard.regions[0, 0] >= pad and heard.regions[-1, 1] <= pad + len(y)
    assert heard.samples >= 0.9 * len(y)
    assert np.array_equal(speech.heard(padded, sr, 0.1), heard.part(padded))
    # without a fallback: the whole clip, as before
    assert vad.detect(padded, sr, cfg(fallback=None)).or_all(0.1).regions.tolist() == [[0, len(padded)]]
    # where the backend finds speech the fallback is never run
    z, zr = audio.load(shared_file(*LIBRI_CLIP), None)
    assert vad.detect(z, zr, cfg()).fallback is None
    # nothing audible: the whole clip (there is nothing better to hear)
    assert vad.detect(np.zeros(2 * sr, np.float32), sr, cfg()).or_all(0.1).regions.tolist() == [[0, 2 * sr]]
    with pytest.raises(ConfigError, match=r"vad\.fallback = 'bogus'; valid: silero, webrtc, energy, null"):
        load(None, ["vad.fallback=bogus"])
    assert load(None, ["vad.fallback=null"]).vad.fallback is None


@pytest.mark.parametrize("clip", [FSDD_CLIP, S5_APPLAUSE, ("speeches5", "audio", "Nelson_Mandela", "0.wav")])
def test_the_audible_span_is_the_recording_inside_its_padding(clip, shared_data):
    """audible_span finds where silence around a recording ends: exactly its first and last non-zero
    sample in digital silence; in a quiet room bed no more than a hop (10 ms) of the bed, and every part
    of the recording that stands clearly out of the bed - for speech and for crowd noise alike, which silero
    hears no voice in. (The recording's own near-silent edges may fall outside: they are bed.)"""
    from benchmarks.padding import ROOM_LEVEL_DB, default_room_noise
    from voxprint.vad.backends import frame_db
    from voxprint.vad.regions import audible_span

    y, sr = audio.load(shared_file(*clip), None)
    nz = np.flatnonzero(y)
    pad, hop = sr, sr // 100
    c = VadConfig()
    assert audible_span(pad_clip(y, pad), sr, c.energy_floor_db, c.min_speech_ms) == (pad + nz[0], pad + nz[-1] + 1)
    bed = RoomBed(default_room_noise(), sr)(len(y) + 2 * pad, np.random.default_rng(0))
    start, end = audible_span(pad_clip(y, pad, bed), sr, c.energy_floor_db, c.min_speech_ms)
    assert pad + nz[0] - hop <= start and end <= pad + nz[-1] + 1 + hop
    db = frame_db(y, hop, hop)
    loud = np.flatnonzero(db > ROOM_LEVEL_DB + c.energy_floor_db + 3)  # clearly out of the bed
    assert start <= pad + loud[0] * hop and pad + loud[-1] * hop + hop <= end
    # nothing audible: no span; one level throughout (nothing stands out of a bed): all of it
    assert audible_span(np.zeros(sr, np.float32), sr, 6.0, 90.0) is None
    assert audible_span(np.full(sr, 0.1, np.float32), sr, 6.0, 90.0) == (0, sr)


def test_a_short_recording_padded_with_silence_is_heard_as_it_would_be_unpadded(shared_data):
    """Speech.fitted / heard: a one-second slice padded to three seconds is longer than a window, but its
    recording span fits one, so the model hears the slice - bit for bit in digital silence, to one of
    silero's 32-ms frames in a room bed (its voice can reach a frame into the bed) - and not silero's
    regions of it; a clip whose span is longer than a window is still heard by its speech."""
    from benchmarks.padding import default_room_noise

    y, sr = audio.load(shared_file("speeches5", "audio", "Nelson_Mandela", "0.wav"), None)
    assert np.all(y[[0, -1]] != 0) and len(y) == sr
    silent = pad_clip(y, sr)
    speech = vad.detect(silent, sr, cfg())
    assert 0 < speech.samples < len(y)  # silero's regions alone would leave part of the slice out
    assert speech.fitted(sr) == (sr, 2 * sr)
    np.testing.assert_array_equal(speech.heard(silent, sr, 0.1), y)
    room = pad_clip(y, sr, RoomBed(default_room_noise(), sr)(3 * sr, np.random.default_rng(0)))
    start, end = vad.detect(room, sr, cfg()).fitted(sr)
    frame = round(0.032 * sr)
    assert sr - frame <= start and end <= 2 * sr + frame and 0.9 * sr <= end - start <= sr
    # a window shorter than the span: the speech regions, as before
    assert speech.fitted(sr // 2) is None
    np.testing.assert_array_equal(speech.heard(silent, sr // 2, 0.1), speech.part(silent))
    # without a measured span (a Speech made from regions alone) nothing is fitted
    assert vad.Speech(speech.regions, len(silent), sr).fitted(sr) is None


def test_speech_in_loud_noise_is_not_cut_down_to_the_few_frames_that_stand_out(shared_data):
    """White noise at 0 dB over a whole recording: only a few frames stand out of the noise bed, so the
    level alone gives a fragment of a span (tens of ms), though the voice runs through the clip. The
    recording span reaches the voiced samples, so a window shorter than the clip hears its speech, not
    that fragment (heard as the clip, it cost the shipped encoder its 0-dB EER: 0.069 -> 0.176)."""
    from voxprint.augment import mix_at_snr

    y, sr = audio.load(shared_file("libri-dev", "103", "103-1240-0000.flac"), 16000)
    y = y[: 2 * sr]  # a libri-dev segment, as the encoder protocol cuts them
    noisy = mix_at_snr(y, np.random.default_rng(0).standard_normal(len(y)).astype(np.float32), 0.0)
    speech = vad.detect(noisy, sr, cfg())
    audible = vad.audible_span(noisy, sr, cfg().energy_floor_db, cfg().min_speech_ms)
    assert audible[1] - audible[0] < 0.5 * speech.samples  # the level alone: a fragment of the voice
    pad = round(cfg().pad_ms * sr / 1000)
    start, end = speech.span()
    assert end - start >= speech.samples - 2 * pad
    window = int(1.4 * sr)
    assert len(speech.heard(noisy, window, 0.1)) >= min(speech.samples - 2 * pad, window)


def test_a_burst_of_the_room_next_to_the_recording_still_fits(shared_data):
    """A bed with a click of its own just before the recording (exercise_bike has them: 55 ms at one
    edge of a room-padded speeches5 slice) makes the audible span longer than the slice by more than a
    hop; it still fits (SPAN_SLACK), so the slice is heard as its centred window, not by silero's
    regions, and a span a fifth longer than the window does not fit."""
    from benchmarks.padding import default_room_noise

    y, sr = audio.load(shared_file(*S5_APPLAUSE), None)
    bed = RoomBed(default_room_noise(), sr)(3 * sr, np.random.default_rng(0))
    click = slice(sr - sr // 16, sr - sr // 200)  # 57.5 ms ending 5 ms before the slice, 10 dB over the bed
    bed[click] *= 10 ** (10 / 20)
    room = pad_clip(y, sr, bed)
    speech = vad.detect(room, sr, cfg())
    start, end = speech.span()
    assert start <= click.start + sr // 100 and end - start > sr + sr // 100  # the click is in the span
    fit = speech.fitted(sr)
    assert fit is not None and fit[1] - fit[0] == sr and start < fit[0] and fit[1] < end
    assert vad.Speech(speech.regions, len(room), sr, audible=(start, start + sr + sr // 5)).fitted(sr) is None


def test_a_padded_voiceless_training_clip_is_trained_on_like_the_unpadded_one(tmp_path, shared_data):
    """The training rule follows what is heard: a clip of crowd noise with no voice is trained on whole
    when it fits a window, so padded with silence (its span fits) it is trained on too, as that same
    slice, instead of skipped for having no speech; noise whose span is longer than a window still is."""
    from voxprint.datasets import Loaded, Skipped, _without_speechless

    y, sr = audio.load(shared_file(*S5_APPLAUSE), None)
    padded = pad_clip(y, sr)
    rng = np.random.default_rng(0)
    hum = (0.01 * rng.standard_normal(3 * sr)).astype(np.float32)
    waves = [padded, hum]
    speech = [vad.detect(w, sr, cfg()) for w in waves]
    assert all(sp.samples == 0 for sp in speech)
    part = Loaded([dataclasses.make_dataclass("It", ["path"])(p) for p in ("a.wav", "hum.wav")], waves,
                  np.array([0, 1]), speech)
    skipped: list[Skipped] = []
    kept = _without_speechless(part, 0.1, sr, skipped)
    assert [it.path for it in kept.items] == ["a.wav"] and [s.path for s in skipped] == ["hum.wav"]
    np.testing.assert_array_equal(kept.heard(sr)[0], y[np.flatnonzero(y)[0]:np.flatnonzero(y)[-1] + 1])


def test_the_fallback_regions_survive_the_cache(tmp_path, monkeypatch):
    y, sr = audio.load(shared_file(*S5_APPLAUSE), None)
    p = tmp_path / "applause.wav"
    sf.write(p, pad_clip(y, sr), sr)
    first = vad.file_speech(p, None, VadConfig(), cache_root=tmp_path / "c")
    monkeypatch.setattr(vad, "detect", lambda *a, **k: pytest.fail("served from the cache, not detected again"))
    again = vad.file_speech(p, None, VadConfig(), cache_root=tmp_path / "c")
    assert first.fallback is not None and np.array_equal(first.fallback, again.fallback)
    assert first.audible is not None and again.audible == first.audible
    assert again.or_all(0.1).regions.tolist() == first.or_all(0.1).regions.tolist() != [[0, 3 * sr]]


def test_too_little_speech_is_reported_with_its_length():
    speech = vad.Speech(np.array([[100, 900]]), 16000, 8000)
    with pytest.raises(vad.NoSpeechError, match=r"only 0\.10 s of speech .*needs 0\.2 s"):
        speech.require(0.2, "x.wav")
    assert speech.require(0.05, "x.wav") is speech


# --------------------------------------------------------------------------- region logic


def test_runs_and_merge():
    active = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert runs(active).tolist() == [[1, 3], [5, 6], [7, 10]]
    assert merge(np.array([[0, 10], [12, 20], [40, 50]]), 5).tolist() == [[0, 20], [40, 50]]
    assert merge(np.array([[0, 10], [10, 20]]), 0).tolist() == [[0, 20]]  # touching ones join


def test_post_processing_bridges_pauses_drops_bursts_and_pads():
    # 10 ms frames at 1 kHz: 10 samples per frame
    scores = np.zeros(100, np.float32)
    scores[10:30] = 1  # 200 ms of speech
    scores[33:50] = 1  # after a 30 ms pause: bridged
    scores[70:72] = 1  # a 20 ms burst: dropped
    c = VadConfig(min_speech_ms=50, min_silence_ms=100, pad_ms=20)
    reg = to_regions(Frames(scores, 10, 10, 1000), 1000, 1000, c)
    assert reg.tolist() == [[80, 520]]
    # the same frames scored for a clip at 2 kHz come back in 2 kHz samples
    assert to_regions(Frames(scores, 10, 10, 1000), 2000, 2000, c).tolist() == [[160, 1040]]
    # padding stops at the clip's edges
    scores[:5] = 1
    assert to_regions(Frames(scores, 10, 10, 1000), 1000, 1000, c)[0, 0] == 0


def test_hysteresis_keeps_speech_through_dips_above_the_lower_threshold():
    scores = np.array([0.1, 0.6, 0.4, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2], np.float32)
    c = VadConfig(threshold=0.5, min_speech_ms=0, min_silence_ms=0, pad_ms=0)
    assert to_regions(Frames(scores, 10, 10, 1000), 100, 1000, c).tolist() == [[10, 40]]


def test_speech_helpers():
    y = np.arange(1000, dtype=np.float32)
    s = vad.Speech(np.array([[100, 200], [500, 800]]), 1000, 1000)
    assert s.samples == 400 and s.fraction == 0.4 and s.seconds == 0.4
    assert s.part(y).tolist() == list(range(100, 200)) + list(range(500, 800))
    assert s.mask().sum() == 400 and s.mask()[150] and not s.mask()[300]
    np.testing.assert_allclose(s.window_fractions([0, 400, 600], 200), [0.5, 0.5, 1.0])
    assert s.frame_mask(100, 11).tolist() == [False, True, False, False, False, True, True, True,
                                               False, False, False]
    with pytest.raises(ValueError):
        s.part(y[:10])


@pytest.mark.parametrize("key, value", [("backend", "bogus"), ("webrtc_mode", 5), ("silero_rate", 22050)])
def test_unknown_backend_and_bad_settings_are_refused_by_the_schema(key, value):
    with pytest.raises(ValueError, match=key):  # built in code: pydantic's error, a programming mistake
        VadConfig(**{key: value})
    with pytest.raises(ConfigError, match=rf"vad\.{key} = {value!r}"):  # from a config: one line
        load(None, [f"vad.{key}={value}"])


def test_config_section_on_by_default_and_unknown_keys_rejected():
    c = load(None)
    assert c.vad.enabled and c.vad.backend == "silero"
    assert load(None, ["vad.backend=energy", "vad.pad_ms=100"]).vad.pad_ms == 100.0
    with pytest.raises(ConfigError, match="unknown key vad.thresh; valid keys: enabled, backend"):
        load(None, ["vad.thresh=0.3"])


# --------------------------------------------------------------------------- cache


@pytest.fixture
def wav(tmp_path, fsdd_clip):
    y, sr = fsdd_clip
    p = tmp_path / "clip.wav"
    sf.write(p, pad_clip(y, sr // 2), sr)
    return p


def test_cache_hit_skips_the_detector(wav, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    first = vad.file_speech(wav, None, VadConfig(), cache_root=root)
    entries = list(root.rglob("*.npz"))
    assert len(entries) == 1 and first.samples > 0

    def boom(*a, **k):
        raise AssertionError("the detector ran on a cache hit")

    monkeypatch.setattr(vad, "detect", boom)
    again = vad.file_speech(wav, None, VadConfig(), cache_root=root)
    assert again.regions.tolist() == first.regions.tolist() and again.n_samples == first.n_samples


# A different value for every VadConfig field that changes the regions; checked complete below.
CHANGED = {"backend": "energy", "threshold": 0.3, "neg_threshold": 0.2, "silero_rate": 8000,
           "silero_lead_ms": 0.0, "peak_db": -6.0, "webrtc_mode": 1, "energy_db": 20.0,
           "energy_floor_db": 3.0, "min_speech_ms": 10.0, "min_silence_ms": 10.0, "pad_ms": 10.0,
           "fallback": None, "min_speech_seconds": 1.0}


def test_cache_key_changes_with_file_rate_and_settings(wav):
    from voxprint.vad.cache import NOT_IN_KEY

    assert set(CHANGED) | set(NOT_IN_KEY) == {f.name for f in dataclasses.fields(VadConfig)}
    base = vad.region_key(wav, 8000, VadConfig())
    assert vad.region_key(wav, 16000, VadConfig()) != base
    for field, value in CHANGED.items():
        assert vad.region_key(wav, 8000, dataclasses.replace(VadConfig(), **{field: value})) != base, field
    # what callers do with the regions does not change them
    assert vad.region_key(wav, 8000, VadConfig(enabled=False)) == base
    st = os.stat(wav)
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert vad.region_key(wav, 8000, VadConfig()) != base


def test_changed_file_is_never_served_from_the_cache(wav, tmp_path, fsdd_clip):
    root = tmp_path / "cache"
    _, sr = fsdd_clip
    before = vad.file_speech(wav, None, VadConfig(), cache_root=root)
    sf.write(wav, np.zeros(3 * sr, np.float32) + 0.0, sr)  # now silence, and longer
    st = os.stat(wav)
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # even on a coarse-mtime filesystem
    y2 = np.zeros(3 * sr, np.float32)
    after = vad.file_speech(wav, sr, VadConfig(), y=y2, cache_root=root)
    assert before.samples > 0 and after.samples == 0 and after.n_samples == 3 * sr
    assert len(list(root.rglob("*.npz"))) == 2


def test_unreadable_cache_entry_is_recomputed(wav, tmp_path):
    root = tmp_path / "cache"
    first = vad.file_speech(wav, None, VadConfig(), cache_root=root)
    (entry,) = root.rglob("*.npz")
    entry.write_text("{not an npz")
    again = vad.file_speech(wav, None, VadConfig(), cache_root=root)
    assert again.regions.tolist() == first.regions.tolist()
    with np.load(entry) as z:  # the entry was written again
        assert z["regions"].tolist() == first.regions.tolist()


def test_default_cache_root_follows_voxprint_cache(monkeypatch, tmp_path):
    from voxprint.vad.cache import default_root

    monkeypatch.setenv("VOXPRINT_CACHE", str(tmp_path))
    assert default_root() == tmp_path / "vad"
    monkeypatch.setenv("VOXPRINT_CACHE", "off")
    assert default_root() is None


def _silero_whole(y: np.ndarray, sample_rate: int, rate: int, lead: int, sess_run) -> np.ndarray:
    """Reference: the whole lead-in + resampled clip framed at once (how silero_scores worked
    before it streamed), scored 512 frames per call."""
    from voxprint.vad.backends import SILERO

    hop, ctx = SILERO[rate]
    x = np.concatenate([np.zeros(lead * hop, np.float32), soxr.resample(y, sample_rate, rate, quality="HQ")])
    frames = np.zeros((max(1, -(-len(x) // hop)), hop), np.float32)
    frames.reshape(-1)[: len(x)] = x
    contexts = np.zeros((len(frames), ctx), np.float32)
    contexts[1:] = frames[:-1, -ctx:]
    return np.concatenate([sess_run(np.concatenate([contexts[i : i + 512], frames[i : i + 512]], axis=1))
                           for i in range(0, len(frames), 512)])[lead:]


@pytest.mark.parametrize("sample_rate", [8000, 44100])
def test_silero_on_a_long_clip_streams_and_gives_the_whole_clip_scores(fsdd_clip, monkeypatch, sample_rate):
    """The clip is resampled and framed a block at a time (memory of one block, not of the clip at
    16 kHz), and the scores are exactly those of framing the whole clip at once, for any block size."""
    from voxprint.vad import backends as B

    y = np.tile(fsdd_clip[0], 60)  # about 40 s of speech with pauses: several blocks
    y = soxr.resample(y, 8000, sample_rate).astype(np.float32) if sample_rate != 8000 else y
    sess = B._silero_session("silero_vad_16k_sequence.onnx")
    state = {}

    def run(block):
        h, c = state.get("h", np.zeros((1, 1, 128), np.float32)), state.get("c", np.zeros((1, 1, 128), np.float32))
        p, state["h"], state["c"] = sess.run(None, {"input": block, "h": h, "c": c})
        return p.reshape(-1)

    lead = round(VadConfig().silero_lead_ms * 16000 / 1000 / 512)
    whole = _silero_whole(y, sample_rate, 16000, lead, run)
    streamed = B.silero_scores(y, sample_rate, cfg()).scores
    np.testing.assert_array_equal(streamed, whole)
    monkeypatch.setattr(B, "SILERO_BLOCK", 7)  # many resampler and frame boundaries
    np.testing.assert_array_equal(B.silero_scores(y, sample_rate, cfg()).scores, whole)


@pytest.mark.parametrize("n", [1, 199, 400, 401, 16003])
def test_frame_db_is_each_frames_power_with_a_zero_padded_tail(n):
    from voxprint.vad.backends import frame_db

    y = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    win, hop = 400, 160
    frames = -(-n // hop)
    padded = np.concatenate([y.astype(np.float64), np.zeros((frames - 1) * hop + win)])
    direct = [10 * np.log10(np.mean(padded[i * hop : i * hop + win] ** 2) + 1e-12) for i in range(frames)]
    np.testing.assert_allclose(frame_db(y, win, hop), direct, atol=1e-9)


def test_what_a_model_hears_and_what_snr_is_measured_on():
    """Speech.heard: a clip that fits in a window whole; a longer one its speech; with min_seconds, the
    whole clip when (almost) no speech was found - so a test clip of applause still gets a finite SNR."""
    from voxprint.robustness import snr_references
    from voxprint.vad import Speech

    sr, window = 8000, 8000
    y = np.arange(3 * sr, dtype=np.float32)
    talk = Speech(np.array([[100, 900], [sr, sr + 500]]), len(y), sr)
    none = Speech(np.zeros((0, 2), np.int64), len(y), sr)
    assert len(talk.heard(y[:window], window)) == window  # fits: whole, whatever the regions
    np.testing.assert_array_equal(talk.heard(y, window), np.concatenate([y[100:900], y[sr:sr + 500]]))
    assert len(none.heard(y, window)) == 0 and len(none.heard(y, window, 0.1)) == len(y)
    refs = snr_references([y, y], [talk, none], window, 0.1)
    assert len(refs[0]) == 1300 and len(refs[1]) == len(y)


def test_regions_never_reach_into_digital_silence(shared_data):
    """A clip with a second of exact zeros each side: silero's frames and pad_ms would spill into the
    zeros; the regions stop at the first and last non-zero sample instead (zeros are never speech)."""
    import soundfile as sf

    from voxprint.vad import VadConfig, detect
    from voxprint.vad.regions import without_digital_silence

    y, sr = sf.read(shared_data / "fsdd" / "recordings" / "3_george_5.wav", dtype="float32")
    pad = np.zeros(sr, np.float32)
    padded = np.concatenate([pad, y, pad])
    speech = detect(padded, sr, VadConfig())
    assert len(speech.regions)
    for s, e in speech.regions:
        assert sr <= s and e <= sr + len(y) and padded[s] != 0 and padded[e - 1] != 0
    x = np.array([0, 0, 1, 2, 0, 3, 0, 0, 0, 0], np.float32)
    np.testing.assert_array_equal(without_digital_silence(np.array([[0, 7], [7, 10]]), x), [[2, 6]])
