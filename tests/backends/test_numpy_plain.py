"""The plain numpy backend, the float64 conformance reference, checked against the mathematics itself:
one SGD step equals lr/B times the gradient of the batch cost, found by central finite differences."""

import numpy as np
import pytest

from backends import numpy_plain as plain
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights

LR, B, EPS = 0.5, 10, 1e-5


def batch_cost(weights, spec: Spec, X: np.ndarray, Y: np.ndarray) -> float:
    """The batch's summed cost through the public `forward`: 1/2 sum (a_L - Y)^2, or -sum Y log a_L."""
    a_L = plain.forward(plain.load(weights, spec, "float64"), X)[-1]
    return float(-(Y * np.log(a_L)).sum() if spec.loss == "cross-entropy" else 0.5 * ((a_L - Y) ** 2).sum())


def step_errors(spec: Spec, lr_taken: float) -> list[float]:
    """For a sample of entries of every W and b, how far a step taken with `lr_taken` is from
    (LR / B) dC/dw, dC/dw by central differences: |error| / |expected step| (entries with a step)."""
    start = initial_weights(spec)
    rng = np.random.default_rng(2)
    for _, b in start:  # positive biases: their gradients are exercised, and relu units stay alive
        b[:] = rng.uniform(0.1, 0.5, b.shape)
    images, labels = synthetic_digits(B, seed=5)
    model = plain.load(start, spec, "float64")
    plain.train(model, plain.load_data(images, labels, "float64"), np.arange(B), B, lr_taken)
    after = plain.weights(model)
    X, Y = images / 255.0, np.eye(10)[labels]

    errors = []
    for (W0, b0), (W1, b1) in zip(start, after):
        for param, updated in ((W0, W1), (b0, b1)):
            for flat in rng.choice(param.size, size=min(6, param.size), replace=False):
                i = np.unravel_index(flat, param.shape)
                saved = param[i]
                param[i] = saved + EPS
                up = batch_cost(start, spec, X, Y)
                param[i] = saved - EPS
                down = batch_cost(start, spec, X, Y)
                param[i] = saved
                expected = (LR / B) * (up - down) / (2 * EPS)
                taken = saved - updated[i]
                if expected == 0:  # a pixel that is 0 in every row, a relu unit off for every row
                    assert taken == 0
                else:
                    errors.append(abs(taken - expected) / abs(expected))
    return errors


@pytest.mark.parametrize("loss", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_one_step_is_the_finite_difference_gradient_step(activation, loss):
    spec = Spec(layers=(784, 5, 4, 10), activation=activation, loss=loss, init="xavier", seed=1)
    errors = step_errors(spec, LR)
    assert len(errors) >= 24  # of the 33 entries sampled: the comparison compares something
    assert max(errors) < 1e-6
    assert min(step_errors(spec, LR * 1.0001)) > 1e-6  # and it catches a step only slightly off


def test_forward_gives_every_layer_and_its_argmax_is_predict():
    spec = Spec(layers=(784, 12, 8, 10), activation="tanh", loss="cross-entropy", init="xavier", seed=3)
    model = plain.load(initial_weights(spec), spec, "float64")
    data = plain.load_data(*synthetic_digits(2500, seed=7), "float64")  # more than one predict chunk
    a = plain.forward(model, data.X)
    assert [x.shape for x in a] == [(2500, 784), (2500, 12), (2500, 8), (2500, 10)]
    np.testing.assert_array_equal(a[0], data.X)  # a_0 = X
    np.testing.assert_array_equal(a[-1].argmax(axis=1), plain.predict(model, data))


def test_sigmoid_saturates_without_overflow_warnings(recwarn):
    spec = Spec(layers=(784, 3, 10), seed=0)
    weights = [(np.full((3, 784), -1e3), np.zeros(3)), (np.full((10, 3), 1e3), np.zeros(10))]
    a = plain.forward(plain.load(weights, spec, "float64"), np.ones((2, 784)))
    assert (a[1] == 0).all() and (a[2] == 0.5).all()  # z_1 << 0 -> 0; z_2 = 0 -> 1/2
    weights[0] = (np.full((3, 784), 1e3), np.zeros(3))
    assert (plain.forward(plain.load(weights, spec, "float64"), np.ones((2, 784)))[2] == 1).all()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_float32_model_stays_float32_through_training():
    spec = Spec(layers=(784, 16, 10), activation="relu", loss="cross-entropy", init="he", lr=0.1, seed=4)
    model = plain.load(initial_weights(spec), spec, "float32")
    data = plain.load_data(*synthetic_digits(57, seed=4), "float32")
    plain.train(model, data, np.arange(57), 10, spec.lr)  # a short last batch of 7
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in zip(model.W[1:], model.b[1:]))
    assert all(x.dtype == np.float32 for x in plain.forward(model, data.X))
