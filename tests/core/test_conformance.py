"""Every discovered backend lands on the float64 reference's weights: no test edits for a new one.

The reference itself (backends/numpy_plain.py in float64) is checked against finite differences in
tests/backends/test_numpy_plain.py, not against itself here."""

import importlib.util
import os
import types

import pytest

from backends import numpy_plain as reference
from core.backend import discover
from core.conformance import TOLERANCE, check, configurations
from tests.conftest import available_backends

CASES = [
    pytest.param(backend, dtype, spec, id=f"{backend.name}-{dtype}-{spec.layers_str}-{spec.activation}-{spec.loss}")
    for backend in available_backends()
    for dtype in backend.dtypes
    if not (backend is reference and dtype == "float64")  # that would compare the reference with itself
    for spec in configurations()
]


@pytest.mark.parametrize("backend, dtype, spec", CASES)
def test_backend_matches_the_float64_reference(backend, dtype, spec):
    result = check(backend, spec, dtype)
    if result.declined:
        pytest.skip(result.declined)
    assert len(result.errors) == 2 * (len(spec.layers) - 1)  # every W and b compared
    assert result.worst <= TOLERANCE[dtype], result.errors
    assert result.passed


def test_every_module_in_backends_is_a_valid_backend():
    from core.backend import discover

    shipped = [e for e in discover().values() if e.origin.startswith("backends.")]
    assert len(shipped) >= 5
    for entry in shipped:  # unavailable is fine (a missing optional dependency), broken is not
        assert entry.backend is not None, f"{entry.origin}: {entry.problem}"


def test_every_shipped_backend_is_discovered_and_checked():
    names = {c.values[0].name for c in CASES}
    assert {"numpy-plain", "numpy-tuned", "python-plain", "numba-tuned"} <= names
    assert all(c.values[0] is not reference or c.values[1] != "float64" for c in CASES)


def test_no_installed_backend_is_left_out_of_the_conformance_cases():
    """A backend whose library is installed must be usable, so that its conformance runs; in CI
    (MNIST_BENCH_REQUIRE_ALL=1, every extra installed) every shipped backend must be."""
    checked = {c.values[0].name for c in CASES}
    require_all = os.environ.get("MNIST_BENCH_REQUIRE_ALL") == "1"
    for entry in discover().values():
        if entry.name in checked:
            continue
        installed = importlib.util.find_spec(entry.substrate) is not None
        assert not (installed or require_all), f"{entry.name} is left out of conformance: {entry.problem}"


def _variant(**overrides):
    """numpy's backend with some functions replaced."""
    attrs = {k: getattr(reference, k) for k in dir(reference) if not k.startswith("__")}
    return types.SimpleNamespace(**{**attrs, **overrides})


def _perturbed(factor: float):
    """numpy's backend with an update that is slightly off: the check must catch it."""

    def train(model, data, rows, batch_size, lr):
        reference.train(model, data, rows, batch_size, lr * factor)

    return _variant(train=train, name="perturbed")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_perturbed_update_fails_the_check(dtype):
    result = check(_perturbed(1.001), configurations()[0], dtype)
    assert not result.passed and result.worst > TOLERANCE[dtype]


def test_a_check_that_compares_nothing_is_an_error():
    from core.spec import Spec

    still = Spec(layers=(784, 4, 10), lr=1e-9)  # the reference cannot move: nothing to compare
    with pytest.raises(AssertionError, match="compare nothing"):
        check(reference, still, "float64")


def test_a_backend_returning_wrong_shapes_fails():
    def weights(model):
        return [(W.T, b) for W, b in reference.weights(model)]

    bad = _variant(weights=weights, name="transposed")
    with pytest.raises(AssertionError, match="shape"):
        check(bad, configurations()[0], "float64")
