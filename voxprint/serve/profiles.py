"""The enrolled profiles as one in-memory matrix and search index, rebuilt only when the store changes.

Reading K profiles from the store for each request would cost more than the model. The store's
`data_version` changes when any other connection commits (this server's own enrol/forget, `voxprint enroll`
in another process, or another replica on the same PostgreSQL), so a check per request costs one PRAGMA
(SQLite) or one small query (PostgreSQL), and the matrix and its index (voxprint.index) are rebuilt
exactly when they are stale: a profile enrolled through one replica is found by the next request to any other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..index import ProfileIndex
from ..store import Profile


@dataclass(frozen=True)
class Snapshot:
    """names [K] (sorted), means [K, E] float32 unit vectors, index name -> row, search over the means,
    and the store's change counter they were read at."""

    names: list[str]
    means: np.ndarray
    index: dict[str, int] = field(repr=False)
    search: ProfileIndex = field(repr=False, default=None)
    version: int | None = None


class ProfileCache:
    """A long-lived read connection to the store and the matrix built from it (thread-safe)."""

    def __init__(self, store):
        self._store = store
        self._lock = threading.Lock()
        self._version: int | None = None
        self._snap: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The current profiles; raises VoxprintError if the store holds profiles of another model."""
        with self._lock:
            # Read the version first: a commit after this point makes the next call reload again.
            version = self._store.data_version()
            if version != self._version or self._snap is None:
                names, means = self._store.matrix()
                means = np.ascontiguousarray(means, dtype=np.float32)
                self._snap = Snapshot(names, means, {n: i for i, n in enumerate(names)}, ProfileIndex(means),
                                      version)
                self._version = version
            return self._snap

    def fresh(self) -> bool:
        """Whether the last snapshot still matches the store (raises VoxprintError if the store is unreachable)."""
        version = self._store.data_version()
        with self._lock:
            return self._snap is not None and self._snap.version == version

    @property
    def where(self) -> str:
        """The store's name for logs and messages (a URL's password masked)."""
        return str(self._store.db_path)

    def profiles(self) -> list[Profile]:
        """Every profile with its counts and times (any model), sorted by name."""
        with self._lock:
            return self._store.profiles()

    def close(self) -> None:
        with self._lock:
            self._store.close()
