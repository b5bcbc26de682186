"""Speaker profiles in PostgreSQL, for several server processes (on several machines) sharing one store.

The same rules as the SQLite store (voxprint.store): a profile keeps the running SUM of unit-norm embeddings
(float64) and their count, names are NFC, a store holds one model's profiles, and an `enrollments` row is
written in the same transaction as the profile it changed. Writers serialise on one transaction-level
advisory lock (PostgreSQL's counterpart of SQLite's BEGIN IMMEDIATE): an enrolment reads, adds and writes
its profile with no other writer in between, and a process killed mid-way leaves nothing half-written
(the transaction is rolled back). Every write also bumps a change counter, which readers in other
processes poll per request to know when their in-memory index is stale (`data_version`).

Connections come from one psycopg_pool pool per URL and process. pgvector is not used: the embeddings are
stored as bytes and searched in the serving process (voxprint.index).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading

import numpy as np

from .errors import VoxprintError
from .store import (
    Profile,
    _now,
    _quality,
    add_quality,
    consistency,
    forget_names,
    means_from_rows,
    normalise_name,
    prepare_enrolment,
)
from .vectors import unit

SCHEMA_VERSION = 1
WRITE_LOCK = 0x766F7870  # "voxp": the advisory lock every writer takes
POOL_MAX = 8
CONNECT_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS voxprint_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS voxprint_profiles (
    name     TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    dim      INTEGER NOT NULL CHECK (dim > 0),
    sum      BYTEA NOT NULL,
    count    INTEGER NOT NULL CHECK (count > 0),
    created  TEXT NOT NULL,
    updated  TEXT NOT NULL,
    quality  TEXT NOT NULL DEFAULT '{}',  -- JSON object of additive sums (voxprint.quality), as in SQLite
    version  BIGINT NOT NULL         -- the change counter's value when this profile was last written
);
CREATE INDEX IF NOT EXISTS voxprint_profiles_version ON voxprint_profiles(version);
CREATE TABLE IF NOT EXISTS voxprint_forgotten (
    name     TEXT NOT NULL,
    version  BIGINT NOT NULL         -- the change counter's value when it was forgotten
);
CREATE INDEX IF NOT EXISTS voxprint_forgotten_version ON voxprint_forgotten(version);
CREATE TABLE IF NOT EXISTS voxprint_enrollments (
    id    BIGSERIAL PRIMARY KEY,
    name  TEXT NOT NULL,
    n     INTEGER NOT NULL,
    at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS voxprint_enrollments_name ON voxprint_enrollments(name);
INSERT INTO voxprint_meta(key, value) VALUES ('changes', '0') ON CONFLICT (key) DO NOTHING
"""
_COLUMNS = "name, model_id, dim, sum, count, created, updated, quality"

_pools: dict[str, object] = {}
_pools_lock = threading.Lock()
_ready: set[str] = set()  # URLs whose schema this process has already made sure of


def shown(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _pool(url: str):
    """One connection pool per URL in this process, opened on first use."""
    import psycopg
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            try:  # one plain connection first: an unreachable server is one clear line, at once
                psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_S)).close()
            except (psycopg.Error, ValueError) as e:
                raise VoxprintError(f"{shown(url)}: cannot connect to PostgreSQL ({_reason(e)})") from None
            pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX, open=False, timeout=CONNECT_TIMEOUT_S,
                                  kwargs={"autocommit": True, "connect_timeout": int(CONNECT_TIMEOUT_S)})
            try:
                pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            except Exception as e:
                pool.close()
                raise VoxprintError(f"{shown(url)}: cannot connect to PostgreSQL ({_reason(e)})") from None
            _pools[url] = pool
        return pool


def release(url: str) -> None:
    """Close this process's pool for `url` and forget that its schema was checked (as a new process would)."""
    with _pools_lock:
        pool = _pools.pop(url, None)
        _ready.discard(url)
    if pool is not None:
        pool.close()


def _reason(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


class PgProfileStore:
    """The SQLite ProfileStore's API on a PostgreSQL database (tables prefixed `voxprint_`)."""

    def __init__(self, url: str, model_id: str):
        if not isinstance(model_id, str) or not model_id:
            raise VoxprintError("model_id must be a non-empty string")
        self.url, self.model_id = url, model_id
        self.db_path = shown(url)  # the name messages use, as the SQLite store's path
        self._pool = _pool(url)
        if url not in _ready:  # once per process: a server opens a store per enrolment
            self._ensure_schema()
            _ready.add(url)

    def _ensure_schema(self) -> None:
        with self._write() as cur:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                cur.execute(stmt)
            row = cur.execute("SELECT value FROM voxprint_meta WHERE key = 'schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise VoxprintError(f"{self.db_path}: profile schema version {row[0]} is newer than this voxprint "
                                    f"understands ({SCHEMA_VERSION}); upgrade voxprint or use another --db")
            cur.execute("INSERT INTO voxprint_meta(key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(SCHEMA_VERSION),))

    # -- plumbing -------------------------------------------------------------------------------------------

    def _write(self):
        return _Txn(self, lock=True)

    def _read(self):
        return _Txn(self, lock=False)

    def close(self) -> None:
        """Nothing to release per store: connections go back to the process's pool after each call."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _mismatch(self, name: str, other: str) -> VoxprintError:
        return VoxprintError(f"{self.db_path}: profile '{name}' was made by model {other}, not {self.model_id}; "
                             "re-enrol with this model or use --db")

    def _check_foreign(self, cur) -> None:
        row = cur.execute("SELECT name, model_id FROM voxprint_profiles WHERE model_id != %s ORDER BY name LIMIT 1",
                          (self.model_id,)).fetchone()
        if row is not None:
            raise self._mismatch(row[0], row[1])

    @staticmethod
    def _profile(row) -> Profile:
        name, model_id, dim, blob, count, created, updated, quality = row
        total = np.frombuffer(bytes(blob), dtype="<f8", count=dim).astype(np.float64)
        return Profile(name, unit(total / count), int(count), model_id, created, updated, _quality(quality),
                       consistency(total, int(count)))

    @staticmethod
    def _changed(cur) -> int:
        """Bump the change counter (writers hold the write lock) and return its new value."""
        return int(cur.execute("UPDATE voxprint_meta SET value = (value::bigint + 1)::text WHERE key = 'changes' "
                               "RETURNING value").fetchone()[0])

    # -- API ------------------------------------------------------------------------------------------------

    def enroll(self, name: str, embeddings: np.ndarray, quality: dict | None = None) -> Profile:
        """Add embeddings [N, D] to `name`'s profile and `quality` (additive sums) key-wise, in one transaction."""
        name, added, n, dim = prepare_enrolment(name, embeddings)
        now = _now()
        with self._write() as cur:
            self._check_foreign(cur)
            row = cur.execute("SELECT dim, sum, count, quality FROM voxprint_profiles WHERE name = %s",
                              (name,)).fetchone()
            if row is None:
                other = cur.execute("SELECT name, dim FROM voxprint_profiles WHERE dim != %s LIMIT 1", (dim,)).fetchone()
                if other is not None:
                    raise VoxprintError(f"{self.db_path}: profile '{other[0]}' has dimension {other[1]}, but the "
                                        f"embeddings for '{name}' have dimension {dim}")
                cur.execute(f"INSERT INTO voxprint_profiles({_COLUMNS}, version) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,0)",
                            (name, self.model_id, dim, added.astype("<f8").tobytes(), n, now, now,
                             json.dumps(add_quality({}, quality))))
            else:
                old_dim, blob, count, old_q = row
                if old_dim != dim:
                    raise VoxprintError(f"{self.db_path}: profile '{name}' has dimension {old_dim}, "
                                        f"but the new embeddings have dimension {dim}")
                total = np.frombuffer(bytes(blob), dtype="<f8", count=dim) + added
                cur.execute("UPDATE voxprint_profiles SET sum = %s, count = %s, updated = %s, quality = %s "
                            "WHERE name = %s", (total.astype("<f8").tobytes(), count + n, now,
                                                json.dumps(add_quality(_quality(old_q), quality)), name))
            cur.execute("INSERT INTO voxprint_enrollments(name, n, at) VALUES (%s,%s,%s)", (name, n, now))
            cur.execute("UPDATE voxprint_profiles SET version = %s WHERE name = %s", (self._changed(cur), name))
            out = cur.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles WHERE name = %s", (name,)).fetchone()
        return self._profile(out)

    def profiles(self) -> list[Profile]:
        return [self._profile(r) for r in self.rows()]

    def get(self, name: str) -> Profile | None:
        name = normalise_name(name)
        with self._read() as cur:
            row = cur.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles WHERE name = %s", (name,)).fetchone()
        return None if row is None else self._profile(row)

    def forget(self, name: str) -> bool:
        name, typed = forget_names(name)
        with self._write() as cur:
            gone = cur.execute("DELETE FROM voxprint_profiles WHERE name IN (%s, %s)", (name, typed)).rowcount
            cur.execute("DELETE FROM voxprint_enrollments WHERE name IN (%s, %s)", (name, typed))
            if gone:
                version = self._changed(cur)
                cur.executemany("INSERT INTO voxprint_forgotten(name, version) VALUES (%s, %s)",
                                [(name, version), (typed, version)])
        return gone > 0

    def data_version(self) -> int:
        """A counter every enrolment and forget bumps, in any process: a cache built after reading value v is
        stale exactly when the counter is no longer v."""
        with self._read() as cur:
            return int(cur.execute("SELECT value FROM voxprint_meta WHERE key = 'changes'").fetchone()[0])

    def matrix(self) -> tuple[list[str], np.ndarray]:
        return self.matrix_at()[1:]

    def matrix_at(self, chunk: int = 50_000) -> tuple[int, list[str], np.ndarray]:
        """(the change counter, names, means [K, D] float32) read in one snapshot: the version the matrix is
        exact for. Read through a server-side cursor `chunk` rows at a time, so a million profiles need
        their float32 matrix in memory, not their float64 sums and Python row objects too."""
        with self._read() as cur:
            now = int(cur.execute("SELECT value FROM voxprint_meta WHERE key = 'changes'").fetchone()[0])
            self._check_foreign(cur)
            dims = [r[0] for r in cur.execute("SELECT DISTINCT dim FROM voxprint_profiles")]
            if len(dims) > 1:
                raise VoxprintError(f"{self.db_path}: profiles have different dimensions {sorted(dims)}")
            names, parts = [], []
            with cur.connection.cursor(name="voxprint_scan") as scan:
                scan.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles ORDER BY name")
                while rows := scan.fetchmany(chunk):
                    names += [r[0] for r in rows]
                    parts.append(means_from_rows(rows).astype(np.float32))
        means = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        return now, names, means

    def changes_since(self, version: int) -> tuple[int, list[tuple], list[str]]:
        """What changed after change `version`, read in one snapshot: (the current version, rows of the
        profiles written since [name, model_id, dim, sum, count, created, updated], names forgotten since).
        Lets a replica with a million profiles bring its index up to date without reading them all."""
        with self._read() as cur:
            now = int(cur.execute("SELECT value FROM voxprint_meta WHERE key = 'changes'").fetchone()[0])
            self._check_foreign(cur)
            rows = cur.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles WHERE version > %s ORDER BY name",
                               (version,)).fetchall()
            gone = [r[0] for r in cur.execute("SELECT DISTINCT name FROM voxprint_forgotten WHERE version > %s",
                                              (version,))]
        return now, rows, gone

    def get_many(self, names) -> list[Profile]:
        """The profiles of `names` that exist, in the order given (the candidates an index found)."""
        names = list(names)
        if not names:
            return []
        with self._read() as cur:
            rows = cur.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles WHERE name = ANY(%s)", (names,)).fetchall()
        found = {r[0]: self._profile(r) for r in rows}
        return [found[n] for n in names if n in found]

    def rows(self) -> list[tuple]:
        with self._read() as cur:
            return cur.execute(f"SELECT {_COLUMNS} FROM voxprint_profiles ORDER BY name").fetchall()

    def put_rows(self, rows) -> list[str]:
        skipped = []
        with self._write() as cur:
            for name, model_id, dim, blob, count, created, updated, quality in rows:
                if cur.execute("SELECT 1 FROM voxprint_profiles WHERE name = %s", (name,)).fetchone():
                    skipped.append(name)
                    continue
                cur.execute(f"INSERT INTO voxprint_profiles({_COLUMNS}, version) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,0)",
                            (name, model_id, dim, bytes(blob), count, created, updated, quality))
                cur.execute("INSERT INTO voxprint_enrollments(name, n, at) VALUES (%s,%s,%s)", (name, count, _now()))
            cur.execute("UPDATE voxprint_profiles SET version = %s WHERE version = 0", (self._changed(cur),))
        return skipped


class _Txn:
    """A pooled connection in one transaction (writers first take the advisory write lock); any PostgreSQL
    error becomes a one-line VoxprintError naming the store, and the transaction is rolled back."""

    def __init__(self, store: PgProfileStore, lock: bool):
        self.store, self.lock = store, lock
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            conn = self._stack.enter_context(self.store._pool.connection())
            self._stack.enter_context(conn.transaction())
            cur = conn.cursor()
            if self.lock:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            else:  # one snapshot for every statement of a read: the counter and the rows agree
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return cur
        except Exception as e:
            self._stack.__exit__(type(e), e, None)
            raise VoxprintError(f"{self.store.db_path}: cannot use PostgreSQL ({_reason(e)})") from None

    def __exit__(self, exc_type, exc, tb):
        import psycopg

        try:
            self._stack.__exit__(exc_type, exc, tb)  # commit, or roll back on an exception
        except psycopg.Error as e:  # the commit itself failed
            raise VoxprintError(f"{self.store.db_path}: {_reason(e)}") from None
        if isinstance(exc, psycopg.Error):
            raise VoxprintError(f"{self.store.db_path}: {_reason(exc)}") from None
        return False
