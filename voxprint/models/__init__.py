"""Models, one file each, chosen by name. Adding a model = adding a file and a line here.

Every backbone takes features [B, D, T] (any T >= a few frames), has
`embed(x) -> [B, embed_dim]` and an `embed_dim` attribute. `SpeakerNet` wraps a backbone
with the training-set normalisation and a classifier head (none for a pure encoder,
n_classes = 0); it is what is saved and exported.
"""

from __future__ import annotations

import inspect

from ..errors import ConfigError
from .cnn import CNN
from .crnn import CRNN
from .encoder import Encoder
from .ge2e import GE2E
from .lstm import LSTM
from .net import SpeakerNet

MODELS = {"cnn": CNN, "lstm": LSTM, "crnn": CRNN, "ge2e": GE2E, "encoder": Encoder}


def build_backbone(cfg, in_dim: int):
    """Backbone named by `cfg.name`, with `cfg.options` checked against its constructor."""
    if cfg.name not in MODELS:
        raise ConfigError(f"unknown model '{cfg.name}'; valid: {', '.join(sorted(MODELS))}")
    cls = MODELS[cfg.name]
    params = inspect.signature(cls.__init__).parameters
    valid = [p for p in params if p not in ("self", "in_dim", "embed_dim", "dropout")]
    bad = sorted(set(cfg.options) - set(valid))
    if bad:
        raise ConfigError(f"model.options: unknown option {', '.join(bad)} for '{cfg.name}'; valid: {', '.join(valid)}")
    return cls(in_dim=in_dim, embed_dim=cfg.embed_dim, dropout=cfg.dropout, **cfg.options)


def build_net(cfg, in_dim: int, n_classes: int) -> SpeakerNet:
    return SpeakerNet(build_backbone(cfg, in_dim), in_dim, n_classes, cfg.head, cfg.aam_margin, cfg.aam_scale)


__all__ = ["GE2E", "MODELS", "build_backbone", "build_net", "SpeakerNet"]
