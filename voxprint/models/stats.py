"""`stats`: the mean and standard deviation of the input features over time, then a small MLP."""

from __future__ import annotations

import torch
from torch import nn

from .pooling import stats_pool


class Stats(nn.Module):
    """[B, D, T] -> mean+std over time [B, 2D] -> `layers` x (Linear `hidden`, BatchNorm, ReLU,
    Dropout) -> embedding [B, embed_dim].

    No layer looks at a frame's neighbours: what a clip says of its speaker is taken to be in the
    average spectrum and its spread, which is what the MFCC mean/std + SVM anchor fits on, so with
    a few seconds per speaker there are only 2D numbers per clip to weigh rather than frame
    patterns to learn. On libri-dev few-shot (benchmarks/fewshot.py, the README's block) it names
    more test segments than the conv and recurrent models and than the anchor."""

    def __init__(self, in_dim: int, embed_dim: int = 128, dropout: float = 0.1, hidden: int = 256, layers: int = 1):
        super().__init__()
        blocks, width = [], 2 * in_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        self.mlp = nn.Sequential(*blocks)
        self.embed_dim = embed_dim
        self.embedding = nn.Linear(width, embed_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.mlp(stats_pool(x)))
