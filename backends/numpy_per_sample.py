"""numpy-per-sample: numpy vectors, but backpropagation one sample at a time, as Nielsen's network.py does.

The shape of the seed program and of Nielsen's book: for each (x, y) of a mini-batch, a forward pass
of matrix-vector products, a backward pass that adds this sample's gradient into `grad_W`, `grad_b`
(Nielsen's `nabla_w`, `nabla_b`), and after the batch one SGD step. numpy does every vector operation,
but the loop over samples is Python, so the figure shows what that loop costs next to
backends/numpy_plain.py, which hands the whole batch to BLAS as one matrix product per layer. The
gradient accumulators and the outer-product scratch are allocated once per model; the forward and
backward vectors of each sample are fresh arrays, as in the book. Prediction also runs one sample at
a time (Nielsen's `feedforward` in `evaluate`). No other shortcut (no flush-to-zero, nothing
machine-specific) and no handicap.

Layers are numbered as in the design and backends/numpy_plain.py: `W[1]`, `z[1]`, `a[1]`, `delta[2]`...
with `a[0]` the input; index 0 of `W`, `b` and `delta` is unused. Nielsen's vectors are columns
(`z = w a + b`); here a sample is a 1-D vector, so `z_l = W_l a_{l-1} + b_l` is the design's
`a_{l-1} W_l^T + b_l` for one row, and `grad_W_l` gains the outer product `delta_l a_{l-1}^T`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from backends import numpy_plain
from backends.numpy_plain import Data, _f  # _f: f(z) is elementwise, the same on one sample as on a batch

# the data, and the weights handed back, as numpy-plain has them: only the math differs
load_data, weights = numpy_plain.load_data, numpy_plain.weights

name = "numpy-per-sample"
tier = "plain"
summary = "numpy vectors, backpropagating one sample at a time in a Python loop (Nielsen's network.py)"
threaded = False  # one sample's matrix-vector products are too small for BLAS to split among threads
dtypes = ("float32", "float64")


def available() -> str | None:
    return None


@dataclass
class Model(numpy_plain.Model):
    """numpy-plain's model, with the batch's gradient sums and the outer-product scratch beside it."""

    grad_W: list = field(init=False)  # grad_W[l]: [n_l, n_{l-1}], summed over the batch
    grad_b: list = field(init=False)  # grad_b[l]: [n_l]
    outer: list = field(init=False)  # outer[l]: one sample's delta_l a_{l-1}^T

    def __post_init__(self) -> None:
        self.grad_W = [None] + [np.empty_like(w) for w in self.W[1:]]
        self.grad_b = [None] + [np.empty_like(v) for v in self.b[1:]]
        self.outer = [None] + [np.empty_like(w) for w in self.W[1:]]


def load(weights, spec, dtype: str) -> Model:
    plain = numpy_plain.load(weights, spec, dtype)
    return Model(plain.W, plain.b, plain.activation, plain.loss)


# ---------------------------------------------------------------- the math: forward, backward, update
def _f_prime(kind: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """f'(z), from a = f(z) where that is cheaper."""
    if kind == "sigmoid":
        return (1 - a) * a
    if kind == "tanh":
        return 1 - a * a
    return (z > 0).astype(z.dtype)  # relu: 1 where z > 0


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())  # shift for stability
    return e / e.sum()


def _forward(m: Model, x: np.ndarray) -> tuple[list, list]:
    """z_l = W_l a_{l-1} + b_l,  a_l = f(z_l) for one sample; softmax output with cross-entropy."""
    L = len(m.W) - 1
    z, a = [None] * (L + 1), [x] + [None] * L  # a_0 = x  [784]
    for l in range(1, L + 1):
        z[l] = m.W[l] @ a[l - 1] + m.b[l]  # [n_l]
        a[l] = _softmax(z[l]) if l == L and m.loss == "cross-entropy" else _f(m.activation, z[l])
    return z, a


def _backprop(m: Model, x: np.ndarray, y: np.ndarray) -> None:
    """One sample: forward, then backward, adding its gradients into m.grad_W and m.grad_b.

    The weights do not change inside a mini-batch, so every hidden delta uses W_l before its update.
    """
    L = len(m.W) - 1
    z, a = _forward(m, x)
    delta = [None] * (L + 1)
    # output: quadratic cost   delta_L = (a_L - y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - y
    delta[L] = a[L] - y
    if m.loss == "quadratic":
        delta[L] *= _f_prime(m.activation, z[L], a[L])
    for l in range(L, 0, -1):
        np.outer(delta[l], a[l - 1], out=m.outer[l])  # this sample's delta_l a_{l-1}^T  [n_l, n_{l-1}]
        m.grad_W[l] += m.outer[l]
        m.grad_b[l] += delta[l]
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1})
            delta[l - 1] = (delta[l] @ m.W[l]) * _f_prime(m.activation, z[l - 1], a[l - 1])


def _update_mini_batch(m: Model, X: np.ndarray, Y: np.ndarray, batch: list, lr: float) -> None:
    """Sum the gradients of the batch's samples, one at a time, then take one SGD step."""
    L = len(m.W) - 1
    for l in range(1, L + 1):
        m.grad_W[l].fill(0)
        m.grad_b[l].fill(0)
    for i in batch:
        _backprop(m, X[i], Y[i])
    # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l  (a Python float keeps the dtype)
    step = lr / len(batch)
    for l in range(1, L + 1):
        m.grad_W[l] *= step
        m.W[l] -= m.grad_W[l]
        m.grad_b[l] *= step
        m.b[l] -= m.grad_b[l]


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    rows = np.asarray(rows).tolist()  # Python ints index a row faster than numpy scalars
    with np.errstate(over="ignore"):  # sigmoid's e^-z overflows to inf for z << 0 (see _f)
        for start in range(0, len(rows), batch_size):
            _update_mini_batch(model, data.X, data.Y, rows[start : start + batch_size], lr)


# ---------------------------------------------------------------- inference and warm-up
def predict(model: Model, data: Data) -> np.ndarray:
    """argmax of a_L, one sample at a time."""
    with np.errstate(over="ignore"):
        return np.array([int(_forward(model, x)[1][-1].argmax()) for x in data.X], dtype=np.int64)


def warmup(model: Model, data: Data) -> None:
    """A fresh process's first numpy calls are slow: a few steps and predictions on a copy."""
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 100)), 10, 0.1)
    predict(scratch, Data(data.X[:100], data.Y[:100]))
