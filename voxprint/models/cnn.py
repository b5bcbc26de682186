"""`cnn`: 2-D convolution blocks over the feature map, global statistics pooling."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


def conv_block(c_in: int, c_out: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        # ceil_mode keeps odd or tiny maps (LPC has 17 rows) from vanishing
        nn.MaxPool2d(pool, ceil_mode=True),
    )


class CNN(nn.Module):
    """[B, D, T] features -> conv blocks (BN, ReLU, 2x2 max-pool) -> mean+std over
    frequency and time -> embedding [B, embed_dim]."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, channels: list[int] = (16, 32, 64)):
        super().__init__()
        chans = [1, *channels]
        self.blocks = nn.Sequential(*[conv_block(a, b, (2, 2)) for a, b in zip(chans[:-1], chans[1:])])
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * chans[-1], embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x.unsqueeze(1))  # [B, C, D', T']
        h = h.flatten(2)  # pool over frequency and time together
        return self.embedding(stats_pool(h))
