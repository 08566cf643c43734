"""numpy-plain: each mini-batch as one matrix product per layer, written as a numpy user writes it first.

The project's float64 conformance reference (core/conformance.py) and the template to copy for a new
backend. The batch step is the equations of the design line for line, `z = a @ W.T + b`, with fresh
arrays every batch and numpy's BLAS doing the products. It is deliberately nothing more: no
preallocated buffers, no bias folded into the weights, no aligned memory, no flush-to-zero, nothing
that depends on the machine; those live in backends/numpy_tuned.py.

Layers are numbered as in the design: `W[1]`, `z[1]`, `a[1]`, `delta[2]`... with `a[0]` the input
batch; index 0 of `W`, `b` and `delta` is unused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

name = "numpy-plain"
tier = "plain"
summary = "numpy arrays, the batch as one matrix product per layer, as a numpy user writes it first"
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


def load(weights, spec, dtype: str) -> Model:
    W = [None] + [np.array(w, dtype=dtype) for w, _ in weights]  # np.array copies
    b = [None] + [np.array(bias, dtype=dtype) for _, bias in weights]
    return Model(W, b, spec.activation, spec.loss)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    return Data(images.astype(dtype) / 255, np.eye(10, dtype=dtype)[labels])


def weights(model: Model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(W.astype(np.float64), b.astype(np.float64)) for W, b in zip(model.W[1:], model.b[1:])]


# ---------------------------------------------------------------- the math: forward, backward, update
def _f(kind: str, z: np.ndarray) -> np.ndarray:
    if kind == "sigmoid":  # 1 / (1 + e^-z); e^-z may overflow to inf, giving the right limit 0
        return 1 / (1 + np.exp(-z))
    if kind == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0)  # relu


def _f_prime(kind: str, a: np.ndarray) -> np.ndarray:
    """f'(z_l), from a_l = f(z_l)."""
    if kind == "sigmoid":
        return a * (1 - a)
    if kind == "tanh":
        return 1 - a * a
    return (a > 0).astype(a.dtype)  # relu: 1 where z > 0, that is where a > 0


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))  # shift for stability
    return e / e.sum(axis=1, keepdims=True)


def forward(model: Model, X: np.ndarray) -> list[np.ndarray]:
    """[a_0, a_1, ..., a_L] for a batch X [n, 784] of pixels in [0, 1]: z_l = a_{l-1} W_l^T + b_l,
    a_l = f(z_l), and a softmax output with cross-entropy."""
    W, b, L = model.W, model.b, len(model.W) - 1
    a = [np.asarray(X, W[1].dtype)]  # a_0 = X  [n, 784]
    with np.errstate(over="ignore"):  # sigmoid's e^-z overflows to inf for z << 0 (see _f)
        for l in range(1, L + 1):
            z = a[l - 1] @ W[l].T + b[l]  # z_l  [n, n_l]
            a.append(_softmax(z) if l == L and model.loss == "cross-entropy" else _f(model.activation, z))
    return a


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    W, b, L, f = model.W, model.b, len(model.W) - 1, model.activation
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        B = len(batch)  # the last batch may be short
        a = forward(model, data.X[batch])  # a[l]: [B, n_l]
        Y = data.Y[batch]  # [B, 10]
        delta = [None] * (L + 1)
        # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
        delta[L] = a[L] - Y  # [B, 10]
        if model.loss == "quadratic":
            delta[L] = delta[L] * _f_prime(f, a[L])
        for l in range(L, 0, -1):
            grad_W = delta[l].T @ a[l - 1]  # [n_l, n_{l-1}]
            grad_b = delta[l].sum(axis=0)  # [n_l]
            if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
                delta[l - 1] = (delta[l] @ W[l]) * _f_prime(f, a[l - 1])  # [B, n_{l-1}]
            # update: a Python float scales a float32 array without promoting it
            W[l] -= (lr / B) * grad_W
            b[l] -= (lr / B) * grad_b


# ---------------------------------------------------------------- inference
PREDICT_CHUNK = 1000  # rows per forward pass, to bound the memory of the activations


def predict(model: Model, data: Data) -> np.ndarray:
    """argmax of a_L for every sample."""
    out = np.empty(len(data.X), dtype=np.int64)
    for start in range(0, len(data.X), PREDICT_CHUNK):
        out[start : start + PREDICT_CHUNK] = forward(model, data.X[start : start + PREDICT_CHUNK])[-1].argmax(axis=1)
    return out


def cost(model: Model, data: Data) -> float:
    """The mean cost over every sample for the model's loss, as a float:
    quadratic C = 1/(2n) sum ||a_L - y||^2;  cross-entropy (softmax output) C = -1/n sum y . ln a_L."""
    total = 0.0
    for start in range(0, len(data.X), PREDICT_CHUNK):
        a_L = forward(model, data.X[start : start + PREDICT_CHUNK])[-1]  # [chunk, 10]
        Y = data.Y[start : start + PREDICT_CHUNK]
        if model.loss == "quadratic":
            total += 0.5 * float(np.sum((a_L - Y) ** 2, dtype=np.float64))
        else:  # a softmax output can round to 0: ln of the smallest normal number instead of -inf
            total -= float(np.sum(Y * np.log(np.maximum(a_L, np.finfo(a_L.dtype).tiny)), dtype=np.float64))
    return total / len(data.X) if len(data.X) else float("nan")
