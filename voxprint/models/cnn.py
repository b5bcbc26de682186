"""`cnn`: 2-D convolution blocks over the feature map, global statistics pooling."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


def conv_block(c_in: int, c_out: int, pool: tuple[int, int]) -> nn.Sequential:
    """Conv, BN, max-pool, ReLU. Pooling before the ReLU gives the same values and gradients as after it
    (ReLU is monotonic, so max(relu(a), relu(b)) = relu(max(a, b))) with the ReLU on a quarter of the
    map; the parameter names (0: conv, 1: BN) are those of the older ReLU-first order."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        # ceil_mode keeps odd or tiny maps (LPC has 17 rows) from vanishing
        nn.MaxPool2d(pool, ceil_mode=True),
        nn.ReLU(inplace=True),
    )


def conv_stack(blocks: list[nn.Sequential]) -> nn.Sequential:
    """The blocks with their weights in channels-last memory order: on CPU the convolutions, batch norm
    and max-pool of a training step ran in 0.6-0.75 of the time (benchmarks/grid.py times the whole run)."""
    return nn.Sequential(*blocks).to(memory_format=torch.channels_last)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    """[B, D, T] features -> [B, 1, D, T] in the channels-last order the conv stack runs in."""
    return x.unsqueeze(1).contiguous(memory_format=torch.channels_last)


class CNN(nn.Module):
    """[B, D, T] features -> conv blocks (BN, 2x2 max-pool, ReLU) -> mean+std over
    frequency and time -> embedding [B, embed_dim]."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, channels: list[int] = (16, 32, 64)):
        super().__init__()
        chans = [1, *channels]
        self.blocks = conv_stack([conv_block(a, b, (2, 2)) for a, b in zip(chans[:-1], chans[1:])])
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * chans[-1], embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(feature_map(x))  # [B, C, D', T']
        h = h.flatten(2)  # pool over frequency and time together
        return self.embedding(stats_pool(h))
