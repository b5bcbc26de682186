"""Linear prediction coefficients (or LPC cepstra) per frame, plus the log residual energy."""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .base import FeatureExtractor

R0_REL = 1e-9  # r[0] *= 1 + R0_REL: keeps the Toeplitz system positive definite
R0_ABS = 1e-12  # r[0] += R0_ABS: silent frames give a = 0 and a finite log gain (-27.6)


def levinson(r: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Levinson-Durbin over the last axis of autocorrelations r [..., order + 1].

    Returns (a [..., order] with A(z) = 1 + a1 z^-1 + ... + ap z^-p, the sign convention of
    librosa.lpc, and the prediction-error energy [...]). Vectorised over all leading axes;
    the loop runs over the order only.
    """
    a = torch.zeros(*r.shape[:-1], order + 1, dtype=r.dtype, device=r.device)
    a[..., 0] = 1.0
    err = r[..., 0]
    tiny = torch.finfo(r.dtype).tiny
    for i in range(1, order + 1):
        # acc = sum_{j=0}^{i-1} a_j r_{i-j}
        acc = (a[..., :i] * r[..., 1 : i + 1].flip(-1)).sum(-1)
        k = -acc / err
        prev = a[..., 1:i].clone()
        a[..., 1:i] = prev + k[..., None] * prev.flip(-1)
        a[..., i] = k
        err = (err * (1.0 - k * k)).clamp_min(tiny)
    return a[..., 1:], err


def lpc_to_cepstrum(a: torch.Tensor) -> torch.Tensor:
    """Cepstrum c_1..c_p of 1/A(z) from a [..., p]:
    c_n = -a_n - sum_{k=1}^{n-1} (k/n) c_k a_{n-k}."""
    p = a.shape[-1]
    c = []
    for n in range(1, p + 1):
        acc = -a[..., n - 1]
        for k in range(1, n):
            acc = acc - (k / n) * c[k - 1] * a[..., n - k - 1]
        c.append(acc)
    return torch.stack(c, dim=-1)


class LPC(FeatureExtractor):
    """LPC (or LPCC) features.

    forward: [B, T] -> [B, p + 1, 1 + T // hop_length], p = cfg.lpc_order (a 1-D [T] gives
    [p + 1, frames]). Rows 0..p-1 are a1..ap of A(z) = 1 + a1 z^-1 + ... + ap z^-p (librosa.lpc's
    convention, without its leading 1), or with cfg.lpcc the cepstral coefficients c1..cp of
    1/A(z); the last row is the natural log of the prediction-error energy of the frame.
    Frames are hann-windowed (win_length, centered like the STFT features) and solved with
    the autocorrelation method in float64.
    """

    def __init__(self, cfg, sample_rate):
        super().__init__(cfg, sample_rate)
        if cfg.lpc_order < 1 or cfg.lpc_order >= self.win_length:
            raise ConfigError(f"lpc_order {cfg.lpc_order} must be in [1, {self.win_length})")
        self.order = cfg.lpc_order

    @property
    def dim(self) -> int:
        return self.order + 1

    def autocorrelation(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] -> r [B, frames, p + 1] of the windowed frames, in float64."""
        frames = self.frames(wave.double())  # [B, frames, n_fft]
        left = (self.n_fft - self.win_length) // 2  # drop the window's zero padding
        x = frames[..., left : left + self.win_length]
        n = x.shape[-1]
        # vecdot: the same sums without a [B, frames, n] product array per lag (bit-identical, a third faster)
        return torch.stack(
            [torch.linalg.vecdot(x[..., : n - k], x[..., k:]) for k in range(self.order + 1)], dim=-1
        )

    def features(self, wave):
        r = self.autocorrelation(wave)
        r[..., 0] = r[..., 0] * (1.0 + R0_REL) + R0_ABS
        a, err = levinson(r, self.order)
        coef = lpc_to_cepstrum(a) if self.cfg.lpcc else a
        out = torch.cat([coef, err.log()[..., None]], dim=-1)  # [B, frames, p + 1]
        return out.transpose(-1, -2)
