"""A vector index over the enrolled profiles' unit-norm means: which profiles does a clip come closest to?

Below EXACT_BELOW profiles the index is exact (faiss IndexFlatIP: every profile scored, the same answer as
`means @ emb`); at and above it, an HNSW graph (approximate, recall@1 against exact measured by
benchmarks/scale.py, which also chose EXACT_BELOW and the HNSW settings: docs/results/scale.md). Scores
are inner products of unit vectors, i.e. cosines, so the accept threshold means the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_BELOW = 50_000  # exact search p99 at 50k profiles ~= HNSW's at 1M (benchmarks/scale.py)
HNSW_M = 32  # graph degree: memory ~ (D * 4 + M * 2 * 4) bytes per profile
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256  # the smallest swept value with recall@1 >= 0.99 at 1M (benchmarks/scale.py)


@dataclass(frozen=True)
class Hits:
    """rows [N, k] (profile row numbers, -1 where there are fewer than k profiles), scores [N, k] cosines,
    best first."""

    rows: np.ndarray
    scores: np.ndarray


class ProfileIndex:
    """Search over means [K, D] (float32 unit vectors); `exact` forces the exact index whatever K."""

    def __init__(self, means: np.ndarray, exact: bool | None = None):
        import faiss

        means = np.ascontiguousarray(means, dtype=np.float32)
        self.size, self.dim = (means.shape[0], means.shape[1]) if means.ndim == 2 and means.size else (0, 0)
        self.exact = self.size < EXACT_BELOW if exact is None else exact
        if self.size == 0:
            self._index = None
        elif self.exact:
            self._index = faiss.IndexFlatIP(self.dim)
        else:
            self._index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            self._index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            self._index.hnsw.efSearch = HNSW_EF_SEARCH
        if self._index is not None:
            self._index.add(means)

    @property
    def kind(self) -> str:
        return "empty" if self._index is None else ("exact" if self.exact else f"hnsw{HNSW_M}")

    def search(self, emb: np.ndarray, k: int) -> Hits:
        """The k profiles nearest each row of emb [N, D] (or one [D] embedding) by cosine."""
        q = np.ascontiguousarray(np.atleast_2d(emb), dtype=np.float32)
        if self._index is None:
            return Hits(np.full((q.shape[0], 0), -1, np.int64), np.zeros((q.shape[0], 0), np.float32))
        if q.shape[1] != self.dim:
            raise ValueError(f"embedding dimension {q.shape[1]} does not match the profiles' {self.dim}")
        scores, rows = self._index.search(q, min(k, self.size))
        return Hits(rows, scores)

    def memory_bytes(self) -> int:
        """The index's own memory (vectors + graph), measured by serialising it."""
        import faiss

        return 0 if self._index is None else int(faiss.serialize_index(self._index).nbytes)
