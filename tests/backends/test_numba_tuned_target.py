"""numba-tuned's kernels follow the CPU numba compiles for (compiler.TARGET): the blocking of `affine`
from its vector registers, and kernels cached for one target never loaded for another."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all

nb = pytest.importorskip("backends.numba_tuned")
if nb.available() is not None:
    pytest.skip(nb.available(), allow_module_level=True)
from backends.numba_tuned import compiler, kernels  # noqa: E402

X86 = "x86_64-unknown-linux-gnu"


@pytest.mark.parametrize(
    "cpu, features, triple, kind, lanes, registers",
    [
        ("znver1", "+avx,+avx2,+fma,-avx512f", X86, "avx2", 8, 16),
        ("skylake-avx512", "+avx2,+fma,+avx512f,-prefer-256-bit", X86, "avx512", 16, 32),
        ("skylake-avx512", "", X86, "avx512", 16, 32),  # no features: the CPU name's own
        ("skylake-avx512", "-avx512f", X86, "avx2", 8, 16),  # a feature turned off wins over the name
        ("znver3", "", X86, "avx2", 8, 16),
        ("haswell", "", X86, "avx2", 8, 16),
        ("znver4", "", X86, "avx512", 16, 32),
        ("haswell", "+avx2,-fma", X86, "generic", 4, 16),  # AVX2 without FMA: the generic path
        ("generic", "", X86, "generic", 4, 16),
        ("x86-64", "+sse2", X86, "generic", 4, 16),
        ("apple-m2", "+neon", "arm64-apple-darwin23.0.0", "generic", 4, 32),
        ("neoverse-v1", "", "aarch64-unknown-linux-gnu", "generic", 4, 32),
        ("pwr9", "", "powerpc64le-unknown-linux-gnu", "generic", 4, 16),
    ],
)
def test_the_target_follows_the_cpu_and_its_features(cpu, features, triple, kind, lanes, registers):
    target = compiler.target_of(cpu, features, triple)
    assert (target.kind, target.lanes, target.registers) == (kind, lanes, registers)


def test_the_blocking_fits_the_registers():
    expected = kernels.affine_4x5 if compiler.TARGET.registers >= 32 else kernels.affine_2x5
    assert kernels.affine is expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m", [1, 2, 3, 5, 7, 10, 18, 36])
@pytest.mark.parametrize("B", [1, 4, 5, 7, 10])
def test_both_blockings_compute_the_same_product(dtype, m, B):
    rng = np.random.default_rng(m * 100 + B)
    n = 784
    A = kernels.padded(B, n, dtype, pages=False)
    A[:, :n] = rng.random((B, n))
    W = kernels.padded(m, n, dtype)
    W[:, :n] = rng.normal(0, 1, (m, n))
    b = rng.normal(0, 1, m).astype(dtype)
    expected = A[:, :n].astype(np.float64) @ W[:, :n].T.astype(np.float64) + b
    for affine in (kernels.affine_4x5, kernels.affine_2x5):
        Z = kernels.padded(B, m, dtype, pages=False)
        affine(A, W, b, Z, B, n, m)
        np.testing.assert_allclose(Z[:, :m], expected, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-4)


PROBE = """
import json, numba, numpy as np
numba.set_num_threads(1)  # math.train_one_hidden, the kernel whose cache hits are counted
from backends.numba_tuned import compiler, math
import backends.numba_tuned as nb
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights
spec = Spec(layers=(784, 16, 10), seed=3)
images, labels = synthetic_digits(40, 3)
model = nb.load(initial_weights(spec), spec, "float32")
nb.train(model, nb.load_data(images, labels, "float32"), np.arange(40), 10, 3.0)
print(json.dumps({"kind": compiler.TARGET.kind, "hits": sum(math.train_one_hidden.stats.cache_hits.values()),
                  "W": [w.tolist() for w, _ in nb.weights(model)]}))
"""


def _probe(cache, **env):
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    environment.update(NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_kernels_cached_for_one_target_are_not_loaded_for_another(tmp_path):
    """One cache folder, three processes: the host's target, then the generic one (which must compile
    its own kernels, not load the host's), then the host's again (which loads its own)."""
    host = _probe(tmp_path)
    generic = _probe(tmp_path, NUMBA_CPU_NAME="generic")
    again = _probe(tmp_path)
    assert generic["kind"] == "generic" and generic["hits"] == 0
    assert again["kind"] == host["kind"] and again["hits"] > 0
    for a, b in zip(host["W"], generic["W"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)
