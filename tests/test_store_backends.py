"""The profile store's behaviour on both backends, SQLite and PostgreSQL (a real server: see conftest's
pg_server): the same names rule, model identity, exact incremental enrolment, concurrency, kill -9 safety,
change counting across processes and copying between backends. SQLite-only matters (WAL, links, old
versions) stay in test_store.py."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest
from test_store import REPO, _run_all, _unit, enrol_then_kill

from voxprint.errors import VoxprintError
from voxprint.store import ProfileStore
from voxprint.stores import copy_profiles, open_store

D = 16


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """Where a store lives: a SQLite file, or a fresh PostgreSQL database."""
    return str(tmp_path / "p.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_round_trip_and_incremental(db):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(10, D)) * rng.uniform(0.1, 10, size=(10, 1))
    with open_store(db, "m1") as st:
        st.enroll("bob", emb[:4])
        st.enroll("bob", emb[4:7])
        p = st.enroll("bob", emb[7:])
        assert p.count == 10 and p.model_id == "m1" and p.updated >= p.created
        np.testing.assert_allclose(p.mean, _unit(_unit(emb).sum(0)), atol=1e-12)
        st.enroll("alice", emb[:2])
        assert [q.name for q in st.profiles()] == ["alice", "bob"]
        names, mat = st.matrix()
        assert names == ["alice", "bob"] and mat.shape == (2, D)
        np.testing.assert_allclose(mat[1], p.mean, atol=1e-12)
        assert st.get("nobody") is None and st.get("alice").count == 2
        assert st.forget("alice") is True and st.forget("alice") is False
    with open_store(db, "m1") as st:  # persisted
        assert [q.name for q in st.profiles()] == ["bob"] and st.get("bob").count == 10


def test_bad_input_and_names(db):
    import unicodedata

    with open_store(db, "m") as st:
        for bad in ["", " lead", "a\nb", "juli\u200ba"]:
            with pytest.raises(VoxprintError):
                st.enroll(bad, np.ones((1, D)))
        for bad in [np.zeros((1, D)), np.full((1, D), np.nan), np.ones((0, D))]:
            with pytest.raises(VoxprintError):
                st.enroll("z", bad)
        st.enroll("José", np.ones((1, D)))
        assert st.enroll(unicodedata.normalize("NFD", "José"), np.ones((1, D))).count == 2
        with pytest.raises(VoxprintError, match="dimension"):
            st.enroll("other", np.ones((1, D + 1)))
        assert [p.name for p in st.profiles()] == ["José"]  # failed enrolments left nothing


def test_other_model_refused(db):
    with open_store(db, "model-A") as a:
        a.enroll("alice", np.ones((2, D)))
    with open_store(db, "model-B") as b:
        for call in (lambda: b.enroll("bob", np.ones((1, D))), b.matrix):
            with pytest.raises(VoxprintError, match="profile 'alice' was made by model model-A, not model-B"):
                call()
        assert b.forget("alice") and b.enroll("alice", np.ones((1, D))).model_id == "model-B"


def test_change_counter_moves_on_every_write_from_any_process(db):
    with open_store(db, "m") as reader:
        v0 = reader.data_version()
        code = ("import sys, numpy as np; from voxprint.stores import open_store; "
                "s = open_store(sys.argv[1], 'm'); s.enroll('x', np.ones((1, 16)))")
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        subprocess.run([sys.executable, "-c", code, db], check=True, env=env)
        v1 = reader.data_version()
        assert v1 != v0 and reader.get("x").count == 1
        assert reader.data_version() == v1  # reading does not move it


def _worker(db, w, barrier):
    st = open_store(db, "m")
    barrier.wait(timeout=60)
    for k in range(20):
        v = np.zeros(D)
        v[(w * 20 + k) % D] = 1.0
        st.enroll("shared", v[None, :])
        st.enroll(f"own{w}", np.ones((2, D)))
    st.close()


def test_concurrent_enrolment_loses_nothing(db):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    assert _run_all([ctx.Process(target=_worker, args=(db, w, barrier)) for w in range(4)]) == [0] * 4
    with open_store(db, "m") as st:
        assert st.get("shared").count == 80
        assert all(st.get(f"own{w}").count == 40 for w in range(4))


@pytest.mark.parametrize("extra_delay", [0.0, 0.011, 0.029])
def test_sigkill_mid_enrolment_loses_no_finished_profile(db, extra_delay):
    _, last = enrol_then_kill(db, extra_delay)
    with open_store(db, "m") as st:
        p = st.get("k")
        assert p.count in (last, last + 3)  # every reported commit; at most one committed but not printed
        np.testing.assert_allclose(p.mean, _unit(np.arange(1, 17, dtype=float)), atol=1e-12)
        assert st.enroll("k", np.ones((1, D))).count == p.count + 1  # still usable


def test_copy_between_backends_keeps_sums_exactly(tmp_path, pg_url):
    rng = np.random.default_rng(3)
    src = ProfileStore(tmp_path / "old.db", "m")
    src.enroll("ann", rng.normal(size=(3, D)))
    src.enroll("bo", rng.normal(size=(2, D)))
    with open_store(pg_url, "m") as dst:
        dst.enroll("bo", np.ones((1, D)))
        copied, skipped = copy_profiles(src, dst)
        assert (copied, skipped) == (1, ["bo"])  # an existing profile is not overwritten
        assert dst.get("bo").count == 1
        more = rng.normal(size=(2, D))  # enrolment continues from the copied running sum
        src.enroll("ann", more)
        np.testing.assert_allclose(dst.enroll("ann", more).mean, src.get("ann").mean, atol=1e-12)
        back = ProfileStore(tmp_path / "back.db", "m")
        assert copy_profiles(dst, back) == (2, [])
        assert [p.count for p in back.profiles()] == [5, 1]


def test_unreachable_server_is_one_line():
    with pytest.raises(VoxprintError, match=r"postgresql://u:\*\*\*@127.0.0.1:1/x: cannot connect to PostgreSQL"):
        open_store("postgresql://u:secret@127.0.0.1:1/x", "m")


def test_cli_copies_a_sqlite_store_into_postgresql_and_uses_it(tiny_run, tmp_path, pg_url, monkeypatch, capsys):
    """What an operator moving to replicas does: enrol with the embedded default, `profiles copy` into
    PostgreSQL, then point every command at it with $VOXPRINT_DB."""
    from test_serve import clip

    from voxprint.cli import main

    model = str(tiny_run / "cnn-mel-s0")
    old = str(tmp_path / "profiles.db")
    assert main(["enroll", "george", *(str(clip("george", d, 10)) for d in range(5)), "--run", model, "--db", old]) == 0
    assert main(["profiles", "copy", "--from", old, "--to", pg_url]) == 0
    assert "copied 1 profile(s)" in capsys.readouterr().out
    assert main(["profiles", "copy", "--from", old, "--to", pg_url]) == 0  # again: nothing overwritten
    assert "skipped george: already in the destination" in capsys.readouterr().err
    monkeypatch.setenv("VOXPRINT_DB", pg_url)
    assert main(["identify", str(clip("george", 8, 3)), "--run", model, "--threshold", "-1"]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "george"
    assert main(["speakers", "--run", model]) == 0
    assert capsys.readouterr().out.startswith("george\t5 clips")
    assert main(["profiles", "copy", "--from", str(tmp_path / "none.db"), "--to", pg_url]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.db: no such profile db" in err and len(err.splitlines()) == 1


def test_a_newer_postgresql_schema_is_refused(pg_url):
    import psycopg

    open_store(pg_url, "m").close()
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("UPDATE voxprint_meta SET value = '99' WHERE key = 'schema_version'")
    from voxprint import store_pg

    store_pg.release(pg_url)  # a new process would open it afresh
    with pytest.raises(VoxprintError, match="schema version 99 is newer than this voxprint understands"):
        open_store(pg_url, "m")
