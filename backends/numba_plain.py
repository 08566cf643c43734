"""numba-plain: the network as plain loops compiled by numba, written as a numba user writes it first.

The analogue of the seed's `Vec<f32>` program: every multiply-add is a scalar loop over arrays, and
numba's @njit compiles them. `train` hands a whole epoch's row order to one compiled kernel, which
loops over the batches itself; per batch it copies the rows in, runs the forward pass, the deltas,
the gradient sums and the SGD update, each a nest of `for` loops over rows, units and inputs in the
order the equations are written. Any layer list, every activation and both losses.

It is deliberately nothing more: no blocking for registers or caches, no intrinsics, no threads
(`prange`), no `fastmath` (so a dot product stays a sequential sum that LLVM will not split across
vector lanes), no flush-to-zero or other subnormal handling, no aligned or padded memory.
Those live in backends/numba_tuned/. What a competent user does do is here: the batch loop is
compiled (not a Python loop calling a kernel per batch), the batch's arrays are allocated once a
call rather than once a batch, kernels are cached on disk (cache=True), and float32 stays float32:
numba makes `1 + x` float64 for a float32 x (a Python number is a float64 or an int64 to it), so the
constants and the step `lr / B` are taken in the model's dtype (`one`, `eta`), as numpy does.

Layers are numbered as in docs/design.md and backends/numpy_plain.py: `W[l]`, `z[l]`, `a[l]`, `delta[l]`
for l = 1..L, with `a[0]` the input batch; index 0 of `W`, `b`, `z`, `delta` holds an empty
placeholder. The model's `W` and `b` are tuples of arrays, one per layer, updated in place; a kernel
takes a layer's arrays out of them once (`W_l = W[l]`), outside the loops over rows and units.
(A tuple is typed by its length, so each depth of network compiles once; a numba typed list would
not, but its methods compile anew in every process, outside the on-disk cache.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.numpy_plain import Data  # the same dataset: pixels / 255 and one-hot labels

try:
    from numba import njit
except ImportError as exc:  # numba missing: this backend is unavailable, the harness still runs
    _MISSING = f"numba is not installed ({exc}); pip install numba"

    def njit(*args, **kwargs):
        return lambda f: f
else:
    _MISSING = None

name = "numba-plain"
tier = "plain"
summary = "numba @njit, the epoch's batches as plain scalar loops in one compiled call"
dtypes = ("float32", "float64")
threaded = False  # plain loops on the calling thread: --threads cannot change its speed

SIGMOID, TANH, RELU = 0, 1, 2
QUADRATIC, CROSS_ENTROPY = 0, 1
ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}
LOSSES = {"quadratic": QUADRATIC, "cross-entropy": CROSS_ENTROPY}
PREDICT_CHUNK = 1000  # rows per forward pass in predict


def available() -> str | None:
    return _MISSING


@dataclass
class Model:
    W: tuple  # W[l]: [n_l, n_{l-1}]; W[0] empty
    b: tuple  # b[l]: [n_l]; b[0] empty
    activation: int
    loss: int


def _model(weights, dtype, activation: int, loss: int) -> Model:
    W = (np.zeros((0, 0), dtype),) + tuple(np.array(w, dtype=dtype) for w, _ in weights)  # np.array copies
    b = (np.zeros(0, dtype),) + tuple(np.array(bias, dtype=dtype) for _, bias in weights)
    return Model(W, b, activation, loss)


def load(weights, spec, dtype: str) -> Model:
    return _model(weights, dtype, ACTIVATIONS[spec.activation], LOSSES[spec.loss])


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    X = np.ascontiguousarray(images.astype(dtype) / 255)
    return Data(X, np.eye(10, dtype=dtype)[labels])


def weights(model: Model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(model.W[l].astype(np.float64), model.b[l].astype(np.float64)) for l in range(1, len(model.W))]


# ---------------------------------------------------------------- the math: forward, backward, update
@njit(cache=True)
def _activate(kind, z, a, B):
    """a = f(z) for the first B rows: sigmoid 1 / (1 + e^-z) (e^-z may overflow to inf, giving the
    right limit 0), tanh, relu."""
    one, zero = z.dtype.type(1), z.dtype.type(0)
    for s in range(B):
        for j in range(z.shape[1]):
            if kind == SIGMOID:
                a[s, j] = one / (one + np.exp(-z[s, j]))
            elif kind == TANH:
                a[s, j] = np.tanh(z[s, j])
            else:
                a[s, j] = max(z[s, j], zero)


@njit(cache=True)
def _softmax(z, a, B):
    """a = e^z / sum e^z along each of the first B rows, shifted by the row's maximum for stability."""
    for s in range(B):
        top = z[s, 0]
        for j in range(1, z.shape[1]):
            top = max(top, z[s, j])
        total = z.dtype.type(0)
        for j in range(z.shape[1]):
            a[s, j] = np.exp(z[s, j] - top)
            total += a[s, j]
        for j in range(z.shape[1]):
            a[s, j] /= total


@njit(cache=True)
def _f_prime(kind, z, a, s, j):
    """f'(z) at row s, unit j, from z and a = f(z): sigmoid a (1 - a), tanh 1 - a^2, relu 1 where z > 0."""
    one = a.dtype.type(1)
    if kind == SIGMOID:
        return a[s, j] * (one - a[s, j])
    if kind == TANH:
        return one - a[s, j] * a[s, j]
    return one if z[s, j] > 0 else a.dtype.type(0)


@njit(cache=True)
def _forward(W, b, z, a, B, activation, loss):
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l), l = 1..L, for the first B rows of a[0]; a softmax
    output with cross-entropy."""
    L = len(W) - 1
    for l in range(1, L + 1):
        W_l, b_l, z_l, a_prev = W[l], b[l], z[l], a[l - 1]  # a_prev: a_{l-1}
        n_out, n_in = W_l.shape
        for s in range(B):
            for j in range(n_out):
                acc = b_l[j]
                for i in range(n_in):
                    acc += W_l[j, i] * a_prev[s, i]
                z_l[s, j] = acc  # z_l  [B, n_l]
        if l == L and loss == CROSS_ENTROPY:
            _softmax(z_l, a[l], B)
        else:
            _activate(activation, z_l, a[l], B)


@njit(cache=True)
def _train(W, b, z, a, delta, grad_W, grad_b, X, Y, rows, batch_size, lr, activation, loss):
    """SGD over `rows` in consecutive batches of `batch_size` (the last may be short), in place.

    Per batch: the forward pass; the output delta; then from layer L down to 1, the gradients
    grad_W_l = delta_l^T a_{l-1} (summed one row of the batch at a time) and grad_b_l, the hidden
    delta_{l-1} from W_l before it changes, and the update W_l -= (lr / B) grad_W_l.
    Each layer's arrays are taken out of the tuples once (W_l = W[l], ...), outside the loops:
    `W[l][j, i]` in an inner loop would take W[l] out of the tuple again at every step.
    """
    L = len(W) - 1
    a_0 = a[0]
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)  # rows in this batch
        for s in range(B):  # a_0 = X  [B, 784]
            for i in range(X.shape[1]):
                a_0[s, i] = X[rows[start + s], i]
        _forward(W, b, z, a, B, activation, loss)

        # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
        z_L, a_L, delta_L = z[L], a[L], delta[L]
        for s in range(B):
            for j in range(a_L.shape[1]):
                delta_L[s, j] = a_L[s, j] - Y[rows[start + s], j]
                if loss == QUADRATIC:
                    delta_L[s, j] *= _f_prime(activation, z_L, a_L, s, j)

        eta = X.dtype.type(lr / B)  # lr / B in the model's dtype
        for l in range(L, 0, -1):
            W_l, b_l, delta_l, a_prev = W[l], b[l], delta[l], a[l - 1]  # a_prev: a_{l-1}
            grad_W_l, grad_b_l = grad_W[l], grad_b[l]
            n_out, n_in = W_l.shape
            # gradients: grad_W_l = delta_l^T a_{l-1}  [n_l, n_{l-1}],  grad_b_l = sum over rows of delta_l  [n_l]
            grad_W_l[:, :] = 0
            grad_b_l[:] = 0
            for s in range(B):
                for j in range(n_out):
                    d = delta_l[s, j]
                    grad_b_l[j] += d
                    for i in range(n_in):
                        grad_W_l[j, i] += d * a_prev[s, i]
            # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update  [B, n_{l-1}]
            if l > 1:
                z_prev, delta_prev = z[l - 1], delta[l - 1]
                for s in range(B):
                    for i in range(n_in):
                        acc = X.dtype.type(0)
                        for j in range(n_out):
                            acc += delta_l[s, j] * W_l[j, i]
                        delta_prev[s, i] = acc * _f_prime(activation, z_prev, a_prev, s, i)
            # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l
            for j in range(n_out):
                for i in range(n_in):
                    W_l[j, i] -= eta * grad_W_l[j, i]
                b_l[j] -= eta * grad_b_l[j]


def _batch_arrays(W: tuple, n_rows: int) -> tuple:
    """z[l], a[l], delta[l], each [n_rows, n_l], and grad_W[l], grad_b[l] shaped like W[l], b[l]
    (index 0 of each but `a` empty; a[0] holds the input batch)."""
    dtype, sizes = W[1].dtype, [W[1].shape[1]] + [w.shape[0] for w in W[1:]]
    empty = np.zeros((0, 0), dtype)
    z = (empty,) + tuple(np.zeros((n_rows, n), dtype) for n in sizes[1:])
    a = tuple(np.zeros((n_rows, n), dtype) for n in sizes)
    delta = (empty,) + tuple(np.zeros((n_rows, n), dtype) for n in sizes[1:])
    grad_W = (empty,) + tuple(np.zeros_like(w) for w in W[1:])
    grad_b = (np.zeros(0, dtype),) + tuple(np.zeros(n, dtype) for n in sizes[1:])
    return z, a, delta, grad_W, grad_b


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    """One compiled call for all of `rows`, with the batch's arrays allocated for it."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    z, a, delta, grad_W, grad_b = _batch_arrays(model.W, batch_size)
    _train(
        model.W,
        model.b,
        z,
        a,
        delta,
        grad_W,
        grad_b,
        data.X,
        data.Y,
        rows,
        int(batch_size),
        float(lr),
        model.activation,
        model.loss,
    )


# ---------------------------------------------------------------- inference and warm-up
@njit(cache=True)
def _predict(W, b, z, a, X, activation, loss, out):
    """argmax of a_L for every row of X, as many rows per forward pass as a[0] has."""
    L = len(W) - 1
    a_0, a_L = a[0], a[L]
    chunk = a_0.shape[0]
    for start in range(0, X.shape[0], chunk):
        B = min(chunk, X.shape[0] - start)
        for s in range(B):
            for i in range(X.shape[1]):
                a_0[s, i] = X[start + s, i]
        _forward(W, b, z, a, B, activation, loss)
        for s in range(B):
            out[start + s] = np.argmax(a_L[s])


def predict(model: Model, data: Data) -> np.ndarray:
    out = np.empty(len(data.X), dtype=np.int64)
    z, a, _, _, _ = _batch_arrays(model.W, PREDICT_CHUNK)
    _predict(model.W, model.b, z, a, data.X, model.activation, model.loss, out)
    return out


def warmup(model: Model, data: Data) -> None:
    """Compile (or load from numba's on-disk cache) the train and predict kernels for this model's
    dtype by training a copy on a few rows and predicting with it; the model is left as it was."""
    scratch = _model(weights(model), model.W[1].dtype, model.activation, model.loss)
    n = min(len(data.X), 20)
    train(scratch, data, np.arange(n), 10, 0.1)
    predict(scratch, Data(data.X[:n], data.Y[:n]))
