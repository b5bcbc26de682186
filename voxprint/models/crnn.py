"""`crnn`: the CNN+LSTM combination - a conv front-end feeding a BiLSTM, attentive
statistics pooling over time."""

from __future__ import annotations

import torch
from torch import nn

from .cnn import conv_block, conv_stack, feature_map
from .pooling import AttentiveStatsPool


class CRNN(nn.Module):
    """[B, D, T] -> conv blocks (pool frequency by 2 each, time by 2 once) -> per-frame
    vectors [B, T/2, C*D'] -> BiLSTM -> attentive mean+std -> embedding [B, embed_dim]."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1,
                 channels: list[int] = (16, 32), hidden: int = 64):
        super().__init__()
        chans = [1, *channels]
        pools = [(2, 2)] + [(2, 1)] * (len(channels) - 1)
        self.blocks = conv_stack([conv_block(a, b, p) for a, b, p in zip(chans[:-1], chans[1:], pools)])
        d = in_dim
        for _ in channels:
            d = -(-d // 2)
        self.rnn = nn.LSTM(chans[-1] * d, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentiveStatsPool(2 * hidden)
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(feature_map(x))  # [B, C, D', T']
        h = h.flatten(1, 2).transpose(1, 2)  # [B, T', C*D']
        h, _ = self.rnn(h)
        return self.embedding(self.pool(h.transpose(1, 2)))
