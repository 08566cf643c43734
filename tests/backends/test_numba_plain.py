"""numba-plain beyond the shared conformance: warm-up leaves the model alone, the model keeps its dtype,
and an epoch split over several calls of `train` is the same as one call."""

import numpy as np
import pytest

from backends import numba_plain as plain
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights

if plain.available():
    pytest.skip(plain.available(), allow_module_level=True)

SPEC = Spec(layers=(784, 12, 8, 10), activation="tanh", loss="cross-entropy", init="xavier", lr=0.5, seed=2)


def _setup(dtype: str, n: int = 45):
    model = plain.load(initial_weights(SPEC), SPEC, dtype)
    data = plain.load_data(*synthetic_digits(n, 7), dtype)
    return model, data


@pytest.mark.parametrize("dtype", plain.dtypes)
def test_warmup_leaves_the_weights_unchanged(dtype):
    model, data = _setup(dtype)
    before = plain.weights(model)
    plain.warmup(model, data)
    for (W0, b0), (W1, b1) in zip(before, plain.weights(model)):
        assert np.array_equal(W0, W1) and np.array_equal(b0, b1)


@pytest.mark.parametrize("dtype", plain.dtypes)
def test_training_keeps_the_model_in_its_dtype(dtype):
    model, data = _setup(dtype)
    plain.train(model, data, np.arange(len(data.X)), SPEC.batch_size, SPEC.lr)
    assert all(W.dtype == dtype and b.dtype == dtype for W, b in zip(model.W[1:], model.b[1:]))
    assert plain.predict(model, data).dtype == np.int64


def test_an_epoch_in_several_calls_equals_one_call():
    rows = np.random.default_rng(0).permutation(45)
    whole, data = _setup("float64")
    plain.train(whole, data, rows, 10, SPEC.lr)
    parts, _ = _setup("float64")
    for start in range(0, 45, 20):  # calls of whole batches, then the short one
        plain.train(parts, data, rows[start : start + 20], 10, SPEC.lr)
    for (W0, b0), (W1, b1) in zip(plain.weights(whole), plain.weights(parts)):
        assert np.array_equal(W0, W1) and np.array_equal(b0, b1)
