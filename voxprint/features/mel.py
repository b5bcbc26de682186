"""Log-Mel spectrogram, numerically the same as librosa's melspectrogram + power_to_db."""

from __future__ import annotations

import torch

from ..melspec import DENOISE_FLOOR, DENOISE_QUANTILE, config_filters
from .base import FeatureExtractor


def quantile_last(x: torch.Tensor, q: float) -> torch.Tensor:
    """torch.quantile(x, q, dim=-1, keepdim=True) (linear interpolation) from one or two
    kthvalue selections: a few times faster than torch.quantile's full sort at batch 1, where
    it was a fifth of the shipped encoder's per-clip time."""
    n = x.shape[-1]
    pos = q * (n - 1)
    lo = int(pos)
    below = x.kthvalue(lo + 1, dim=-1, keepdim=True).values
    if lo + 1 >= n or pos == lo:
        return below
    return torch.lerp(below, x.kthvalue(lo + 2, dim=-1, keepdim=True).values, pos - lo)


class LogMel(FeatureExtractor):
    """Log-Mel power spectrogram in dB (or, with cfg.log False, the mel power itself).

    forward: [B, T] -> [B, n_mels, 1 + T // hop_length] (a 1-D [T] gives [n_mels, frames]).
    Equals librosa.power_to_db(librosa.feature.melspectrogram(..., center=True,
    pad_mode="constant"), ref=1.0, amin=1e-10, top_db=cfg.top_db), with the top_db floor
    taken per example (each example's own maximum). With cfg.log False: librosa's
    melspectrogram alone (power 2, no dB, top_db ignored), the input of the GE2E encoder.
    With cfg.denoise = a > 0, each example's mel power P is first replaced by
    max(P - a * N, DENOISE_FLOOR * N), N = the band's DENOISE_QUANTILE over that example's
    frames (spectral subtraction of a stationary noise floor).
    """

    def __init__(self, cfg, sample_rate):
        super().__init__(cfg, sample_rate)
        fb = config_filters(cfg, sample_rate, self.n_fft)  # librosa's filterbank, without importing librosa
        self.register_buffer("mel_fb", torch.as_tensor(fb, dtype=torch.float32), persistent=False)

    @property
    def dim(self) -> int:
        return self.cfg.n_mels

    def mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] -> mel power [B, n_mels, frames]."""
        spec = torch.stft(
            wave,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.n_fft,  # self.window is already the centered, padded window
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # [B, F, frames]
        mel = torch.matmul(self.mel_fb, power)  # [B, n_mels, frames]
        if self.cfg.denoise > 0:
            floor = quantile_last(mel, DENOISE_QUANTILE)  # [B, n_mels, 1]
            mel = torch.maximum(mel - self.cfg.denoise * floor, DENOISE_FLOOR * floor)
        return mel

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        mel = self.mel_power(wave)
        db = 10.0 * torch.log10(mel.clamp_min(1e-10))
        if self.cfg.top_db is not None:
            floor = db.amax(dim=(-2, -1), keepdim=True) - self.cfg.top_db
            db = torch.maximum(db, floor)
        return db

    def features(self, wave):
        return self.log_mel(wave) if self.cfg.log else self.mel_power(wave)
