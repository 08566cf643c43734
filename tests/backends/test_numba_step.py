"""numba-tuned's kernels: the SGD step drops subnormal steps (for speed) and still updates weights as plain
arithmetic does; pixels become x / 255 exactly as numpy's; and the on-disk cache follows edits across modules."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nb = pytest.importorskip("backends.numba_tuned")
if nb.available() is not None:
    pytest.skip(nb.available(), allow_module_level=True)
kernels = nb.kernels


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_update_with_subnormal_deltas_matches_plain_arithmetic(dtype):
    rng = np.random.default_rng(0)
    B, n, m = 10, 784, 5
    tiny = np.finfo(dtype).tiny
    W = kernels.padded(m, n, dtype)
    W[:, :n] = rng.normal(0, 1, (m, n))
    A = kernels.padded(B, n, dtype, pages=False)
    A[:, :n] = rng.random((B, n))
    delta = kernels.padded(B, m, dtype, pages=False)
    delta[:, :m] = rng.normal(0, 1e-2, (B, m))
    delta[::2, 1] = tiny / 7  # subnormal deltas among normal ones
    delta[:, 3] = tiny / 3  # a unit whose every delta is subnormal
    b = np.zeros(m, dtype)
    eta = np.dtype(dtype).type(0.3)
    before = W[:, :n].copy()
    expected = (before.astype(np.float64) - 0.3 * delta[:B, :m].astype(np.float64).T @ A[:B, :n]).astype(dtype)

    kernels.sgd_step(delta, A, W, b, eta, B, n, m)

    assert np.array_equal(W[:, :n][3], before[3])  # eta delta x is below every weight's last bit
    np.testing.assert_allclose(W[:, :n], expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
    assert np.isfinite(W).all()


def test_a_nan_delta_still_reaches_the_weights():
    """Divergence must stay visible: dropping subnormal steps must not drop NaN ones."""
    B, n, m = 10, 784, 2
    W = kernels.padded(m, n, "float32")
    A = kernels.padded(B, n, "float32", pages=False)
    A[:, :n] = 0.5
    delta = kernels.padded(B, m, "float32", pages=False)
    delta[4, 1] = np.nan
    kernels.sgd_step(delta, A, W, np.zeros(m, np.float32), np.float32(0.3), B, n, m)
    assert np.isnan(W[1, :n]).all() and not np.isnan(W[0, :n]).any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_pixel_value_becomes_numpys_x_over_255(dtype):
    """A batch's pixels are divided by 255 without a division: every uint8 value must still round as numpy's."""
    X = np.arange(256, dtype=np.uint8)[None, :]
    data = nb.load_data(X, np.zeros(1, np.uint8), dtype)
    a0 = kernels.padded(1, 256, dtype, pages=False)
    kernels.load_batch(data.X, data.scale, np.zeros(1, np.int64), 0, 1, 1, a0, 256)
    assert np.array_equal(a0[0, :256], X[0].astype(dtype) / np.dtype(dtype).type(255))


CALLEE = "from .compiler import JIT, njit\n\n\n@njit(**JIT)\ndef g(x):\n    return x + {}\n"
CALLER = "from .callee import g\nfrom .compiler import JIT, njit\n\n\n@njit(**JIT)\ndef f(x):\n    return 10 * g(x)\n"


def test_an_edit_to_one_module_recompiles_the_cached_kernels_that_call_it(tmp_path):
    """numba stamps a cached kernel with its own file only; the package's kernels are stamped with every file
    of the package, so a kernel is not loaded stale from the cache after an edit to a module it calls."""
    package = tmp_path / "pkg"
    package.mkdir()
    shutil.copy(Path(kernels.__file__).with_name("compiler.py"), package)
    (package / "__init__.py").write_text("")
    (package / "caller.py").write_text(CALLER)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_LOCATOR_CLASSES"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # an edit within the second, of the same size, must not meet a stale .pyc

    def run() -> str:  # f(1), and whether it came from the cache
        code = "from pkg.caller import f; print(f(1), sum(f.stats.cache_hits.values()))"
        return subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=300
        ).stdout.strip()

    (package / "callee.py").write_text(CALLEE.format(1))
    assert run() == "20 0"  # compiled, and cached
    assert run() == "20 1"  # from the cache
    (package / "callee.py").write_text(CALLEE.format(2))
    assert run() == "30 0"  # compiled anew: the cached f held the old g
