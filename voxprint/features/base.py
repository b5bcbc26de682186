"""Common frame geometry and input handling of the feature extractors."""

from __future__ import annotations

import torch

from ..config import FeatureConfig
from ..melspec import centered_hann, frame_geometry


class FeatureExtractor(torch.nn.Module):
    """Waveform -> frame-wise features.

    forward: wave [B, T] (or [T]) float32 -> features [B, D, frames] (or [D, frames]) float32,
    with D = `self.dim` and frames = `self.num_frames(T)` = 1 + T // hop_length (centered
    frames, zero padded by n_fft // 2 on both sides like librosa's center=True,
    pad_mode="constant"). Pure torch and batched, so it runs on whatever device the module
    and the input are on; no gradients are kept.
    """

    def __init__(self, cfg: FeatureConfig, sample_rate: int):
        super().__init__()
        self.cfg = cfg
        self.sample_rate = int(sample_rate)
        self.win_length, self.hop_length, self.n_fft = frame_geometry(cfg, self.sample_rate)
        # The hann window of win_length, centered in n_fft samples (what torch.stft and
        # librosa do with a window shorter than n_fft); the same bits as the numpy route's.
        window = torch.from_numpy(centered_hann(self.win_length, self.n_fft))
        self.register_buffer("window", window, persistent=False)

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def num_frames(self, n_samples: int) -> int:
        # Length after padding n_fft // 2 on both sides, framed with n_fft and hop.
        return 1 + (int(n_samples) + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length

    def frames(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] -> windowed frames [B, frames, n_fft] (centered, zero padded)."""
        pad = self.n_fft // 2
        x = torch.nn.functional.pad(wave, (pad, pad))
        return x.unfold(-1, self.n_fft, self.hop_length) * self.window.to(wave.dtype)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] float32 -> [B, D, frames]; implemented by each feature."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        single = wave.dim() == 1
        if single:
            wave = wave.unsqueeze(0)
        if wave.dim() != 2:
            raise ValueError(f"expected a wave [B, T] or [T], got shape {tuple(wave.shape)}")
        out = self.features(wave.float()).float()
        return out[0] if single else out
