"""`encoder`: the general speaker encoder shipped with voxprint (voxprint/pretrained/encoder: GE2E
fine-tuned to ignore noise) as a grid model. Its weights are the starting point; the grid fine-tunes
them per dataset with a classifier head and the same noise training as the models it is compared
with, at a small fraction of their learning rate (`lr_scale`), so the speaker space it learned from
thousands of voices is adjusted rather than overwritten.

Its input is what the shipped weights expect - the shipped folder's features (40-band mel power)
at 16 kHz - so the grid gives it that feature and rate whatever `grid.features` says.
"""

from __future__ import annotations

import functools

import torch
import yaml

from ..pretrained import ENCODER_DIR
from .ge2e import GE2E, GE2E_SAMPLE_RATE


class Encoder(GE2E):
    """[B, 40, T] mel power -> L2-normalised embedding [B, 256], initialised from the shipped encoder."""

    SAMPLE_RATE = GE2E_SAMPLE_RATE
    lr_scale = 0.02  # backbone learning rate = train.lr x lr_scale (the head gets train.lr)

    def __init__(self, in_dim: int = 40, embed_dim: int = 256, dropout: float = 0.0, pretrained: bool = True):
        # The shipped weights fix the sizes: 40 mel bands in, 256 out (model.embed_dim does not apply).
        if in_dim != 40:
            from ..errors import ConfigError

            raise ConfigError(f"model 'encoder' takes the shipped encoder's 40 mel bands, not {in_dim} features")
        super().__init__(40, 256, dropout)
        if pretrained:  # a saved grid model then overwrites these with its own fine-tuned weights
            state = torch.load(ENCODER_DIR / "model.pt", map_location="cpu", weights_only=True)
            self.load_state_dict({k[len("backbone."):]: v.float() for k, v in state.items()
                                  if k.startswith("backbone.")})

    @staticmethod
    @functools.cache
    def fixed_features() -> dict:
        """The feature settings of the shipped encoder's config.yaml."""
        return yaml.safe_load((ENCODER_DIR / "config.yaml").read_text())["features"]
