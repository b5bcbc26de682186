"""`encoder`: the general speaker encoder shipped with voxprint (voxprint/pretrained/encoder: GE2E
fine-tuned to ignore noise) as a grid model. Its weights are the starting point; the grid fine-tunes
them per dataset with a classifier head and the same noise training as the models it is compared
with, at a small fraction of their learning rate (`lr_scale`), so the speaker space it learned from
thousands of voices is adjusted rather than overwritten.

Its input is what the pretrained weights expect - 40-band mel power at 16 kHz (FEATURES,
SAMPLE_RATE) - so the grid gives it that feature and rate whatever `grid.features` says.
"""

from __future__ import annotations

import torch

from ..pretrained import ENCODER_DIR
from .ge2e import GE2E, GE2E_FEATURES, GE2E_SAMPLE_RATE


class Encoder(GE2E):
    """[B, 40, T] mel power -> L2-normalised embedding [B, 256], initialised from the shipped encoder."""

    FEATURES = GE2E_FEATURES
    SAMPLE_RATE = GE2E_SAMPLE_RATE
    lr_scale = 0.02  # backbone learning rate = train.lr x lr_scale (the head gets train.lr)

    def __init__(self, in_dim: int = 40, embed_dim: int = 256, dropout: float = 0.0, pretrained: bool = True):
        super().__init__(in_dim, embed_dim, dropout)
        if pretrained:  # a saved grid model then overwrites these with its own fine-tuned weights
            state = torch.load(ENCODER_DIR / "model.pt", map_location="cpu", weights_only=True)
            self.load_state_dict({k[len("backbone."):]: v.float() for k, v in state.items()
                                  if k.startswith("backbone.")})
