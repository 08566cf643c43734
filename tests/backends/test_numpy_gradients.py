"""The numpy backend's update equals lr/B times the true gradient, found by finite differences."""

import numpy as np
import pytest

from backends import numpy_tuned as nb
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights


def cost(weights, X, Y, activation, loss):
    """The summed cost of the batch, written independently of the backend (plain forward pass)."""
    f = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    a = X
    for i, (W, b) in enumerate(weights):
        z = a @ W.T + b
        if i == len(weights) - 1 and loss == "cross-entropy":
            log_softmax = z - z.max(axis=1, keepdims=True)
            log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
            return -(Y * log_softmax).sum()
        a = f(z)
    return 0.5 * ((a - Y) ** 2).sum()


@pytest.mark.parametrize("loss", ["quadratic", "cross-entropy"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_update_is_the_finite_difference_gradient(activation, loss):
    spec = Spec(layers=(784, 7, 5, 10), activation=activation, loss=loss, init="xavier", seed=1)
    start = initial_weights(spec)
    for _, b in start:  # non-zero biases so their gradients are exercised too
        b[:] = np.random.default_rng(2).normal(0, 0.3, b.shape)
    images, labels = synthetic_digits(6, seed=5)
    data = nb.load_data(images, labels, "float64")
    X, Y = images / 255.0, np.eye(10)[labels]
    model = nb.load(start, spec, "float64")
    lr, B = 0.1, 6
    nb.train(model, data, np.arange(6), batch_size=B, lr=lr)
    after = nb.weights(model)

    rng, eps = np.random.default_rng(0), 1e-6
    for l, ((W0, b0), (W1, b1)) in enumerate(zip(start, after)):
        for param, updated in ((W0, W1), (b0, b1)):
            for flat in rng.choice(param.size, size=min(8, param.size), replace=False):
                i = np.unravel_index(flat, param.shape)
                saved = param[i]
                param[i] = saved + eps
                up = cost(start, X, Y, activation, loss)
                param[i] = saved - eps
                down = cost(start, X, Y, activation, loss)
                param[i] = saved
                numeric = (up - down) / (2 * eps)
                from_update = (param[i] - updated[i]) * B / lr
                assert from_update == pytest.approx(numeric, rel=1e-4, abs=1e-7), (l, i)
