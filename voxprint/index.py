"""A vector index over the enrolled profiles' unit-norm means: which profiles does a clip come closest to?

Below EXACT_BELOW profiles the index is exact (faiss IndexFlatIP: every profile scored, the same answer as
`means @ emb`); at and above it, an inverted file (IVF: sqrt(K) k-means lists, IVF_NPROBE of them visited per
search; approximate, recall@1 against exact measured by benchmarks/scale.py, which also chose EXACT_BELOW and
IVF_NPROBE: docs/results/scale.md). IVF rather than HNSW because a replica builds it in seconds, not minutes,
at a million profiles (measured 15 s against 290-670 s on this machine), and a replica rebuilds its index
whenever its change overlay grows past 1 % (voxprint.serve.profiles). Scores are inner products of unit
vectors, i.e. cosines, so the accept threshold means the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_BELOW = 50_000  # exact search stays under ~5 ms of CPU per query up to here (benchmarks/scale.py)
IVF_NPROBE = 32  # lists visited per search: recall@1 >= 0.99 at 1M with room to spare (benchmarks/scale.py)
IVF_TRAIN_PER_LIST = 50  # k-means is trained on this many profiles per list (a sample, for build time)


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
            nlist = max(1, int(np.sqrt(self.size)))
            self._quantizer = faiss.IndexFlatIP(self.dim)  # kept referenced: the IVF index does not own it
            self._index = faiss.IndexIVFFlat(self._quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.random.default_rng(0).permutation(self.size)[: IVF_TRAIN_PER_LIST * nlist]
            self._index.train(means[np.sort(sample)])
            self._index.nprobe = IVF_NPROBE
        if self._index is not None:
            self._index.add(means)

    @property
    def kind(self) -> str:
        return "empty" if self._index is None else ("exact" if self.exact else f"ivf{self._index.nlist}")

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
        """The index's own memory (vectors + lists + centroids), measured by serialising it."""
        import faiss

        return 0 if self._index is None else int(faiss.serialize_index(self._index).nbytes)
