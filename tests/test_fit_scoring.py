"""benchmarks/fit_scoring.py: the AS-norm cohort, alone and with another source's voices."""

from __future__ import annotations

import numpy as np

from benchmarks import fit_scoring as F
from voxprint import protocol as P
from voxprint.config import VadConfig


class Fake:
    """A system whose embedding tells which source a wave came from, noisy or not: each source's waves
    have their own length, and the embedding points along axis (length - 8000), with a little spread."""

    label = "fake"
    vad = VadConfig()

    def __init__(self, key: str):
        self.key = key

    def embed(self, waves):
        out = 0.1 * np.random.default_rng(len(waves)).standard_normal((len(waves), 8))
        out[np.arange(len(waves)), [len(w) - 8000 for w in waves]] += 1
        return out


def segments(source: int, n: int) -> list[P.Segment]:
    out = []
    for i in range(n):
        w = np.random.default_rng(i).standard_normal(8000 + source).astype(np.float32) * 0.05
        out.append(P.Segment(f"s{source}/{i}", f"s{source}", i, i % 2 == 0, w))
    return out


def test_cohort_holds_the_other_source_at_its_share_and_stays_small(monkeypatch, shared_data, tmp_path):
    monkeypatch.setenv("VOXPRINT_CACHE", "off")
    monkeypatch.setattr(F, "MAX_COHORT", 40)
    system = Fake(f"fake-{tmp_path.name}")
    libri, other = segments(0, 20), segments(1, 20)
    alone, snr = F.make_cohort(system, libri, shared_data / "noise")
    assert alone.shape == (40, 8) and alone.dtype == np.float16 and snr.shape == (40,)
    assert np.allclose(np.linalg.norm(alone.astype(np.float64), axis=1), 1, atol=1e-2)
    both, snr2 = F.make_cohort(system, libri, shared_data / "noise", extra=("other", other, 0.25))
    assert both.shape == (40, 8) and snr2.shape == (40,)
    assert (alone.argmax(axis=1) == 0).all()
    assert (both.argmax(axis=1) == 1).sum() == 10  # 0.25 of 40 rows from the other source, the rest libri's
    # the libri-only cohort is what it was: the extra source does not change the draw of its own rows
    again, _ = F.make_cohort(system, libri, shared_data / "noise")
    assert np.array_equal(alone, again)
