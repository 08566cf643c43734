"""numpy: each mini-batch as one matrix product per layer, so BLAS does the arithmetic.

The analogue of the seed's `ndarray` version. Arrays are preallocated per batch size and every
operation writes in place (`out=`), so the batch loop allocates nothing and a float32 model stays
float32 (no float64 scalar promotes it). Layers are numbered as in DESIGN.md: `W[1]`, `z[1]`,
`a[1]`, `delta[2]`... with `a[0]` the input batch; index 0 of `W`, `b` and `delta` is unused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

name = "numpy"
summary = "numpy arrays, the batch as one matrix product per layer (BLAS)"
dtypes = ("float32", "float64")


def available() -> str | None:
    return None


@dataclass
class Data:
    X: np.ndarray  # [n, 784] pixels / 255
    Y: np.ndarray  # [n, 10] one-hot


@dataclass
class Model:
    W: list  # W[l]: [n_l, n_{l-1}]
    b: list  # b[l]: [n_l]
    activation: str
    loss: str
    buffers: dict = field(default_factory=dict)  # batch size -> Buffers


class Buffers:
    """Every intermediate array of one step for batch size B, allocated once."""

    def __init__(self, sizes: list[int], B: int, dtype) -> None:
        self.z = [np.empty((B, n), dtype) for n in sizes]  # z[l]: [B, n_l] (z[0] unused)
        self.a = [np.empty((B, n), dtype) for n in sizes]  # a[l]: [B, n_l], a[0] = X batch
        self.fprime = [np.empty((B, n), dtype) for n in sizes]  # f'(z_l)
        self.delta = [np.empty((B, n), dtype) for n in sizes]  # delta[l]: [B, n_l]
        self.grad_W = [None] + [np.empty((m, n), dtype) for n, m in zip(sizes[:-1], sizes[1:])]
        self.grad_b = [np.empty(n, dtype) for n in sizes]
        self.Y = np.empty((B, sizes[-1]), dtype)


def load(weights, spec, dtype: str) -> Model:
    W = [None] + [np.array(w, dtype=dtype) for w, _ in weights]
    b = [None] + [np.array(bias, dtype=dtype) for _, bias in weights]
    return Model(W, b, spec.activation, spec.loss)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    X = images.astype(dtype) / np.asarray(255, dtype)
    Y = np.eye(10, dtype=dtype)[labels]
    return Data(np.ascontiguousarray(X), Y)


def weights(model: Model):
    return [(W.astype(np.float64), b.astype(np.float64)) for W, b in zip(model.W[1:], model.b[1:])]


def _buffers(model: Model, B: int) -> Buffers:
    if B not in model.buffers:
        sizes = [model.W[1].shape[1]] + [W.shape[0] for W in model.W[1:]]
        model.buffers[B] = Buffers(sizes, B, model.W[1].dtype)
    return model.buffers[B]


# ---------------------------------------------------------------- the math: forward, backward, update
def _f(kind: str, z: np.ndarray, out: np.ndarray) -> None:
    """a = f(z), in place."""
    if kind == "sigmoid":  # 1 / (1 + e^-z); e^-z may overflow to inf, giving the right limit 0
        np.negative(z, out=out)
        np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
    elif kind == "tanh":
        np.tanh(z, out=out)
    else:  # relu
        np.maximum(z, 0, out=out)


def _f_prime(kind: str, z: np.ndarray, a: np.ndarray, out: np.ndarray) -> None:
    """f'(z), from a = f(z) where that is cheaper."""
    if kind == "sigmoid":  # a (1 - a)
        np.subtract(1, a, out=out)
        out *= a
    elif kind == "tanh":  # 1 - a^2
        np.multiply(a, a, out=out)
        np.subtract(1, out, out=out)
    else:  # relu: 1 where z > 0
        np.greater(z, 0, out=out)


def _softmax(z: np.ndarray, out: np.ndarray) -> None:
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)  # shift for stability
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)


def _forward(m: Model, buf: Buffers) -> np.ndarray:
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l); softmax output with cross-entropy. Input in buf.a[0]."""
    L = len(m.W) - 1
    z, a = buf.z, buf.a
    for l in range(1, L + 1):
        np.matmul(a[l - 1], m.W[l].T, out=z[l])  # [B, n_l]
        z[l] += m.b[l]
        if l == L and m.loss == "cross-entropy":
            _softmax(z[l], out=a[l])
        else:
            _f(m.activation, z[l], out=a[l])
    return a[L]


def _backward_update(m: Model, buf: Buffers, Y: np.ndarray, lr: float) -> None:
    """Backpropagate the batch in buf (after _forward) and take one SGD step, layer L down to 1."""
    L = len(m.W) - 1
    z, a, fprime, delta = buf.z, buf.a, buf.fprime, buf.delta
    B = len(Y)
    # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
    np.subtract(a[L], Y, out=delta[L])
    if m.loss == "quadratic":
        _f_prime(m.activation, z[L], a[L], out=fprime[L])
        delta[L] *= fprime[L]
    for l in range(L, 0, -1):
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
            np.matmul(delta[l], m.W[l], out=delta[l - 1])
            _f_prime(m.activation, z[l - 1], a[l - 1], out=fprime[l - 1])
            delta[l - 1] *= fprime[l - 1]
        # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l.  Scaling the small delta_l
        # [B, n_l] by lr / B first costs less than scaling grad_W_l [n_l, n_{l-1}] (a Python float
        # keeps the dtype).
        delta[l] *= lr / B
        grad_W, grad_b = buf.grad_W[l], buf.grad_b[l]
        np.matmul(delta[l].T, a[l - 1], out=grad_W)  # grad_W_l = delta_l^T a_{l-1}   [n_l, n_{l-1}]
        np.sum(delta[l], axis=0, out=grad_b)  # grad_b_l = sum over rows of delta_l
        m.W[l] -= grad_W
        m.b[l] -= grad_b


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    with np.errstate(over="ignore"):
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            buf = _buffers(model, len(batch))
            np.take(data.X, batch, axis=0, out=buf.a[0])  # a_0 = X  [B, 784]
            np.take(data.Y, batch, axis=0, out=buf.Y)  # Y  [B, 10]
            _forward(model, buf)
            _backward_update(model, buf, buf.Y, lr)


# ---------------------------------------------------------------- inference and warm-up
PREDICT_CHUNK = 1000


def predict(model: Model, data: Data) -> np.ndarray:
    n = len(data.X)
    out = np.empty(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        for start in range(0, n, PREDICT_CHUNK):
            X = data.X[start : start + PREDICT_CHUNK]
            buf = _buffers(model, len(X))
            buf.a[0][...] = X
            out[start : start + len(X)] = _forward(model, buf).argmax(axis=1)
    return out


def warmup(model: Model, data: Data) -> None:
    """A fresh process's first BLAS calls are slow: run a few steps and a prediction on a copy."""
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 100)), 10, 0.1)
    predict(scratch, Data(data.X[:PREDICT_CHUNK], data.Y[:PREDICT_CHUNK]))
    model.buffers = scratch.buffers  # keep the allocated buffers; the weights stay untouched
