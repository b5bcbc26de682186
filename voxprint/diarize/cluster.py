"""Window embeddings -> speaker clusters (stage 3): spectral clustering whose graph and speaker count are
chosen per recording (NME-SC), or agglomerative clustering (average linkage on cosine distance, stopped at
a distance threshold or at a given speaker count; the baseline's method); then small clusters folded and
clusters of one voice merged."""

from __future__ import annotations

import numpy as np

from ..vectors import unit


def _linkage(emb: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import pdist

    return linkage(pdist(emb.astype(np.float64), "cosine").clip(0, 2), method="average")


def _count_at(z: np.ndarray, threshold: float) -> int:
    """Clusters left when merging stops at `threshold` (z: scipy linkage of n points)."""
    return int(len(z) + 1 - (z[:, 2] <= threshold).sum())


def ahc(emb: np.ndarray, threshold: float, speakers: int | None = None, min_speakers: int = 1,
        max_speakers: int | None = None) -> np.ndarray:
    """Cluster labels [W] in 0..K-1 for L2-normalised embeddings [W, E]. K is `speakers` when given,
    else where average-linkage merging passes cosine distance `threshold`, clamped to
    [min_speakers, max_speakers] and to the number of windows."""
    from scipy.cluster.hierarchy import fcluster

    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    z = _linkage(emb)
    k = speakers if speakers is not None else _count_at(z, threshold)
    k = max(k, min_speakers)
    k = min(k, max_speakers or k, n)
    labels = fcluster(z, t=k, criterion="maxclust") - 1
    return relabel(labels)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..K-1 in order of first appearance (stable names: speaker-1 speaks first)."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[np.unique(labels, return_inverse=True)[1]].astype(np.int64)


def centroids(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """L2-normalised mean embedding per cluster -> [K, E]."""
    k = int(labels.max()) + 1 if len(labels) else 0
    c = np.stack([emb[labels == j].mean(axis=0) for j in range(k)]) if k else emb[:0]
    return unit(c)


def fold_small(emb: np.ndarray, labels: np.ndarray, min_windows: int, keep: int = 1) -> np.ndarray:
    """Clusters of fewer than `min_windows` windows (a cough, a burst of noise, a few windows that
    straddle two voices) folded into the nearest big cluster, keeping at least `keep` clusters."""
    while True:
        sizes = np.bincount(labels)
        small = np.flatnonzero(sizes < min_windows)
        if len(small) == 0 or len(sizes) <= keep:
            return labels
        j = int(small[np.argmin(sizes[small])])
        c = centroids(emb, labels)
        sims = c @ c[j]
        sims[j] = -np.inf
        labels = relabel(np.where(labels == j, int(np.argmax(sims)), labels))


class _Graph:
    """The cosine affinity of a recording's windows [W, W] (negative links cut to 0) and each row
    sorted, computed once: the neighbour search prunes it at many neighbour counts."""

    def __init__(self, emb: np.ndarray):
        self.a = np.clip(emb @ emb.T, 0, None)
        self.ranked = -np.sort(-self.a, axis=1)  # each row, most similar first

    def laplacian(self, neighbours: int) -> np.ndarray:
        """The (unnormalised) graph Laplacian D - A [W, W] of the affinity with each row's weakest
        links zeroed (only its `neighbours` most similar windows kept), symmetrised: a window links to
        the windows most like it, not to every other voice a little. On the tuning conversations the
        unnormalised Laplacian counted speakers better than the normalised one (benchmarks/diarize.py)."""
        a = np.where(self.a >= self.ranked[:, neighbours - 1 : neighbours], self.a, 0.0)
        a = (a + a.T) / 2
        return np.diag(a.sum(axis=1)) - a


MOST_WINDOWS = 1500  # spectral clustering of more windows clusters an even subsample (memory ~ W^2)
SEARCH_STEPS = 20  # neighbour counts tried per recording (10 did nearly as well on the tuning set)


def choose_neighbours(emb: np.ndarray, keep: float, top: int, graph: _Graph | None = None) -> tuple[int, int]:
    """(neighbours per window, speaker count) for one recording by the normalised maximum eigengap
    (NME-SC, Park et al. 2019): for each neighbour count p up to the `keep` share of the windows, the
    largest gap g among the Laplacian's smallest `top` + 1 eigenvalues over its largest; the p with the
    smallest (p / W) / g wins (the sparsest graph whose clusters stand out most), and the count is the
    position of that gap. A fixed share suits one number of speakers and turn length, not every
    recording: a speaker with few windows needs few neighbours to stay apart. `graph`: emb's, when
    already built."""
    n, graph = len(emb), graph or _Graph(emb)
    best = (np.inf, 2, 1)
    for p in np.unique(np.linspace(2, max(keep * n, 3), SEARCH_STEPS).astype(int)):
        p = int(min(p, n - 1))
        vals = np.linalg.eigvalsh(graph.laplacian(p))
        gaps = np.diff(vals[: top + 1])
        k = int(np.argmax(gaps)) + 1
        ratio = (p / n) / (gaps[k - 1] / (vals[-1] + 1e-10) + 1e-10)
        if ratio < best[0]:
            best = (ratio, p, k)
    return best[1], best[2]


def spectral(emb: np.ndarray, keep: float = 0.25, speakers: int | None = None, min_speakers: int = 1,
             max_speakers: int | None = None, most: int = 10) -> np.ndarray:
    """Cluster labels [W] by spectral clustering of the pruned affinity: the neighbours each window
    keeps and the speaker count (unless `speakers` is given; clamped to [min_speakers, max_speakers or
    `most`]) chosen per recording by choose_neighbours, then k-means on the first K eigenvectors of the
    Laplacian."""
    from scipy.cluster.vq import kmeans2

    n = len(emb)
    if n < 3:
        return np.zeros(n, np.int64)
    if n > MOST_WINDOWS:  # a long recording: cluster an even subsample, then give every window its nearest
        sub = np.linspace(0, n - 1, MOST_WINDOWS).round().astype(int)
        labels = spectral(emb[sub], keep, speakers, min_speakers, max_speakers, most)
        return relabel(np.argmax(emb @ centroids(emb[sub], labels).T, axis=1))
    emb = emb.astype(np.float64)
    top = min(max_speakers or most, most, n - 1)
    graph = _Graph(emb)
    p, k = choose_neighbours(emb, keep, top, graph)
    k = speakers if speakers is not None else max(k, min_speakers)
    k = min(max(k, 1), n)
    if k == 1:
        return np.zeros(n, np.int64)
    # all eigenvectors (LAPACK's divide and conquer): the subset drivers fail on a graph of several
    # disconnected parts (repeated zero eigenvalues), as a short recording with a given count makes
    _, vecs = np.linalg.eigh(graph.laplacian(p))
    _, labels = kmeans2(unit(vecs[:, :k]), k, minit="++", seed=0)
    return relabel(labels)


def merge_close(emb: np.ndarray, labels: np.ndarray, min_sim: float, keep: int = 1) -> np.ndarray:
    """Clusters whose centroids have cosine similarity >= `min_sim` merged, most similar pair first:
    the eigengap can split one voice into two (its loud and soft passages), which then sit far closer
    to each other than two people do. At least `keep` clusters are kept."""
    while labels.max() + 1 > keep:
        c = centroids(emb, labels)
        sims = c @ c.T
        np.fill_diagonal(sims, -np.inf)
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        if sims[i, j] < min_sim:
            break
        labels = relabel(np.where(labels == max(i, j), min(i, j), labels))
    return labels
