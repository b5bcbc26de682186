"""L2 normalisation, the one home of it: every embedding, profile mean, centroid and cohort made unit
length goes through `unit`."""

from __future__ import annotations

import numpy as np

# The smallest norm divided by: a zero vector stays zero instead of NaN, and any real vector is
# divided by its own norm exactly.
EPS = 1e-12


def unit(x, axis: int = -1, dtype=None) -> np.ndarray:
    """`x` scaled to unit L2 norm along `axis`: x / max(||x||, EPS); a zero vector stays zero. Computed
    in `dtype` when given (float64 for float32 embeddings whose scores are compared closely); an
    integer array becomes float64."""
    x = np.asarray(x, dtype=dtype)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), EPS)
