"""The reference's `cost`, which the driver records as each epoch's test loss, against a hand computation."""

import math

import numpy as np
import pytest

from backends import numpy_plain as plain
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights


def one_layer(loss: str):
    """784-10 with W = 0 and b = (0, ln 3, 0, ...): every sample's output is known by hand."""
    W, b = np.zeros((10, 784)), np.zeros(10)
    b[1] = math.log(3)
    return plain.load([(W, b)], Spec(layers=(784, 10), loss=loss), "float64")


def test_quadratic_cost_matches_a_hand_computation():
    data = plain.load_data(np.zeros((2, 784), np.uint8), np.array([1, 0]), "float64")
    # sigmoid(0) = 1/2 for nine outputs and sigmoid(ln 3) = 3/4 for output 1
    label_1 = 8 * 0.25 + (0.75 - 1) ** 2 + 0.25  # outputs 2-9, output 1 (the label), output 0
    label_0 = 0.25 + 0.75**2 + 8 * 0.25
    assert plain.cost(one_layer("quadratic"), data) == pytest.approx((label_1 + label_0) / (2 * 2), rel=1e-12)


def test_cross_entropy_cost_matches_a_hand_computation():
    data = plain.load_data(np.zeros((2, 784), np.uint8), np.array([1, 0]), "float64")
    # softmax of (0, ln 3, 0, ...): 3/12 for output 1 and 1/12 for each other
    assert plain.cost(one_layer("cross-entropy"), data) == pytest.approx(-(math.log(3 / 12) + math.log(1 / 12)) / 2)


def test_cost_is_the_mean_over_chunks_and_finite_where_the_softmax_rounds_to_zero(monkeypatch):
    spec = Spec(layers=(784, 16, 10), loss="cross-entropy")
    images, labels = synthetic_digits(25, seed=3)
    model, data = plain.load(initial_weights(spec), spec, "float64"), plain.load_data(images, labels, "float64")
    whole = plain.cost(model, data)
    monkeypatch.setattr(plain, "PREDICT_CHUNK", 7)  # 25 rows in four chunks, the last short
    assert plain.cost(model, data) == pytest.approx(whole, rel=1e-12)
    model.W[2] *= 1e6  # outputs of exactly 0 and 1: ln 0 is guarded, not -inf
    assert math.isfinite(plain.cost(model, data))


def test_cost_in_float32_is_near_float64():
    spec = Spec(layers=(784, 16, 10))
    images, labels = synthetic_digits(50, seed=4)
    costs = [
        plain.cost(plain.load(initial_weights(spec), spec, d), plain.load_data(images, labels, d))
        for d in ("float32", "float64")
    ]
    assert isinstance(costs[0], float) and costs[0] == pytest.approx(costs[1], rel=1e-5)
