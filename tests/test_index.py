"""voxprint.index and the serving snapshot: exact search equals brute force, the approximate index finds
the true nearest profile, and a snapshot brought up to date change by change (as a PostgreSQL replica
does) answers exactly as one rebuilt from the whole store."""

from __future__ import annotations

import numpy as np
import pytest

from voxprint.index import ProfileIndex
from voxprint.serve.profiles import ProfileCache, full_snapshot
from voxprint.stores import open_store

D = 32


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _voices(n, rng, centres=50, spread=0.3):
    """Unit vectors scattered around a few 'voices', so that near neighbours are close calls."""
    c = _unit(rng.normal(size=(centres, D)))
    return _unit(c[rng.integers(0, centres, n)] + spread / np.sqrt(D) * rng.normal(size=(n, D)))


def test_exact_index_is_brute_force():
    rng = np.random.default_rng(0)
    means, q = _voices(500, rng), _voices(40, rng)
    hits = ProfileIndex(means).search(q, 5)
    want = np.argsort(-(q @ means.T), axis=1)[:, :5]
    assert ProfileIndex(means).kind == "exact"
    np.testing.assert_array_equal(hits.rows, want)
    np.testing.assert_allclose(hits.scores, np.take_along_axis(q @ means.T, want, 1), rtol=1e-5)
    assert ProfileIndex(means[:3]).search(q[0], 10).rows.shape == (1, 3)  # fewer profiles than k
    assert ProfileIndex(np.zeros((0, D))).search(q[0], 3).rows.shape == (1, 0)


def test_approximate_index_finds_the_nearest_profile():
    rng = np.random.default_rng(1)
    means = _voices(20_000, rng, centres=200)
    q = _unit(means[rng.integers(0, len(means), 300)] + 0.02 * rng.normal(size=(300, D)))
    idx = ProfileIndex(means, exact=False)
    assert idx.kind.startswith("ivf") and idx.memory_bytes() > means.nbytes
    exact = np.argmax(q @ means.T, axis=1)
    assert (idx.search(q, 1).rows[:, 0] == exact).mean() >= 0.97


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return str(tmp_path / "p.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_snapshot_kept_up_to_date_answers_as_a_rebuilt_one(db, monkeypatch):
    import voxprint.serve.profiles as P

    monkeypatch.setattr(P, "REBUILD_MIN", 15)  # so the base is also rebuilt part of the way through
    rng = np.random.default_rng(2)
    names = [f"s{i}" for i in range(40)]
    writer, reader = open_store(db, "m"), open_store(db, "m")
    cache = ProfileCache(reader)
    for name in names[:25]:
        writer.enroll(name, _voices(2, rng))
    assert cache.snapshot().count == 25
    q = _voices(30, rng)
    for step in range(60):
        name = names[rng.integers(0, len(names))]
        if rng.random() < 0.3:
            writer.forget(name)
        else:
            writer.enroll(name, _voices(1, rng))
        snap = cache.snapshot()
        truth = full_snapshot(0, *reader.matrix())
        assert snap.names == truth.names and snap.count == truth.count
        for e in q[:5]:
            got, want = snap.nearest(e, 3), truth.nearest(e, 3)
            assert got[0] == want[0], step
            np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
        for n in truth.names:
            np.testing.assert_allclose(snap.vector(n), truth.vector(n), rtol=1e-6)
        assert snap.vector("nobody") is None
    writer.close()
    reader.close()
