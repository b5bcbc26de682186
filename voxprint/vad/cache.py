"""On-disk cache of speech regions, one small JSON entry per (file, sample rate, detector).

The key is the SHA-256 of the file's identity (resolved path, size, mtime in ns - as the
feature cache in voxprint/cache.py), the sample rate the regions are counted at, every
VadConfig field that changes the regions, the backend package's version and a format
version. Touching the file or changing any of them gives a new key, so a stale entry
can never be read. Entries are written atomically; an unreadable one is recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..cache import file_identity
from ..config import VadConfig
from ..dirs import cache_dir
from ..io import write_json
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
    """get/put Speech by key under `root` (None: no caching)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Speech | None:
        if self.root is None:
            return None
        path = self._path(key)
        if not path.exists():
            return None
        try:
            d = json.loads(path.read_text())
            regions = np.asarray(d["regions"], dtype=np.int64).reshape(-1, 2)
            fallback = d.get("fallback")
            fallback = None if fallback is None else np.asarray(fallback, dtype=np.int64).reshape(-1, 2)
            audible = d["audible"]
            audible = None if audible is None else (int(audible[0]), int(audible[1]))
            return Speech(regions, int(d["n_samples"]), int(d["sample_rate"]), fallback, audible)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("vad cache: unreadable entry %s (%s); recomputing", path, e)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, speech: Speech) -> None:
        if self.root is None:
            return
        write_json(self._path(key), {"n_samples": speech.n_samples, "sample_rate": speech.sample_rate,
                                     "regions": speech.regions.tolist(),
                                     "fallback": None if speech.fallback is None else speech.fallback.tolist(),
                                     "audible": None if speech.audible is None else list(speech.audible)})
