"""Profiles keep additive quality sums (schema 3) and report how well their clips agree."""

import sqlite3

import numpy as np
import pytest

from voxprint.errors import VoxprintError
from voxprint.store import ProfileStore


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_quality_adds_key_wise_in_each_enrolment(tmp_path):
    rng = np.random.default_rng(0)
    with ProfileStore(tmp_path / "p.db", "m") as s:
        s.enroll("ann", rng.standard_normal((2, 8)), {"speech_s": 3.0, "snr_db": 40.0, "clips": 2})
        p = s.enroll("ann", rng.standard_normal((1, 8)), {"speech_s": 1.5, "snr_db": 12.0, "clips": 1, "new": 1})
        assert p.quality == {"speech_s": 4.5, "snr_db": 52.0, "clips": 3, "new": 1}
        assert s.enroll("bob", rng.standard_normal((1, 8))).quality == {}  # no quality given: nothing added
        with pytest.raises(VoxprintError, match="quality 'snr_db'"):
            s.enroll("ann", rng.standard_normal((1, 8)), {"snr_db": float("nan")})
        assert s.get("ann").quality["clips"] == 3  # the refused enrolment changed nothing


def test_consistency_is_the_mean_pairwise_cosine_of_the_clips(tmp_path):
    rng = np.random.default_rng(1)
    emb = _unit(rng.standard_normal((4, 16)))
    with ProfileStore(tmp_path / "p.db", "m") as s:
        assert s.enroll("one", emb[:1]).consistency is None
        s.enroll("ann", emb[:2])
        p = s.enroll("ann", emb[2:])
    cos = emb @ emb.T
    assert p.consistency == pytest.approx(cos[np.triu_indices(4, 1)].mean())


def test_a_version_2_db_gains_the_quality_column_when_opened(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE profiles (name TEXT PRIMARY KEY, model_id TEXT NOT NULL, dim INTEGER NOT NULL,
            sum BLOB NOT NULL, count INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
        CREATE TABLE enrollments (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, n INTEGER NOT NULL,
            at TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '2');
    """)
    con.execute("INSERT INTO profiles VALUES (?,?,?,?,?,?,?)",
                ("ann", "m", 4, np.ones(4).astype("<f8").tobytes(), 1, "2026-01-01", "2026-01-01"))
    con.commit()
    con.close()
    with ProfileStore(db, "m") as s:
        assert s.get("ann").quality == {}
        assert s.enroll("ann", np.ones((1, 4)), {"clips": 1}).quality == {"clips": 1}
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
