"""Pooling over time: [B, C, T] -> [B, 2C] (mean and standard deviation)."""

from __future__ import annotations

import torch
from torch import nn


def stats_pool(x: torch.Tensor) -> torch.Tensor:
    """Mean and std over time. [B, C, T] -> [B, 2C]."""
    mean = x.mean(dim=-1)
    std = (x.var(dim=-1, unbiased=False) + 1e-5).sqrt()
    return torch.cat([mean, std], dim=-1)


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and std over time (Okabe et al. 2018). [B, C, T] -> [B, 2C]."""

    def __init__(self, channels: int, hidden: int = 64):
        super().__init__()
        self.attn = nn.Sequential(nn.Conv1d(channels, hidden, 1), nn.Tanh(), nn.Conv1d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.attn(x), dim=-1)
        mean = (w * x).sum(dim=-1)
        var = (w * x * x).sum(dim=-1) - mean * mean
        return torch.cat([mean, var.clamp(min=1e-5).sqrt()], dim=-1)
