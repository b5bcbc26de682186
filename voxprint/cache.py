"""The one disk cache: entries of named numpy arrays, one .npz file per key.

    cache = DiskCache.named("features")          # under dirs.cache_dir("features"); None root: off
    feats = cache.array(key, compute)            # one array
    entry = cache.get_or_compute(key, compute)   # {name: array}

Every on-disk cache goes through it: window features (clip_scoring.clean_features), speech regions
(vad.cache), and the benchmarks' embeddings. Entries live under root/<key[:2]>/<key>.npz and are
written atomically, so a killed process never leaves half an entry; an entry that cannot be read
(empty, truncated, not an .npz) is removed and computed again. A key must change with everything the
value depends on: `cache_key` builds one from files' identities and settings, so touching a file or
changing a setting can never serve a stale entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes

log = logging.getLogger(__name__)
VERSION = 1
ARRAY = "array"  # the entry name of a single array (DiskCache.array)


def file_identity(path: str | Path) -> list:
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def cache_key(paths: list[str], feature_cfg, **extra) -> str:
    """SHA-256 of every file's identity (absolute path, size, mtime in ns), the whole feature config,
    `extra` (sample rate, window, ...) and a format version."""
    cfg = dataclasses.asdict(feature_cfg) if dataclasses.is_dataclass(feature_cfg) else dict(feature_cfg)
    blob = json.dumps({"v": VERSION, "files": [file_identity(p) for p in paths], "features": cfg, **extra},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class DiskCache:
    """Named arrays by key under `root` (None: nothing is kept, every value is computed)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root else None

    @classmethod
    def named(cls, name: str) -> DiskCache:
        """The cache `name` in its default folder (dirs.cache_dir: $VOXPRINT_CACHE/name; off with "off")."""
        from .dirs import cache_dir

        return cls(cache_dir(name))

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The entry, or None when there is none (an unreadable one is removed)."""
        if self.root is None or not self.path(key).is_file():
            return None
        path = self.path(key)
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy written in its place
                raise TypeError("not an .npz")
            with z:
                return {name: z[name] for name in z.files}
        except (OSError, ValueError, TypeError, EOFError, KeyError, zipfile.BadZipFile) as e:  # EOFError: an empty file
            log.warning("cache: unreadable entry %s (%s); computing it again", path, e.__class__.__name__)
            self.drop(key)
            return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.root is None:
            return
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.path(key), buf.getvalue())

    def drop(self, key: str) -> None:
        if self.root is not None:
            self.path(key).unlink(missing_ok=True)

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        found = self.get(key)
        if found is not None:
            return found
        value = {name: np.asarray(a) for name, a in compute().items()}
        self.put(key, value)
        return value

    def array(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """One array by key; an entry without it is computed again."""
        found = self.get(key)
        if found is not None and ARRAY in found:
            return found[ARRAY]
        value = np.ascontiguousarray(compute())
        self.put(key, {ARRAY: value})
        return value
