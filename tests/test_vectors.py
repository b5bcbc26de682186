"""vectors.unit, the one L2 normalisation."""

from __future__ import annotations

import numpy as np

from voxprint.vectors import unit


def test_rows_come_out_unit_length_and_zero_rows_stay_zero():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-3, 0.0]], dtype=np.float32)
    u = unit(x)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]], rtol=1e-7)
    assert not np.isnan(u).any() and (u[1] == 0).all()


def test_axis_dtype_and_integers():
    x = np.array([[3, 0], [4, 2]])
    assert unit(x).dtype == np.float64  # integers become float64
    np.testing.assert_allclose(unit(x, axis=0), [[0.6, 0.0], [0.8, 1.0]])
    f32 = np.array([1.0, 2.0, 2.0], dtype=np.float32)
    assert unit(f32, dtype=np.float64).dtype == np.float64
    np.testing.assert_allclose(unit(f32, dtype=np.float64), [1 / 3, 2 / 3, 2 / 3], rtol=1e-15)


def test_a_real_vector_is_divided_by_exactly_its_norm():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 16))
    np.testing.assert_array_equal(unit(x), x / np.linalg.norm(x, axis=1, keepdims=True))
