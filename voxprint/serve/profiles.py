"""The enrolled profiles in memory, searchable, and kept in step with the store.

Reading K profiles from the store for each request would cost more than the model. The store's
`data_version` changes whenever anything commits (this server's own enrol/forget, `voxprint enroll` in
another process, another replica on the same PostgreSQL), so one cheap check per request (a PRAGMA on
SQLite, one small query on PostgreSQL) tells when the snapshot is stale: a profile enrolled through one
replica is found by the next request to any other.

A stale snapshot is brought up to date in one of two ways. SQLite: the matrix is read again and indexed
anew. PostgreSQL (`changes_since`): only the profiles written or forgotten since are read; they go to a
small exact `delta` searched beside the large base index (voxprint.index: IVF above EXACT_BELOW), and the
base rows they replace are masked out. The base is rebuilt once the delta outgrows REBUILD_FRACTION of it,
so a million-profile replica stays fresh in milliseconds per enrolment instead of re-indexing everything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..index import ProfileIndex
from ..store import Profile, means_from_rows

REBUILD_MIN = 2_000  # delta + masked rows tolerated before the base is rebuilt, at least ...
REBUILD_FRACTION = 0.01  # ... or this share of the base


@dataclass(frozen=True)
class Snapshot:
    """The profiles at one store version: a base (names [K], means [K, E] float32, its index), base rows
    masked out because they were since rewritten or forgotten, and the delta written since (names, means)."""

    base_names: list[str]
    base_means: np.ndarray
    base: ProfileIndex = field(repr=False)
    version: int
    dead: frozenset = frozenset()
    delta_names: tuple = ()
    delta_means: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False)
    rows: dict = field(default_factory=dict, repr=False)  # name -> base row, for live base profiles

    @property
    def kind(self) -> str:
        """How it searches: "empty", "exact", or the base index's approximate kind (e.g. "ivf1000")."""
        return "empty" if not self.count else ("exact" if self.base.size == 0 else self.base.kind)

    @property
    def count(self) -> int:
        return len(self.rows) + len(self.delta_names)

    @property
    def names(self) -> list[str]:
        """Every live name, sorted."""
        return sorted([n for n, r in self.rows.items()] + list(self.delta_names))

    def vector(self, name: str) -> np.ndarray | None:
        """The unit mean [E] of `name`, or None if it is not enrolled."""
        if name in self.delta_names:
            return self.delta_means[self.delta_names.index(name)]
        row = self.rows.get(name)
        return None if row is None else self.base_means[row]

    def nearest(self, emb: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
        """The k live profiles nearest the unit embedding emb [E]: (names, cosine scores), best first."""
        hits = self.base.search(emb, k + len(self.dead))
        cands = [(self.base_names[r], float(s)) for r, s in zip(hits.rows[0], hits.scores[0])
                 if r >= 0 and r not in self.dead]
        if self.delta_names:
            cands += list(zip(self.delta_names, (self.delta_means @ emb).tolist()))
        cands.sort(key=lambda c: -c[1])
        return [n for n, _ in cands[:k]], np.array([s for _, s in cands[:k]], dtype=np.float32)

    def with_changes(self, version: int, rows, gone) -> Snapshot:
        """A new snapshot: `gone` names removed, `rows` (store rows) written; the base index is shared."""
        changed = [r[0] for r in rows]
        live = dict(self.rows)
        dead = set(self.dead)
        for name in [*gone, *changed]:
            if name in live:
                dead.add(live.pop(name))
        delta = {n: v for n, v in zip(self.delta_names, self.delta_means) if n not in gone}
        if rows:
            delta.update(zip(changed, means_from_rows(rows).astype(np.float32)))
        names = tuple(sorted(delta))
        means = np.stack([delta[n] for n in names]) if names else np.zeros((0, 0), np.float32)
        return Snapshot(self.base_names, self.base_means, self.base, version, frozenset(dead), names, means, live)

    @property
    def needs_rebuild(self) -> bool:
        return len(self.delta_names) + len(self.dead) > max(REBUILD_MIN, REBUILD_FRACTION * len(self.base_names))


def full_snapshot(version: int, names: list[str], means: np.ndarray) -> Snapshot:
    means = np.ascontiguousarray(means, dtype=np.float32)
    return Snapshot(names, means, ProfileIndex(means), version, rows={n: i for i, n in enumerate(names)})


class ProfileCache:
    """A long-lived connection to the store and the snapshot built from it (thread-safe)."""

    def __init__(self, store):
        self._store = store
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The current profiles; raises VoxprintError if the store holds profiles of another model."""
        with self._lock:
            # Read the version first: a commit after this point makes the next call update again.
            version = self._store.data_version()
            snap = self._snap
            if snap is not None and snap.version == version:
                return snap
            if snap is not None and hasattr(self._store, "changes_since") and not snap.needs_rebuild:
                now, rows, gone = self._store.changes_since(snap.version)
                self._snap = snap.with_changes(now, rows, gone)
            elif hasattr(self._store, "matrix_at"):
                self._snap = full_snapshot(*self._store.matrix_at())
            else:
                self._snap = full_snapshot(version, *self._store.matrix())
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

    def named(self, names) -> list[Profile]:
        """The stored profiles of `names` (a search's candidates), with counts and quality, in that order;
        a name forgotten since the snapshot is left out."""
        with self._lock:
            return self._store.get_many(names)

    def profiles(self) -> list[Profile]:
        """Every profile with its counts and times (any model), sorted by name."""
        with self._lock:
            return self._store.profiles()

    def close(self) -> None:
        with self._lock:
            self._store.close()
