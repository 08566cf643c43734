"""The JAX backends beyond conformance (tests/core/test_conformance.py checks their numbers): warm-up,
slices of an epoch, dtypes, XLA's threads and the message when jax is missing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights
from tests.conftest import ROOT, assert_allclose_weights

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
SPEC = Spec(layers=(784, 8, 10), lr=0.5, seed=7)
N = 95  # nine batches of 10 and a short one of 5


def _backend(module: str):
    backend = importlib.import_module(f"backends.{module}")
    assert backend.available() is None
    return backend


def _setup(backend, dtype="float32", spec=SPEC):
    model = backend.load(initial_weights(spec), spec, dtype)
    return model, backend.load_data(*synthetic_digits(N, 0), dtype)


@needs_jax
@pytest.mark.parametrize("module", ["jax_plain", "jax_tuned"])
def test_warmup_leaves_the_model_as_it_was(module):
    backend = _backend(module)
    model, data = _setup(backend)
    before = backend.weights(model)
    backend.warmup(model, data)
    assert_allclose_weights(backend.weights(model), before)


@needs_jax
def test_tuned_slices_of_an_epoch_land_where_one_call_does_and_compile_nothing_new():
    backend = _backend("jax_tuned")
    rows = np.random.default_rng(1).permutation(N)
    whole, data = _setup(backend)
    backend.warmup(whole, data)
    backend.train(whole, data, rows, SPEC.batch_size, SPEC.lr)

    loop = backend._jitted[backend._batches]
    compiled = loop._cache_size()
    sliced, _ = _setup(backend)
    for start, stop in ((0, 10), (10, 40), (40, 90), (90, N)):  # 1, 3 and 5 batches, then the short one
        backend.train(sliced, data, rows[start:stop], SPEC.batch_size, SPEC.lr)
    assert loop._cache_size() == compiled  # the warm-up compiled every shape an epoch uses
    assert_allclose_weights(backend.weights(sliced), backend.weights(whole))


@needs_jax
@pytest.mark.parametrize("module", ["jax_plain", "jax_tuned"])
def test_a_float32_model_stays_float32_in_x64_mode(module):
    backend = _backend(module)
    model, data = _setup(backend)
    backend.train(model, data, np.arange(N), SPEC.batch_size, np.float64(SPEC.lr))  # a NumPy lr, too
    assert {str(p.dtype) for W, b in model.params for p in (W, b)} == {"float32"}
    assert data.X.dtype == "float32" and data.Y.dtype == "float32"


@needs_jax
def test_plain_and_tuned_train_the_same_network():
    plain, tuned = _backend("jax_plain"), _backend("jax_tuned")
    rows = np.random.default_rng(2).permutation(N)
    results = []
    for backend in (plain, tuned):
        model, data = _setup(backend, "float64")
        backend.train(model, data, rows, SPEC.batch_size, SPEC.lr)
        results.append(backend.weights(model))
    assert_allclose_weights(results[1], results[0], atol=1e-12)


def _python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@needs_jax
def test_xla_gets_one_thread_under_a_one_thread_limit_and_the_setting_does_not_leak():
    out = _python(
        "import os\n"
        "from core.environment import limit_threads\n"
        "from core.spec import Spec, initial_weights\n"
        "import backends.jax_tuned as b\n"
        "assert b.available() is None\n"
        "with limit_threads(1):\n"
        "    model = b.load(initial_weights(Spec()), Spec(), 'float32')\n"
        "print(model.threads, os.environ.get('PJRT_NPROC'))\n"
    )
    assert out == "1 None"


@pytest.mark.parametrize("module", ["jax_plain", "jax_tuned"])
def test_without_jax_the_backend_says_how_to_install_it(module):
    out = _python(f"import sys\nsys.modules['jax'] = None\nimport backends.{module} as b\nprint(b.available())")
    assert "jax is not installed" in out and "pip install -e '.[jax]'" in out


WARM_UP = (
    "from core.conformance import synthetic_digits\n"
    "from core.spec import Spec, initial_weights\n"
    "import backends.jax_plain as b\n"
    "assert b.available() is None\n"
    "model = b.load(initial_weights(Spec(layers=(784, 8, 10))), Spec(layers=(784, 8, 10)), 'float32')\n"
    "b.warmup(model, b.load_data(*synthetic_digits(25, 0), 'float32'))\n"
)


@needs_jax
def test_compiled_steps_are_kept_in_the_cache_folder_and_reused_by_the_next_process(tmp_path):
    cache = tmp_path / "cache"
    _python(WARM_UP, MNIST_BENCH_CACHE=str(cache))
    kept = sorted(p.name for p in (cache / "jax").iterdir())
    assert len(kept) >= 3  # a full batch's step, the short last batch's, prediction
    _python(WARM_UP, MNIST_BENCH_CACHE=str(cache))
    assert sorted(p.name for p in (cache / "jax").iterdir()) == kept  # found, not compiled anew


@needs_jax
def test_a_jax_cache_the_user_chose_is_the_one_used(tmp_path):
    code = "import jax, backends.jax_plain as b\nb.available()\nprint(jax.config.jax_compilation_cache_dir)"
    mine = str(tmp_path / "mine")
    assert _python(code, MNIST_BENCH_CACHE=str(tmp_path / "cache"), JAX_COMPILATION_CACHE_DIR=mine) == mine


@needs_jax
def test_a_cache_folder_that_cannot_be_written_compiles_as_before_without_a_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a folder under it cannot be made, even by root
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", WARM_UP + "import jax\nprint(jax.config.jax_compilation_cache_dir)"],
        cwd=ROOT,
        env={**os.environ, "MNIST_BENCH_CACHE": str(blocker / "cache")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
