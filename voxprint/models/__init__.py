"""Models, one file each, chosen by name. Adding a model = adding a file and a line here.

Every backbone takes features [B, D, T] (any T >= a few frames), has
`embed(x) -> [B, embed_dim]` and an `embed_dim` attribute. `SpeakerNet` wraps a backbone
with the training-set normalisation and a classifier head (none for a pure encoder,
n_classes = 0); it is what is saved and exported.
"""

from __future__ import annotations

import inspect
import math
import warnings

import torch

from ..errors import ConfigError
from .cnn import CNN
from .crnn import CRNN
from .encoder import Encoder
from .ge2e import GE2E
from .lstm import LSTM
from .net import SpeakerNet
from .stats import Stats
from .tdnn import TDNN

MODELS = {"cnn": CNN, "lstm": LSTM, "crnn": CRNN, "tdnn": TDNN, "stats": Stats, "ge2e": GE2E, "encoder": Encoder}


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
    for key, value in cfg.options.items():
        _check_size(f"model.options.{key}", value)
    return cls(in_dim=in_dim, embed_dim=cfg.embed_dim, dropout=cfg.dropout, **cfg.options)


MAX_WIDTH = 4096  # layer sizes and counts above this are a typo or a crafted config, not a model


def _check_size(where: str, value) -> None:
    """Integer model options are layer sizes and counts: 1..MAX_WIDTH each, alone or in a list of up to
    16. Checked before anything is allocated (a crafted `channels: [1000000000]` would exhaust memory);
    flags (true/false) are the constructor's to check."""
    if isinstance(value, bool):
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    ok = 0 < len(items) <= 16 and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_WIDTH
                                      for v in items)
    if not ok:
        raise ConfigError(f"{where} = {value!r}; valid: an integer 1-{MAX_WIDTH} or a list of up to 16 of them")


MAX_PARAMS = 100_000_000  # 400 MB of float32 weights: far above any model here, far below a crafted size


def net_shapes(cfg, in_dim: int, n_classes: int) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of the SpeakerNet of `cfg`, from a copy built on the meta device: nothing
    is allocated, whatever sizes the config or label list claim."""
    with torch.device("meta"), warnings.catch_warnings():
        # a pretrained backbone loads its weights in __init__: on the meta device that copy is a no-op
        warnings.filterwarnings("ignore", message=".*meta parameter.*")
        return {k: tuple(v.shape) for k, v in _net(cfg, in_dim, n_classes).state_dict().items()}


def build_net(cfg, in_dim: int, n_classes: int) -> SpeakerNet:
    """The SpeakerNet of `cfg`; its size is counted on the meta device first and a net over
    MAX_PARAMS parameters - a crafted config or label list - is refused before it is allocated."""
    n = sum(math.prod(shape) for shape in net_shapes(cfg, in_dim, n_classes).values())
    if n > MAX_PARAMS:
        raise ConfigError(f"model '{cfg.name}' with embed_dim {cfg.embed_dim}, options {cfg.options or {}} and "
                          f"{n_classes} speakers would have {n:,} weights; at most {MAX_PARAMS:,}")
    return _net(cfg, in_dim, n_classes)


def _net(cfg, in_dim: int, n_classes: int) -> SpeakerNet:
    return SpeakerNet(build_backbone(cfg, in_dim), in_dim, n_classes, cfg.head, cfg.aam_margin, cfg.aam_scale)


__all__ = ["GE2E", "MODELS", "SpeakerNet", "build_backbone", "build_net", "net_shapes"]
