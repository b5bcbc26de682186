"""The enrolled profiles as one in-memory matrix, rebuilt only when the SQLite store changes.

Scoring a clip against every profile is one [1, E] x [E, K] product; reading K profiles from SQLite for
each request would cost more than the model. The store's `data_version` changes when any other
connection commits (this server's own enrol/forget, or `voxprint enroll` in another process), so a
check per request costs one PRAGMA and the matrix is reloaded exactly when it is stale.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..store import Profile, ProfileStore


@dataclass(frozen=True)
class Snapshot:
    """names [K] (sorted), means [K, E] float32 unit vectors, index name -> row."""

    names: list[str]
    means: np.ndarray
    index: dict[str, int] = field(repr=False)
    profiles: list[Profile] = field(default_factory=list, repr=False)  # counts and quality, same order


class ProfileCache:
    """A long-lived read connection to the store and the matrix built from it (thread-safe)."""

    def __init__(self, store: ProfileStore):
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
                self._store.matrix()  # refuses profiles of another model
                profs = self._store.profiles()  # one read: names, means, counts and quality agree
                names = [p.name for p in profs]
                means = np.ascontiguousarray(np.stack([p.mean for p in profs]) if profs else np.zeros((0, 0)),
                                             dtype=np.float32)
                self._snap = Snapshot(names, means, {n: i for i, n in enumerate(names)}, profs)
                self._version = version
            return self._snap

    def profiles(self) -> list[Profile]:
        """Every profile with its counts and times (any model), sorted by name."""
        with self._lock:
            return self._store.profiles()

    def close(self) -> None:
        with self._lock:
            self._store.close()
