"""Frame-level speech scores from three detectors, each at the rate it supports.

Every backend maps a mono float32 clip `y` [T] at `sample_rate` to a `Frames`:
`scores` [F] in [0, 1] (1 = speech), one per hop of `hop` samples at `rate` (the rate the
detector ran at; the clip is resampled with soxr when the detector needs another one).
Frame i covers samples [i * hop, i * hop + win) at `rate`. Turning scores into regions
is voxprint/vad/regions.py's job, so all backends share one post-processing.

- silero: Silero VAD v6 (MIT licence), the ONNX graphs shipped inside the `silero-vad`
  wheel, run with onnxruntime directly (no torch.hub, nothing fetched). At 16 kHz the
  wheel's "sequence" graph scores a whole block of 32 ms frames in one call (bit-exact
  with the streaming graph); other rates are resampled to 16 kHz. With silero_rate=8000,
  8 kHz clips instead go through the model's 8 kHz mode: the streaming graph stepped
  frame by frame (256 samples + 32 samples of context, LSTM state [2, 1, 128] carried).
- webrtc: the WebRTC GMM detector (`webrtcvad-wheels`, MIT), 30 ms frames of 16-bit PCM
  at 8/16/32/48 kHz; scores are its 0/1 decisions.
- energy: no dependency. Frame power in dB, speech where it is within `energy_db` of
  the clip's loud frames (95th percentile) and `energy_floor_db` above its quiet ones
  (10th percentile); digital silence (below -90 dBFS) is never speech.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from ..config import VadConfig
from ..errors import ConfigError

SILENCE_DB = -90.0  # frames quieter than this are digital silence or a dead microphone


@dataclass(frozen=True)
class Frames:
    scores: np.ndarray  # [F] float32 in [0, 1]
    hop: int  # samples between frames at `rate`
    win: int  # samples covered by one frame at `rate`
    rate: int  # sample rate the detector ran at


def resample(y: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    if sample_rate == rate:
        return np.ascontiguousarray(y, dtype=np.float32)
    return soxr.resample(y, sample_rate, rate, quality="HQ").astype(np.float32)


def package_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "missing"


# --------------------------------------------------------------------------- silero

SILERO = {16000: (512, 64), 8000: (256, 32)}  # frame samples, context samples


def _silero_dir() -> Path:
    # find_spec locates the wheel without importing it (its __init__ imports torch).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("vad.backend=silero needs the silero-vad package (pip install silero-vad)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.lru_cache(maxsize=4)
def _silero_session(name: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # frames are tiny: threads cost more than they give
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    path = _silero_dir() / name
    if not path.is_file():
        raise ConfigError(f"silero-vad {package_version('silero-vad')} has no {name}; "
                          "vad.backend=silero needs silero-vad>=6.2.2,<7")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


SILERO_BLOCK = 512  # frames (16 s at 16 kHz) per call of the sequence graph: bounds memory


def _silero_frame_blocks(y: np.ndarray, sample_rate: int, rate: int, lead: int):
    """`lead` frames of silence, then `y` resampled to `rate`, as (frames [n, hop], contexts [n, ctx])
    blocks of SILERO_BLOCK frames (the last frame zero padded; context = the previous frame's tail).

    The clip is resampled as a stream, a block at a time (soxr's stream gives exactly the samples of
    its one-shot call), so a long recording never exists whole at `rate`: memory stays at one block
    whatever the clip's length."""
    hop, ctx = SILERO[rate]
    stream = None if sample_rate == rate else soxr.ResampleStream(sample_rate, rate, 1, dtype="float32", quality="HQ")
    step = max(1, int(SILERO_BLOCK * hop * sample_rate / rate))  # input samples per block, about
    buf, context, emitted, i = np.zeros(lead * hop, np.float32), np.zeros(ctx, np.float32), 0, 0
    while True:
        last = i + step >= len(y)
        piece = np.ascontiguousarray(y[i : i + step], dtype=np.float32)
        i += step
        buf = np.concatenate([buf, piece if stream is None else stream.resample_chunk(piece, last=last)])
        while len(buf) >= SILERO_BLOCK * hop or (last and (len(buf) or not emitted)):
            take = min(len(buf), SILERO_BLOCK * hop)
            frames = np.zeros((max(1, -(-take // hop)), hop), dtype=np.float32)
            frames.reshape(-1)[:take] = buf[:take]
            contexts = np.empty((len(frames), ctx), dtype=np.float32)
            contexts[0], contexts[1:] = context, frames[:-1, -ctx:]
            buf, context, emitted = buf[take:], frames[-1, -ctx:].copy(), emitted + len(frames)
            yield frames, contexts
        if last:
            return


def silero_scores(y: np.ndarray, sample_rate: int, cfg: VadConfig) -> Frames:
    if cfg.silero_rate not in SILERO:
        raise ConfigError(f"vad.silero_rate must be 8000 or 16000, got {cfg.silero_rate}")
    # 16 kHz unless asked for the 8 kHz mode on an 8 kHz clip: benchmarks/vad.py measured
    # the 16 kHz graph on upsampled FSDD as both cheaper and better than the 8 kHz mode.
    rate = 8000 if sample_rate == 8000 and cfg.silero_rate == 8000 else 16000
    hop = SILERO[rate][0]
    # The recurrent state starts from zeros and needs a few frames to settle: a clip that
    # opens on speech (FSDD digits) is missed without a lead-in of silence. Whole frames
    # of zeros go first and their scores are dropped, so frame i still starts at i * hop.
    lead = round(cfg.silero_lead_ms * rate / 1000 / hop)
    out = []
    if rate == 16000:
        sess = _silero_session("silero_vad_16k_sequence.onnx")
        h = np.zeros((1, 1, 128), dtype=np.float32)
        c = np.zeros((1, 1, 128), dtype=np.float32)
        for frames, contexts in _silero_frame_blocks(y, sample_rate, rate, lead):
            p, h, c = sess.run(None, {"input": np.concatenate([contexts, frames], axis=1), "h": h, "c": c})
            out.append(p.reshape(-1))
    else:
        sess = _silero_session("silero_vad.onnx")
        state = np.zeros((2, 1, 128), dtype=np.float32)
        sr = np.array(rate, dtype=np.int64)
        for frames, contexts in _silero_frame_blocks(y, sample_rate, rate, lead):
            scores = np.empty(len(frames), dtype=np.float32)
            for i in range(len(frames)):
                x = np.concatenate([contexts[i], frames[i]])[None, :]
                p, state = sess.run(None, {"input": x, "state": state, "sr": sr})
                scores[i] = p[0, 0]
            out.append(scores)
    return Frames(np.concatenate(out)[lead:].astype(np.float32), hop, hop, rate)


# --------------------------------------------------------------------------- webrtc

WEBRTC_RATES = (8000, 16000, 32000, 48000)


def _webrtc(mode: int):
    """A fresh detector: it adapts its noise model as it goes, so a shared one would make
    a clip's regions depend on the clips before it."""
    try:
        import webrtcvad
    except ImportError:
        raise ConfigError("vad.backend=webrtc needs webrtcvad-wheels (pip install webrtcvad-wheels)") from None
    return webrtcvad.Vad(mode)


def webrtc_scores(y: np.ndarray, sample_rate: int, cfg: VadConfig) -> Frames:
    if cfg.webrtc_mode not in (0, 1, 2, 3):
        raise ConfigError(f"vad.webrtc_mode must be 0-3, got {cfg.webrtc_mode}")
    rate = sample_rate if sample_rate in WEBRTC_RATES else 16000
    y = resample(y, sample_rate, rate)
    hop = rate * 30 // 1000
    pcm = (np.clip(y, -1.0, 1.0) * 32767.0).astype("<i2")
    n = max(1, -(-len(pcm) // hop))
    padded = np.zeros(n * hop, dtype="<i2")
    padded[: len(pcm)] = pcm
    vad = _webrtc(cfg.webrtc_mode)
    buf = padded.tobytes()
    step = 2 * hop
    scores = np.array([vad.is_speech(buf[i * step : (i + 1) * step], rate) for i in range(n)], dtype=np.float32)
    return Frames(scores, hop, hop, rate)


# --------------------------------------------------------------------------- energy


def frame_db(y: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Power in dBFS of frames [i * hop, i * hop + win) -> [F]; the tail frame is zero padded."""
    n = max(1, -(-len(y) // hop))
    # running sum of squares: O(T) memory, no [F, win] frame matrix (a long clip's would be gigabytes);
    # past the clip's end it stays flat (zero padding)
    y = y[: (n - 1) * hop + win]
    total = np.zeros((n - 1) * hop + win + 1, dtype=np.float64)
    total[1 : len(y) + 1] = np.cumsum(np.square(y, dtype=np.float64))
    total[len(y) + 1 :] = total[len(y)]
    starts = np.arange(n) * hop
    return 10.0 * np.log10((total[starts + win] - total[starts]) / win + 1e-12)


def energy_scores(y: np.ndarray, sample_rate: int, cfg: VadConfig) -> Frames:
    win, hop = round(sample_rate * 0.025), round(sample_rate * 0.010)
    db = frame_db(y, win, hop)
    audible = db[db > SILENCE_DB]
    if audible.size == 0:
        return Frames(np.zeros(len(db), dtype=np.float32), hop, win, sample_rate)
    loud, quiet = np.percentile(audible, 95), np.percentile(audible, 10)
    threshold = max(loud - cfg.energy_db, quiet + cfg.energy_floor_db, SILENCE_DB)
    # a clip that is speech throughout has no quiet frames to measure: keep frames near the top
    if loud - quiet < cfg.energy_floor_db:
        threshold = loud - cfg.energy_db
    return Frames((db > threshold).astype(np.float32), hop, win, sample_rate)


BACKENDS = {"silero": silero_scores, "webrtc": webrtc_scores, "energy": energy_scores}
PACKAGES = {"silero": "silero-vad", "webrtc": "webrtcvad-wheels", "energy": None}


def normalise(y: np.ndarray, peak_db: float | None, max_gain_db: float = 30.0) -> np.ndarray:
    """`y` scaled so its peak sits at `peak_db` dBFS (at most `max_gain_db` louder); None: as is."""
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak_db is None or peak <= 0.0:
        return y
    gain = min(10.0 ** (peak_db / 20.0) / peak, 10.0 ** (max_gain_db / 20.0))
    return (y * gain).astype(np.float32)


def frame_scores(y: np.ndarray, sample_rate: int, cfg: VadConfig) -> Frames:
    """Scores of `cfg.backend` for clip `y` [T] at `sample_rate`."""
    fn = BACKENDS.get(cfg.backend)
    if fn is None:
        raise ConfigError(f"unknown vad.backend '{cfg.backend}'; valid: {', '.join(sorted(BACKENDS))}")
    return fn(normalise(np.asarray(y, dtype=np.float32), cfg.peak_db), int(sample_rate), cfg)


def backend_version(name: str) -> str:
    """The installed version of a backend's package (part of the region cache key)."""
    dist = PACKAGES.get(name)
    return package_version(dist) if dist else "builtin"
