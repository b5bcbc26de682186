"""Mel spectrograms without torch: the mel filterbank both routes use, and `NumpyMel`, the
log-Mel / mel-power extractor of the shipped encoder's ONNX route (inference.Recognizer).

Why a second implementation of voxprint.features.LogMel: `import torch` alone takes longer than the
1.5 s a cold `voxprint identify one.wav` may take on a 2-core machine, and with an ONNX graph the
features are the only part of scoring that needed torch. NumpyMel follows LogMel step by step
(same frame geometry, window, filterbank, noise-floor subtraction and dB floor); only the FFT and
the matrix product round differently (numpy's pocketfft and BLAS, torch's MKL): the features agree
to float32 rounding, tests/test_features.py holds the two to that.

`mel_filters` is librosa.filters.mel(htk=False, norm="slaney") with the same arithmetic, so it
returns the same bits (tested) without importing librosa, whose first filterbank imports scipy.signal
and numba (about a second).
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

# LogMel's noise-floor subtraction (features.mel imports these from here: one definition)
DENOISE_QUANTILE = 0.1  # a band's noise floor: this quantile of its power over the clip's frames
DENOISE_FLOOR = 0.02  # what subtraction leaves at least, as a fraction of the floor (no zeros)


def frame_geometry(cfg, sample_rate: int) -> tuple[int, int, int]:
    """(win_length, hop_length, n_fft) in samples of a FeatureConfig at `sample_rate`; a window or hop
    under one sample, or an n_fft shorter than the window, is a ConfigError."""
    win_length = round(sample_rate * cfg.win_ms / 1000)
    hop_length = round(sample_rate * cfg.hop_ms / 1000)
    if win_length < 1 or hop_length < 1:
        raise ConfigError(f"window/hop too short at {sample_rate} Hz")
    n_fft = cfg.n_fft or 1 << (win_length - 1).bit_length()
    if n_fft < win_length:
        raise ConfigError(f"n_fft {n_fft} < window {win_length} samples")
    return win_length, hop_length, n_fft


def centered_hann(win_length: int, n_fft: int) -> np.ndarray:
    """The periodic Hann window of win_length, centered in n_fft zeros (what torch.stft and librosa do
    with a window shorter than n_fft) -> float32 [n_fft]; computed in float64 like LogMel's."""
    n = np.arange(win_length, dtype=np.float64)
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
    out = np.zeros(n_fft, dtype=np.float64)
    left = (n_fft - win_length) // 2
    out[left : left + win_length] = win
    return out.astype(np.float32)


def _hz_to_mel(f: float) -> float:
    """Slaney's mel scale (librosa.hz_to_mel, htk=False): linear below 1 kHz, logarithmic above."""
    f = np.float64(f)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return min_log_mel + np.log(f / min_log_hz) / logstep if f >= min_log_hz else f / f_sp


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """The inverse of _hz_to_mel (librosa.mel_to_hz, htk=False)."""
    f_sp = 200.0 / 3
    freqs = 0.0 + f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters [n_mels, 1 + n_fft // 2] float32, Slaney-normalised (constant energy
    per band): librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)."""
    fmax = float(sample_rate) / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def config_filters(cfg, sample_rate: int, n_fft: int) -> np.ndarray:
    """mel_filters of a FeatureConfig; bands outside 0..Nyquist are a ConfigError (they would be
    empty: features a constant floor, not an error)."""
    nyquist = sample_rate / 2
    fmax = nyquist if cfg.fmax is None else cfg.fmax
    if not 0 <= cfg.fmin < fmax <= nyquist:
        raise ConfigError(f"features.fmin {cfg.fmin:g} / fmax {fmax:g} Hz: need 0 ≤ fmin < fmax ≤ "
                          f"{nyquist:g} Hz (half the {sample_rate} Hz sample rate)")
    return mel_filters(sample_rate, n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)


def quantile_last(x: np.ndarray, q: float) -> np.ndarray:
    """np.quantile(x, q, axis=-1, keepdims=True) (linear interpolation) by partial selection, with
    torch.lerp's two-sided formula (features.mel.quantile_last)."""
    n = x.shape[-1]
    pos = q * (n - 1)
    lo = int(pos)
    if lo + 1 >= n or pos == lo:
        return np.partition(x, lo, axis=-1)[..., lo : lo + 1]
    part = np.partition(x, (lo, lo + 1), axis=-1)
    below, above = part[..., lo : lo + 1], part[..., lo + 1 : lo + 2]
    w = np.float32(pos - lo)
    # torch.lerp: start + w (end - start) below w = 0.5, end - (end - start)(1 - w) from there
    return below + w * (above - below) if w < 0.5 else above - (above - below) * (np.float32(1) - w)


class NumpyMel:
    """features.LogMel on numpy arrays: windows [B, T] float32 -> [B, n_mels, 1 + T // hop] float32
    (a 1-D [T] gives [n_mels, frames]). `takes_numpy` tells the clip scorer to hand it arrays."""

    takes_numpy = True

    def __init__(self, cfg, sample_rate: int):
        if cfg.name != "mel":
            raise ConfigError(f"NumpyMel computes mel features, not '{cfg.name}'")
        self.cfg, self.sample_rate = cfg, int(sample_rate)
        self.win_length, self.hop_length, self.n_fft = frame_geometry(cfg, self.sample_rate)
        self.window = centered_hann(self.win_length, self.n_fft)
        self.mel_fb = config_filters(cfg, self.sample_rate, self.n_fft)

    @property
    def dim(self) -> int:
        return self.cfg.n_mels

    def num_frames(self, n_samples: int) -> int:
        return 1 + (int(n_samples) + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length

    def mel_power(self, wave: np.ndarray) -> np.ndarray:
        """[B, T] -> mel power [B, n_mels, frames] (frames centered, zero padded by n_fft // 2)."""
        pad = self.n_fft // 2
        x = np.pad(wave, ((0, 0), (pad, pad)))
        frames = np.lib.stride_tricks.sliding_window_view(x, self.n_fft, axis=-1)[:, :: self.hop_length]
        spec = np.fft.rfft(frames * self.window, axis=-1)  # [B, frames, F], complex64 from float32
        power = (spec.real * spec.real + spec.imag * spec.imag).transpose(0, 2, 1)  # [B, F, frames]
        mel = np.matmul(self.mel_fb, power)  # [B, n_mels, frames]
        if self.cfg.denoise > 0:
            floor = quantile_last(mel, DENOISE_QUANTILE)
            mel = np.maximum(mel - np.float32(self.cfg.denoise) * floor, np.float32(DENOISE_FLOOR) * floor)
        return mel

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, dtype=np.float32)
        single = wave.ndim == 1
        if single:
            wave = wave[None]
        if wave.ndim != 2:
            raise ValueError(f"expected a wave [B, T] or [T], got shape {wave.shape}")
        out = self.mel_power(wave)
        if self.cfg.log:
            out = np.float32(10.0) * np.log10(np.maximum(out, np.float32(1e-10)))
            if self.cfg.top_db is not None:
                out = np.maximum(out, out.max(axis=(-2, -1), keepdims=True) - np.float32(self.cfg.top_db))
        out = out.astype(np.float32, copy=False)
        return out[0] if single else out
