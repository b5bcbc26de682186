"""`lstm`: bidirectional LSTM over frames, statistics pooling over time."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


class LSTM(nn.Module):
    """[B, D, T] features -> BiLSTM over the T frames -> mean+std over time ->
    embedding [B, embed_dim]."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, hidden: int = 64, layers: int = 2):
        super().__init__()
        self.rnn = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x.transpose(1, 2))  # [B, T, 2H]
        return self.embedding(stats_pool(h.transpose(1, 2)))
