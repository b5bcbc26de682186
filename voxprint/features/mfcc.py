"""MFCC (+ optional deltas), numerically the same as librosa.feature.mfcc / delta."""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from .mel import LogMel

DELTA_WIDTH = 9  # librosa.feature.delta's default width


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II rows 0..n_out-1 (scipy.fftpack.dct(type=2, norm='ortho'))."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    m[0] /= math.sqrt(2.0)
    return m


def savgol_matrix(n: int, order: int) -> torch.Tensor:
    """[n, n] map from n samples to the order-th derivative of their least-squares
    polynomial of degree `order`, evaluated at each sample (Savitzky-Golay with
    polyorder = deriv = order, which is what librosa.feature.delta computes)."""
    if n <= order:  # too few points to fit that degree: no measurable slope/curvature
        return torch.zeros(n, n, dtype=torch.float64)
    t = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    vander = t[:, None] ** torch.arange(order + 1, dtype=torch.float64)
    # The order-th derivative of a degree-`order` polynomial is order! * c_order everywhere.
    return math.factorial(order) * torch.linalg.pinv(vander)[order].expand(n, n).clone()


class MFCC(LogMel):
    """Mel-frequency cepstral coefficients.

    forward: [B, T] -> [B, D, 1 + T // hop_length], D = n_mfcc, or 3 * n_mfcc with
    cfg.deltas (rows: coefficients, then delta, then delta-delta). A 1-D [T] gives [D, frames].
    The coefficients equal librosa.feature.mfcc(..., center=True, pad_mode="constant",
    top_db=cfg.top_db); the deltas equal librosa.feature.delta(width=9, order=1/2,
    mode="interp"). librosa refuses clips of fewer than 9 frames; here the polynomial fit then
    spans all the frames there are.
    """

    def __init__(self, cfg, sample_rate):
        super().__init__(cfg, sample_rate)
        if not cfg.log:
            raise ConfigError("features.log: false is for the mel feature; MFCC are always of the log-Mel")
        if cfg.n_mfcc > cfg.n_mels:
            raise ConfigError(f"n_mfcc {cfg.n_mfcc} > n_mels {cfg.n_mels}")
        self.register_buffer("dct", dct_matrix(cfg.n_mfcc, cfg.n_mels).float(), persistent=False)
        if cfg.deltas:
            for order in (1, 2):
                sg = savgol_matrix(DELTA_WIDTH, order).float()
                self.register_buffer(f"savgol{order}", sg, persistent=False)

    @property
    def dim(self) -> int:
        return self.cfg.n_mfcc * (3 if self.cfg.deltas else 1)

    def delta(self, x: torch.Tensor, order: int) -> torch.Tensor:
        """Savitzky-Golay derivative along the last axis, librosa mode="interp": interior
        frames use the centered 9-frame fit, the first/last 4 frames use the fit to the
        first/last 9 frames."""
        frames = x.shape[-1]
        w, half = DELTA_WIDTH, DELTA_WIDTH // 2
        if frames < w:
            sg = savgol_matrix(frames, order).to(x)
            return x @ sg.T
        sg = getattr(self, f"savgol{order}")
        head = x[..., :w] @ sg[:half].T
        tail = x[..., -w:] @ sg[half + 1 :].T
        flat = x.reshape(-1, 1, frames)
        mid = torch.nn.functional.conv1d(flat, sg[half].view(1, 1, w))  # correlation
        mid = mid.reshape(*x.shape[:-1], frames - w + 1)
        return torch.cat([head, mid, tail], dim=-1)

    def features(self, wave):
        c = torch.matmul(self.dct, self.log_mel(wave))  # [B, n_mfcc, frames]
        if self.cfg.deltas:
            c = torch.cat([c, self.delta(c, 1), self.delta(c, 2)], dim=-2)
        return c
