"""torch-plain and torch-tuned beyond the shared conformance checks: what the driver relies on (slices of an
epoch, a warm-up that leaves the model alone, copies of the weights, torch's threads) and what tuned adds
(flush-to-zero only while it trains). Conformance itself is tests/core/test_conformance.py."""

import importlib.util
import sys

import numpy as np
import pytest

from backends import torch_plain, torch_tuned
from core.conformance import synthetic_digits
from core.environment import limit_threads
from core.spec import Spec, initial_weights

torch = pytest.importorskip("torch")
BACKENDS = pytest.mark.parametrize("backend", [torch_plain, torch_tuned], ids=lambda b: b.name)
SPEC = Spec(layers=(784, 12, 8, 10), seed=1)


def trained(backend, rows_in_slices, dtype="float64", spec=SPEC):
    images, labels = synthetic_digits(47, seed=2)
    model = backend.load(initial_weights(spec), spec, dtype)
    data = backend.load_data(images, labels, dtype)
    for rows in rows_in_slices:
        backend.train(model, data, rows, 10, spec.lr)
    return backend.weights(model)


@BACKENDS
def test_an_epoch_in_slices_cut_at_batch_boundaries_trains_as_one_call(backend):
    rows = np.random.default_rng(0).permutation(47)  # ends with a short batch of 7
    whole = trained(backend, [rows])
    sliced = trained(backend, [rows[:20], rows[20:40], rows[40:]])
    for (W, b), (W2, b2) in zip(whole, sliced):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


@BACKENDS
def test_the_weights_handed_out_are_copies(backend):
    model = backend.load(initial_weights(SPEC), SPEC, "float64")
    W, b = backend.weights(model)[0]
    W[:] = 7.0
    b[:] = 7.0
    assert not (backend.weights(model)[0][0] == 7.0).any()
    assert not (backend.weights(model)[0][1] == 7.0).any()


def test_tuned_warmup_leaves_the_weights_as_they_were():
    images, labels = synthetic_digits(200, seed=3)
    model = torch_tuned.load(initial_weights(SPEC), SPEC, "float32")
    before = torch_tuned.weights(model)
    torch_tuned.warmup(model, torch_tuned.load_data(images, labels, "float32"))
    for (W, b), (W0, b0) in zip(torch_tuned.weights(model), before):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


def subnormals_survive() -> bool:
    return float(np.float32(1e-39) * np.float32(1)) != 0


def flush_to_zero_exists() -> bool:
    exists = torch.set_flush_denormal(True)  # False where the CPU has no such mode
    torch.set_flush_denormal(False)
    return exists


needs_flush_to_zero = pytest.mark.skipif(not flush_to_zero_exists(), reason="this CPU has no flush-to-zero mode")


@needs_flush_to_zero
def test_tuned_flushes_subnormals_only_while_it_trains():
    assert subnormals_survive()
    with torch_tuned._flush_denormals():
        assert not subnormals_survive()
    assert subnormals_survive()
    trained(torch_tuned, [np.arange(47)], dtype="float32")
    assert subnormals_survive()


@needs_flush_to_zero
def test_tuned_leaves_flush_to_zero_on_where_it_found_it_on():
    torch.set_flush_denormal(True)
    try:
        trained(torch_tuned, [np.arange(47)], dtype="float32")
        assert not subnormals_survive()
    finally:
        torch.set_flush_denormal(False)


@BACKENDS
def test_load_gives_torch_the_blas_thread_count_in_force(backend):
    previous = torch.get_num_threads()
    try:
        with limit_threads(1):
            backend.load(initial_weights(SPEC), SPEC, "float32")
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("path", [torch_plain.__file__, torch_tuned.__file__])
def test_without_torch_the_module_imports_and_says_how_to_install_it(path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    spec = importlib.util.spec_from_file_location("torch_backend_without_torch", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    reason = module.available()
    assert reason is not None and "pip install -e '.[torch]'" in reason
    with pytest.raises(RuntimeError, match="unavailable"):
        module.load(initial_weights(SPEC), SPEC, "float32")
