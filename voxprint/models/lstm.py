"""`lstm`: bidirectional LSTM over (stacked) frames, statistics pooling over time."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


class LSTM(nn.Module):
    """[B, D, T] features -> every `stride` frames stacked into one step by a learned linear map
    [B, D*stride, T/stride] -> BiLSTM over the steps -> mean+std over time -> embedding [B, embed_dim].

    Why the stacking: on a CPU the recurrence is the whole cost of a step and it is sequential in
    time; two 10-ms frames per step (20 ms, still finer than a syllable) make training about 2.5x
    faster (benchmarks/grid.py). It is a strided Conv1d rather than a reshape so that ONNX export
    keeps the frame count dynamic; a trailing odd frame is dropped. stride=1 is the plain LSTM."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, hidden: int = 64, layers: int = 2,
                 stride: int = 2):
        super().__init__()
        self.stack = nn.Conv1d(in_dim, in_dim * stride, stride, stride=stride) if stride > 1 else nn.Identity()
        self.rnn = nn.LSTM(in_dim * stride, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.stack(x).transpose(1, 2))  # [B, T/stride, 2H]
        return self.embedding(stats_pool(h.transpose(1, 2)))
