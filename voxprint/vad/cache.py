"""On-disk cache of speech regions, one small entry of the DiskCache per (file, sample rate, detector).

The key is the SHA-256 of the file's identity (resolved path, size, mtime in ns - as the
feature cache in voxprint/cache.py), the sample rate the regions are counted at, every
VadConfig field that changes the regions, the backend package's version and a format
version. Touching the file or changing any of them gives a new key, so a stale entry
can never be read. Entries are written atomically (voxprint.cache); an unreadable one is recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..cache import DiskCache, file_identity
from ..config import VadConfig
from ..dirs import cache_dir
from .backends import backend_version
from .regions import Speech

log = logging.getLogger(__name__)
VERSION = 5  # 2: regions exclude digital silence at their edges; 3: a fallback detector;
#  4: each clip's audible span; 5: that span reaches the voiced samples too (regions.recording_span)
# Fields that only decide what a caller does with the regions, not the regions themselves
# (min_speech_seconds is in the key: below it the fallback detector decides).
NOT_IN_KEY = ("enabled",)


def default_root() -> Path | None:
    """$VOXPRINT_CACHE/vad, else the user cache's voxprint/vad; VOXPRINT_CACHE=off disables it."""
    return cache_dir("vad")


def region_key(path: str | Path, sample_rate: int, cfg: VadConfig) -> str:
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_KEY}
    blob = json.dumps({"v": VERSION, "file": file_identity(path), "sample_rate": int(sample_rate),
                       "vad": params, "package": backend_version(cfg.backend),
                       "fallback_package": backend_version(cfg.fallback) if cfg.fallback else None}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class RegionCache:
    """get/put Speech by key under `root` (None: no caching), as arrays in the one DiskCache."""

    def __init__(self, root: str | Path | None):
        self.disk = DiskCache(root)

    def get(self, key: str) -> Speech | None:
        d = self.disk.get(key)
        if d is None:
            return None
        try:
            fallback = d["fallback"].reshape(-1, 2) if "fallback" in d else None
            audible = tuple(int(v) for v in d["audible"]) if "audible" in d else None
            return Speech(d["regions"].astype(np.int64).reshape(-1, 2), int(d["n_samples"]), int(d["sample_rate"]),
                          fallback, audible)
        except (ValueError, KeyError, TypeError) as e:  # an entry of another shape: not these regions
            log.warning("vad cache: unusable entry %s (%s); recomputing", self.disk.path(key), e)
            self.disk.drop(key)
            return None

    def put(self, key: str, speech: Speech) -> None:
        arrays = {"n_samples": np.int64(speech.n_samples), "sample_rate": np.int64(speech.sample_rate),
                  "regions": np.asarray(speech.regions, np.int64).reshape(-1, 2)}
        if speech.fallback is not None:  # absent, not empty: no fallback detector ran
            arrays["fallback"] = np.asarray(speech.fallback, np.int64).reshape(-1, 2)
        if speech.audible is not None:
            arrays["audible"] = np.asarray(speech.audible, np.int64)
        self.disk.put(key, arrays)
