"""SpeakerNet = normalisation (fitted on the training split) + backbone + classifier head.

This is the unit that is saved (state_dict only), rebuilt from the run's config, and
exported to ONNX. Input: raw features [B, D, T]; outputs: logits [B, K], embedding [B, E].
With n_classes = 0 it is a pure encoder: no head, logits [B, 0] (ONNX exports only the embedding).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AAMHead(nn.Module):
    """Additive angular margin softmax (ArcFace): logits = s*cos(theta + m) for the
    target class during training, s*cos(theta) otherwise and at inference."""

    def __init__(self, embed_dim: int, n_classes: int, margin: float, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.margin, self.scale = margin, scale

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(emb, dim=-1), F.normalize(self.weight, dim=-1))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.scale * self.cosine(emb)

    def margin_logits(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        cos = self.cosine(emb).clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.acos(cos)
        target_cos = torch.cos(theta + self.margin)
        # past pi - m the margin would make cos increase again; fall back to cos - m*sin(m)
        target_cos = torch.where(theta + self.margin < math.pi, target_cos, cos - self.margin * math.sin(self.margin))
        onehot = F.one_hot(target, cos.shape[1]).bool()
        return self.scale * torch.where(onehot, target_cos, cos)


class SpeakerNet(nn.Module):
    def __init__(self, backbone: nn.Module, in_dim: int, n_classes: int, head: str = "softmax",
                 aam_margin: float = 0.2, aam_scale: float = 30.0):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("feat_mean", torch.zeros(in_dim))
        self.register_buffer("feat_std", torch.ones(in_dim))
        self.embed_dim = embed_dim = backbone.embed_dim
        self.n_classes = n_classes
        if n_classes == 0:
            self.head = None
        elif head == "softmax":
            self.head = nn.Sequential(nn.ReLU(), nn.Linear(embed_dim, n_classes))
        elif head == "aam":
            self.head = AAMHead(embed_dim, n_classes, aam_margin, aam_scale)
        else:
            from ..errors import ConfigError

            raise ConfigError(f"unknown head '{head}'; valid: aam, softmax")
        self.head_kind = head

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-5))

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        x = (feats - self.feat_mean[:, None]) / self.feat_std[:, None]
        return self.backbone.embed(x)

    @property
    def fixed_input(self) -> bool:
        """True when the backbone's weights fix the input scale (no normalisation is fitted)."""
        return bool(getattr(self.backbone, "fixed_input", False))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embed(feats)
        if self.head is None:
            return emb.new_zeros((emb.shape[0], 0)), emb
        return self.head(emb), emb

    def training_logits(self, emb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.head_kind == "aam":
            return self.head.margin_logits(emb, target)
        return self.head(emb)
