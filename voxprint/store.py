"""Speaker profiles in SQLite.

Each profile keeps the running SUM of L2-normalised embeddings (float64) and their count, so enrolling in
several sittings gives exactly the same mean as enrolling everything at once. Every read-modify-write runs
inside ``BEGIN IMMEDIATE`` (the write lock is taken before the read), so concurrent enrolments from several
processes serialise instead of overwriting each other; WAL + busy_timeout make them wait rather than fail.
An ``enrollments`` log row is written in the same transaction as the profile update, which lets anyone
check afterwards that a profile's count matches what was actually committed.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .errors import VoxprintError
from .vectors import unit

SCHEMA_VERSION = 3  # 2: names in Unicode NFC (a version-1 db is converted when opened); 3: quality column
BUSY_TIMEOUT_MS = 30_000
_COLUMNS = "name, model_id, dim, sum, count, created, updated, quality"  # what _profile reads

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (
    name     TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    dim      INTEGER NOT NULL CHECK (dim > 0),
    sum      BLOB NOT NULL,          -- float64 little-endian, running sum of unit-norm embeddings
    count    INTEGER NOT NULL CHECK (count > 0),
    created  TEXT NOT NULL,
    updated  TEXT NOT NULL,
    quality  TEXT NOT NULL DEFAULT '{}'  -- JSON object of additive sums (speech_s, snr_db, clips, ...)
);
CREATE TABLE IF NOT EXISTS enrollments (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    name  TEXT NOT NULL,
    n     INTEGER NOT NULL,          -- embeddings added by this enrolment
    at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS enrollments_name ON enrollments(name);
"""


@dataclass
class Profile:
    name: str
    mean: np.ndarray  # L2-normalised mean of the L2-normalised embeddings
    count: int
    model_id: str
    created: str  # ISO 8601, UTC
    updated: str
    quality: dict = dataclasses.field(default_factory=dict)  # additive sums over its clips (voxprint.quality)
    consistency: float | None = None  # mean pairwise cosine of its clips, from |S|^2; None for one clip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def prepare_enrolment(name, embeddings) -> tuple[str, np.ndarray, int, int]:
    """The checks every store makes before it writes: (NFC name, sum of the unit-norm embeddings [D] float64,
    their number N, D). Embeddings [N, D] or [D]; NaN, inf, all-zero rows and empty input are refused."""
    name = normalise_name(name)
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim == 1:
        emb = emb[None, :]
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise VoxprintError(f"enrol '{name}': expected embeddings of shape [N, D], got {np.shape(embeddings)}")
    if not np.all(np.isfinite(emb)):
        raise VoxprintError(f"enrol '{name}': embeddings contain NaN or inf")
    norms = np.linalg.norm(emb, axis=1)
    if np.any(norms == 0):
        raise VoxprintError(f"enrol '{name}': an embedding is all zeros")
    return name, unit(emb).sum(axis=0), emb.shape[0], emb.shape[1]


def means_from_rows(rows) -> np.ndarray:
    """[K, D] unit-norm means from (name, model_id, dim, sum bytes, count, ...) rows of one dimension, in one
    pass over a joined buffer (a million profiles load in seconds, not a Profile object each)."""
    dim = rows[0][2]
    sums = np.frombuffer(b"".join(bytes(r[3]) for r in rows), dtype="<f8").reshape(len(rows), dim)
    counts = np.array([r[4] for r in rows], dtype=np.float64)[:, None]
    return unit(sums / counts)


def forget_names(name: str) -> tuple[str, str]:
    """(the name as stored, the name as typed) for `forget`: a name stored before names were checked (not
    NFC, or with a character now refused) can still be removed as it was typed."""
    try:
        return normalise_name(name), name
    except VoxprintError:
        return name, name


def matrix_from_rows(rows, where) -> tuple[list[str], np.ndarray]:
    """(names, [K, D] means) of profile rows, refusing mixed dimensions; `where` names the store."""
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float64)
    dims = {r[2] for r in rows}
    if len(dims) > 1:
        raise VoxprintError(f"{where}: profiles have different dimensions {sorted(dims)}")
    return [r[0] for r in rows], means_from_rows(rows)


class ProfileStore:
    def __init__(self, db_path: str | Path, model_id: str):
        if not isinstance(model_id, str) or not model_id:
            raise VoxprintError("model_id must be a non-empty string")
        self.db_path = Path(db_path)
        self.model_id = model_id
        _refuse_links(self.db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = None
        try:
            # isolation_level=None: we issue BEGIN ourselves, so the write lock is taken exactly when we say.
            # check_same_thread=False: a long-lived store may be used from worker threads; its owner
            # serialises access (voxprint.serve holds a lock around it).
            self._conn = sqlite3.connect(
                str(self.db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _to_wal(self._conn)
            # FULL: each committed enrolment survives power loss too, not only a killed process.
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._write():
                # One statement at a time: executescript() would COMMIT our transaction first.
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(stmt)
                row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is not None and int(row[0]) > SCHEMA_VERSION:
                    raise VoxprintError(
                        f"{self.db_path}: profile db schema version {row[0]} is newer than this voxprint "
                        f"understands ({SCHEMA_VERSION}); upgrade voxprint or use --db"
                    )
                if row is not None and int(row[0]) < 2:
                    self._names_to_nfc()
                if row is not None and int(row[0]) < 3:
                    _add_quality_column(self._conn)
                self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                                   (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise VoxprintError(f"{self.db_path}: cannot open profile db: {e}") from None
        except BaseException:
            self._close_quietly()
            raise

    def _names_to_nfc(self) -> None:
        """Version 1 stored names as typed: 'José' with a combining accent and with a precomposed one could be
        two profiles, and neither reachable once lookups normalise. Rename each to NFC; where two fold into
        one name of the same model and size, merge their sums and counts (the mean of all their clips)."""
        rows = self._conn.execute("SELECT name, model_id, dim, sum, count, created, updated FROM profiles").fetchall()
        for name, model_id, dim, blob, count, created, updated in rows:
            nfc = unicodedata.normalize("NFC", name)
            if nfc == name:
                continue
            other = self._conn.execute("SELECT model_id, dim, sum, count, created, updated FROM profiles "
                                       "WHERE name = ?", (nfc,)).fetchone()
            if other is None:
                self._conn.execute("UPDATE profiles SET name = ? WHERE name = ?", (nfc, name))
            elif other[0] == model_id and other[1] == dim:
                total = np.frombuffer(blob, "<f8", count=dim) + np.frombuffer(other[2], "<f8", count=dim)
                self._conn.execute("UPDATE profiles SET sum = ?, count = ?, created = ?, updated = ? WHERE name = ?",
                                   (total.astype("<f8").tobytes(), count + other[3], min(created, other[4]),
                                    max(updated, other[5]), nfc))
                self._conn.execute("DELETE FROM profiles WHERE name = ?", (name,))
            else:
                continue  # made by other weights: left as it is (forget removes it by its stored name)
            self._conn.execute("UPDATE enrollments SET name = ? WHERE name = ?", (nfc, name))

    def _close_quietly(self) -> None:
        if getattr(self, "_conn", None) is not None:
            self._conn.close()

    # -- plumbing -------------------------------------------------------------------------------------------

    def _write(self):
        return _Txn(self._conn, self.db_path, "BEGIN IMMEDIATE")

    def _read(self):
        # A deferred transaction gives one consistent snapshot for multi-statement reads.
        return _Txn(self._conn, self.db_path, "BEGIN")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _mismatch(self, name: str, other: str) -> VoxprintError:
        return VoxprintError(
            f"{self.db_path}: profile '{name}' was made by model {other}, not {self.model_id}; "
            "re-enrol with this model or use --db"
        )

    def _check_foreign(self) -> None:
        """Refuse a db that holds any profile of another model: its scores would be meaningless."""
        row = self._conn.execute(
            "SELECT name, model_id FROM profiles WHERE model_id != ? ORDER BY name LIMIT 1", (self.model_id,)
        ).fetchone()
        if row is not None:
            raise self._mismatch(row[0], row[1])

    @staticmethod
    def _profile(row) -> Profile:
        name, model_id, dim, blob, count, created, updated, quality = row
        total = np.frombuffer(blob, dtype="<f8", count=dim).astype(np.float64)
        return Profile(name, unit(total / count), int(count), model_id, created, updated,
                       _quality(quality), consistency(total, int(count)))

    # -- API ------------------------------------------------------------------------------------------------

    def enroll(self, name: str, embeddings: np.ndarray, quality: dict | None = None) -> Profile:
        """Add embeddings [N, D] to `name`'s profile; `quality` (additive sums) is added key-wise to the
        profile's quality in the same transaction."""
        name, added, n, dim = prepare_enrolment(name, embeddings)
        now = _now()
        with self._write():
            self._check_foreign()
            row = self._conn.execute("SELECT dim, sum, count, quality FROM profiles WHERE name = ?",
                                     (name,)).fetchone()
            if row is None:
                other = self._conn.execute("SELECT name, dim FROM profiles WHERE dim != ? LIMIT 1", (dim,)).fetchone()
                if other is not None:
                    raise VoxprintError(
                        f"{self.db_path}: profile '{other[0]}' has dimension {other[1]}, but the embeddings "
                        f"for '{name}' have dimension {dim}"
                    )
                self._conn.execute(
                    "INSERT INTO profiles(name, model_id, dim, sum, count, created, updated, quality) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    (name, self.model_id, dim, added.astype("<f8").tobytes(), n, now, now,
                     json.dumps(add_quality({}, quality))),
                )
            else:
                old_dim, blob, count, old_q = row
                if old_dim != dim:
                    raise VoxprintError(
                        f"{self.db_path}: profile '{name}' has dimension {old_dim}, "
                        f"but the new embeddings have dimension {dim}"
                    )
                total = np.frombuffer(blob, dtype="<f8", count=dim) + added
                self._conn.execute(
                    "UPDATE profiles SET sum = ?, count = ?, updated = ?, quality = ? WHERE name = ?",
                    (total.astype("<f8").tobytes(), count + n, now,
                     json.dumps(add_quality(_quality(old_q), quality)), name),
                )
            self._conn.execute("INSERT INTO enrollments(name, n, at) VALUES (?,?,?)", (name, n, now))
            out = self._conn.execute(f"SELECT {_COLUMNS} FROM profiles WHERE name = ?", (name,)).fetchone()
        return self._profile(out)

    def profiles(self) -> list[Profile]:
        with self._read():
            rows = self._conn.execute(
                "SELECT name, model_id, dim, sum, count, created, updated, quality FROM profiles ORDER BY name"
            ).fetchall()
        return [self._profile(r) for r in rows]

    def get(self, name: str) -> Profile | None:
        name = normalise_name(name)
        with self._read():
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM profiles WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._profile(row)

    def forget(self, name: str) -> bool:
        # Allowed whatever model made the profile: it is how a user cleans out stale profiles.
        name, typed = forget_names(name)
        with self._write():
            cur = self._conn.execute("DELETE FROM profiles WHERE name IN (?, ?)", (name, typed))
            self._conn.execute("DELETE FROM enrollments WHERE name IN (?, ?)", (name, typed))
        return cur.rowcount > 0

    def data_version(self) -> int:
        """SQLite's PRAGMA data_version: it changes whenever another connection (any process) commits.

        A cache of profiles built on this connection is stale exactly when the value differs from the one
        read before building it; this connection's own writes do not change it.
        """
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """Names (sorted) and their [K, D] unit-norm means, for scoring; refuses profiles of another model."""
        with self._read():
            self._check_foreign()
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM profiles ORDER BY name").fetchall()
        return matrix_from_rows(rows, self.db_path)

    def get_many(self, names) -> list[Profile]:
        """The profiles of `names` that exist, in the order given (the candidates an index found)."""
        names = list(names)
        if not names:
            return []
        with self._read():
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM profiles WHERE name IN ({','.join('?' * len(names))})",
                                      names).fetchall()
        found = {r[0]: self._profile(r) for r in rows}
        return [found[n] for n in names if n in found]

    # -- copying between stores -----------------------------------------------------------------------------

    def rows(self) -> list[tuple]:
        """Every profile as stored: (name, model_id, dim, sum bytes, count, created, updated, quality JSON)."""
        with self._read():
            return self._conn.execute(f"SELECT {_COLUMNS} FROM profiles ORDER BY name").fetchall()

    def put_rows(self, rows) -> list[str]:
        """Add profiles exactly as another store holds them, in one transaction; names already here are left
        as they are and returned (nothing is merged or overwritten)."""
        skipped = []
        with self._write():
            for name, model_id, dim, blob, count, created, updated, quality in rows:
                if self._conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone():
                    skipped.append(name)
                    continue
                self._conn.execute(f"INSERT INTO profiles({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",
                                   (name, model_id, dim, bytes(blob), count, created, updated, quality))
                self._conn.execute("INSERT INTO enrollments(name, n, at) VALUES (?,?,?)", (name, count, _now()))
        return skipped


class _Txn:
    """BEGIN ... COMMIT, ROLLBACK on any error; sqlite errors become a VoxprintError naming the db."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, begin: str):
        self.conn, self.db_path, self.begin = conn, db_path, begin

    def __enter__(self):
        try:
            self.conn.execute(self.begin)
        except sqlite3.DatabaseError as e:
            raise VoxprintError(f"{self.db_path}: {e}") from None
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.DatabaseError as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise VoxprintError(f"{self.db_path}: {e}") from None
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise VoxprintError(f"{self.db_path}: {exc}") from None
        return False


def add_quality(old: dict, new: dict | None) -> dict:
    """Key-wise sum of two quality dicts of additive numbers (a missing key counts as 0)."""
    out = dict(old)
    for k, v in (new or {}).items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise VoxprintError(f"quality '{k}': expected a finite number, got {v!r}")
        out[k] = out.get(k, 0) + v
    return out


def _quality(text: str | None) -> dict:
    try:
        q = json.loads(text or "{}")
    except ValueError:
        return {}
    return q if isinstance(q, dict) else {}


def consistency(total: np.ndarray, n: int) -> float | None:
    """Mean pairwise cosine of n unit vectors whose sum is `total`: (|S|^2 - n) / (n (n - 1))."""
    if n < 2:
        return None
    return float((total @ total - n) / (n * (n - 1)))


def _add_quality_column(conn: sqlite3.Connection) -> None:
    """Schema 2 -> 3: profiles gain `quality` ('{}' for every existing one)."""
    cols = [r[1] for r in conn.execute("PRAGMA table_info(profiles)")]
    if "quality" not in cols:
        conn.execute("ALTER TABLE profiles ADD COLUMN quality TEXT NOT NULL DEFAULT '{}'")


def _to_wal(conn: sqlite3.Connection) -> None:
    """Switch the db to WAL, waiting for other openers as busy_timeout would.

    The switch needs an exclusive lock, and SQLite answers it with "database is locked" at once when another
    connection holds the db, without calling the busy handler: several processes opening one new db at the
    same moment failed here (about 1 start in 90 with six openers). WAL is persistent, so only the first
    opening of a db switches; a db already in WAL returns at once.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.05)


def _refuse_links(db: Path) -> None:
    """A profile db (or its SQLite side files) that is a symbolic link is refused: writes through it
    would land wherever the link points, and SQLite keeps its -wal beside the link, not the target,
    which can corrupt the database when it is also opened by its real name."""
    for p in (db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        if p.is_symlink():
            raise VoxprintError(f"{p}: is a symbolic link; refused (pass the real file with --db)")
    if db.exists() and not db.is_file():
        raise VoxprintError(f"{db}: not a regular file; a profile db must be a file")


# Unicode categories refused in names: control (Cc), format (Cf: zero-width space, bidirectional
# overrides, ...), surrogates (Cs), private use (Co), unassigned (Cn), line and paragraph separators
# (Zl, Zp). They make names that print alike but differ, or that break one-line output.
REFUSED_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                      "Cs": "a surrogate", "Co": "a private-use character", "Cn": "an unassigned character",
                      "Zl": "a line separator", "Zp": "a paragraph separator"}
MAX_NAME_LENGTH = 200


def normalise_name(name, max_len: int = MAX_NAME_LENGTH) -> str:
    """A speaker name as it is stored and compared: Unicode NFC (so `José` typed as one code point or as
    `e` + combining accent is one profile). Refuses empty names, leading or trailing whitespace, names
    over `max_len` characters, and characters of REFUSED_CATEGORIES (named as U+XXXX), each with a
    one-line VoxprintError. The one rule for every way in: the CLI, the Python API and `voxprint serve`."""
    if not isinstance(name, str) or not name.strip():
        raise VoxprintError("speaker name is empty")
    name = unicodedata.normalize("NFC", name)
    if name != name.strip():
        raise VoxprintError(f"speaker name {name!r} has leading or trailing whitespace")
    if len(name) > max_len:
        raise VoxprintError(f"speaker name is longer than {max_len} characters")
    for i, c in enumerate(name):
        cat = unicodedata.category(c)
        if cat in REFUSED_CATEGORIES:
            raise VoxprintError(f"speaker name {name.encode('ascii', 'backslashreplace').decode()!r} contains "
                                f"{REFUSED_CATEGORIES[cat]} (U+{ord(c):04X}) at position {i}; refused")
    return name
