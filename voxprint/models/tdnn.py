"""`tdnn`: a small x-vector-style time-delay network - 1-D convolutions over frames (growing
dilation), mean+std over time, beside the mean+std of the input features themselves."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


def tdnn_block(c_in: int, c_out: int, kernel: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel // 2)),
                         nn.BatchNorm1d(c_out), nn.ReLU(inplace=True))


class TDNN(nn.Module):
    """[B, D, T] -> frame layers (context 5, then 3 at dilation 2 and 3, then 1; T kept) ->
    mean+std over time [B, 2C], with `input_stats` also the (normalised) input's mean+std [B, 2D] ->
    embedding [B, embed_dim].

    Every layer sees a frame's neighbourhood only, and what is pooled are frame-level statistics;
    the input's own statistics are the MFCC mean/std + SVM anchor's features, so the network starts
    from what that anchor knows and learns what it does not. Measured beside the CRNN on libri-dev
    few-shot (about 4 s of speech per speaker; benchmarks/fewshot.py and the README's block)."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, channels: int = 128,
                 input_stats: bool = True):
        super().__init__()
        c = channels
        self.frames = nn.Sequential(tdnn_block(in_dim, c, 5, 1), tdnn_block(c, c, 3, 2), tdnn_block(c, c, 3, 3),
                                    tdnn_block(c, c, 1, 1))
        self.input_stats = input_stats
        self.embed_dim = embed_dim
        self.embedding = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * c + (2 * in_dim if input_stats else 0),
                                                                      embed_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = stats_pool(self.frames(x))
        if self.input_stats:
            h = torch.cat([h, stats_pool(x)], dim=-1)
        return self.embedding(h)
