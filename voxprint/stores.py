"""Which profile store: a SQLite file (voxprint.store, the embedded default) or a PostgreSQL database
(voxprint.store_pg, shared by several processes and machines), by what `--db` / $VOXPRINT_DB says; and
copying profiles from one to the other."""

from __future__ import annotations

from pathlib import Path

from .errors import VoxprintError
from .store import ProfileStore


def is_url(db) -> bool:
    """A PostgreSQL connection URL (postgresql://user@host:port/dbname), as opposed to a SQLite file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def open_store(db, model_id: str):
    """The profile store at `db`: a PostgreSQL URL opens the shared server store (voxprint.store_pg), anything
    else a SQLite file. Both have the same methods and rules; SQLite needs no server and is the default."""
    if is_url(str(db)):
        from .store_pg import PgProfileStore  # psycopg is imported only when a URL asks for it

        return PgProfileStore(str(db), model_id)
    return ProfileStore(db, model_id)


def copy_store(src_db, dst_db) -> tuple[int, list[str]]:
    """`voxprint profiles copy --from SRC --to DST`: every profile of one store into another (SQLite file or
    postgresql:// URL, either way), exactly as stored, whatever model made them (copying scores nothing, so
    the stores are opened without a model identity to check). A SQLite source that does not exist is refused
    rather than created empty."""
    if not is_url(str(src_db)) and not Path(src_db).is_file():
        raise VoxprintError(f"{src_db}: no such profile db")
    if str(src_db) == str(dst_db):
        raise VoxprintError(f"{src_db}: source and destination are the same store")
    with open_store(src_db, _ANY_MODEL) as src, open_store(dst_db, _ANY_MODEL) as dst:
        return copy_profiles(src, dst)


_ANY_MODEL = "(copy)"  # the identity a store is opened with for copying only: never enrols or scores


def copy_profiles(src, dst) -> tuple[int, list[str]]:
    """Copy every profile of store `src` into store `dst` (any backends; the embeddings' running sums and
    counts as they are, so later enrolments continue exactly). Returns (copied, names skipped because `dst`
    already has them)."""
    rows = src.rows()
    skipped = dst.put_rows(rows)
    return len(rows) - len(skipped), skipped
