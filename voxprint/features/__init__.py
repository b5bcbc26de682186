"""Frame-wise features: MFCC, log-Mel and LPC, as batched torch modules.

`build_feature(cfg, sample_rate)` returns a `FeatureExtractor` whose forward maps a wave
[B, T] (or [T]) to [B, D, frames] (or [D, frames]), D = `.dim`, frames = 1 + T // hop.
"""

from __future__ import annotations

from ..config import FeatureConfig
from ..errors import ConfigError
from .base import FeatureExtractor
from .lpc import LPC
from .mel import LogMel
from .mfcc import MFCC

FEATURES: dict[str, type[FeatureExtractor]] = {"mfcc": MFCC, "mel": LogMel, "lpc": LPC}


def build_feature(cfg: FeatureConfig, sample_rate: int) -> FeatureExtractor:
    cls = FEATURES.get(cfg.name)
    if cls is None:
        raise ConfigError(f"unknown feature '{cfg.name}'; valid: {', '.join(sorted(FEATURES))}")
    return cls(cfg, sample_rate)


__all__ = ["FEATURES", "LPC", "MFCC", "FeatureExtractor", "LogMel", "build_feature"]
