"""numba's SGD step drops subnormal steps (for speed) and still updates weights as plain arithmetic does."""

import numpy as np
import pytest

numba_backend = pytest.importorskip("backends.numba")
if numba_backend.available() is not None:
    pytest.skip(numba_backend.available(), allow_module_level=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_update_with_subnormal_deltas_matches_plain_arithmetic(dtype):
    rng = np.random.default_rng(0)
    B, n, m = 10, 784, 5
    tiny = np.finfo(dtype).tiny
    W = numba_backend._padded(m, n, dtype)
    W[:, :n] = rng.normal(0, 1, (m, n))
    A = numba_backend._padded(B, n, dtype, pages=False)
    A[:, :n] = rng.random((B, n))
    delta = numba_backend._padded(B, m, dtype, pages=False)
    delta[:, :m] = rng.normal(0, 1e-2, (B, m))
    delta[::2, 1] = tiny / 7  # subnormal deltas among normal ones
    delta[:, 3] = tiny / 3  # a unit whose every delta is subnormal
    b = np.zeros(m, dtype)
    eta = np.dtype(dtype).type(0.3)
    before = W[:, :n].copy()
    expected = (before.astype(np.float64) - 0.3 * delta[:B, :m].astype(np.float64).T @ A[:B, :n]).astype(dtype)

    numba_backend._sgd_step(delta, A, W, b, eta, B, n, m)

    assert np.array_equal(W[:, :n][3], before[3])  # eta delta x is below every weight's last bit
    np.testing.assert_allclose(W[:, :n], expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    assert np.isfinite(W).all()


def test_a_nan_delta_still_reaches_the_weights():
    """Divergence must stay visible: dropping subnormal steps must not drop NaN ones."""
    B, n, m = 10, 784, 2
    W = numba_backend._padded(m, n, "float32")
    A = numba_backend._padded(B, n, "float32", pages=False)
    A[:, :n] = 0.5
    delta = numba_backend._padded(B, m, "float32", pages=False)
    delta[4, 1] = np.nan
    numba_backend._sgd_step(delta, A, W, np.zeros(m, np.float32), np.float32(0.3), B, n, m)
    assert np.isnan(W[1, :n]).all() and not np.isnan(W[0, :n]).any()
