"""On-disk feature cache.

A key is the SHA-256 of every file's identity (absolute path, size, mtime in ns) plus the
full feature config, the sample rate, the window length and a format version (and, for
features of detected speech, the detector settings and a digest of the very windows heard).
Changing any of them - or touching a file - gives a new key, so a stale entry can never be read.
Entries are .npy files written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes

VERSION = 1


def file_identity(path: str | Path) -> list:
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def cache_key(paths: list[str], feature_cfg, **extra) -> str:
    cfg = dataclasses.asdict(feature_cfg) if dataclasses.is_dataclass(feature_cfg) else dict(feature_cfg)
    blob = json.dumps({"v": VERSION, "files": [file_identity(p) for p in paths], "features": cfg, **extra},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureCache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    def get_or_compute(self, key: str, compute) -> np.ndarray:
        if self.root is None:
            return compute()
        path = self.root / key[:2] / f"{key}.npy"
        if path.exists():
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError):  # EOFError: an empty entry
                path.unlink(missing_ok=True)  # unreadable entry: recompute
        value = np.ascontiguousarray(compute())
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
        return value
