"""What the two pure-Python backends share: availability (nothing to install), the dataset and weights as
lists of floats, the activation functions and prediction. The math of each stays in its own module."""

from __future__ import annotations

from dataclasses import dataclass
from math import exp, tanh

import numpy as np


def available() -> str | None:
    return None  # the interpreter is all they need


@dataclass
class Data:
    X: list  # X[i]: 784 floats, pixels / 255
    Y: list  # Y[i]: 10 floats, one-hot
    labels: list  # labels[i]: int


@dataclass
class Model:
    W: list  # W[l]: n_l rows of n_{l-1} floats, index 0 unused
    b: list  # b[l]: n_l floats
    activation: str
    loss: str


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    # A pixel takes one of 256 values; every row points into one table of their 256 floats, which keeps
    # 60,000 rows in a fraction of the memory of separate float objects. Same values as x / 255.
    levels = [i / 255.0 for i in range(256)]
    X = [list(map(levels.__getitem__, row)) for row in np.asarray(images, np.uint8).tolist()]
    labels = [int(y) for y in np.asarray(labels).tolist()]
    one_hot = [[1.0 if k == j else 0.0 for k in range(10)] for j in range(10)]
    return Data(X, [one_hot[y] for y in labels], labels)


def lists(weights) -> tuple[list, list]:
    """float64 (W, b) arrays -> W[l] (n_l rows of n_{l-1} floats) and b[l], index 0 unused."""
    W = [None] + [np.asarray(w, np.float64).tolist() for w, _ in weights]
    b = [None] + [np.asarray(bias, np.float64).tolist() for _, bias in weights]
    return W, b


def weights(model):
    """A model's W[l] and b[l] lists as float64 (W, b) arrays."""
    return [(np.array(W, np.float64), np.array(b, np.float64)) for W, b in zip(model.W[1:], model.b[1:])]


PREDICT_CHUNK = 1000  # rows per forward pass, to bound the memory of the activations


def predict(forward, model, data: Data) -> np.ndarray:
    """argmax of a_L for every sample, from `forward(model, rows) -> (z, a)` on PREDICT_CHUNK rows at a time."""
    out = []
    for start in range(0, len(data.X), PREDICT_CHUNK):
        _, a = forward(model, data.X[start : start + PREDICT_CHUNK])
        out.extend(max(range(len(a_row)), key=a_row.__getitem__) for a_row in a[-1])  # argmax of a_L
    return np.array(out, dtype=np.int64)


def _sigmoid(v: float) -> float:
    # e^-v overflows a float for v below about -709.78; the limit there is 0, as numpy's inf gives
    return 1.0 / (1.0 + exp(-v)) if v > -709.0 else 0.0


def _relu(v: float) -> float:
    return v if v > 0.0 else 0.0


F = {"sigmoid": _sigmoid, "tanh": tanh, "relu": _relu}

# f'(z) from z and a = f(z): sigmoid a (1 - a), tanh 1 - a^2, relu 1 where z > 0
F_PRIME = {
    "sigmoid": lambda z, a: (1.0 - a) * a,
    "tanh": lambda z, a: 1.0 - a * a,
    "relu": lambda z, a: 1.0 if z > 0.0 else 0.0,
}


def softmax(z_row) -> list:
    top = max(z_row)  # shift for stability
    e = [exp(v - top) for v in z_row]
    total = sum(e)
    return [v / total for v in e]
