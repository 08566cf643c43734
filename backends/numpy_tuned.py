"""numpy-tuned: each mini-batch as one matrix product per layer, with numpy's per-call costs cut down.

numpy-plain's step, as an expert tunes it. Arrays are preallocated per batch size and every
operation writes in place, so the batch loop allocates nothing and a float32 model stays float32 (no
float64 scalar promotes it). Layers are numbered as in docs/design.md: `W[1]`, `z[1]`, `a[1]`,
`delta[2]`... with `a[0]` the input batch; index 0 of `W`, `b` and `delta` is unused.

At a batch of 10 a numpy call costs more in overhead than in arithmetic, so the batch makes few
calls, and cheap ones, on memory laid out for BLAS (what each of these bought: docs/kernels.md):
- Each layer's weights and bias are one array, `Wb[l] = [W_l | b_l]`, and each layer's input
  carries a column of ones, `[a_{l-1} | 1]` (the "bias trick"). Then z_l = a_{l-1} W_l^T + b_l is
  one product, `[a_{l-1} | 1] Wb_l^T`, and so is the gradient, `[grad_W_l | grad_b_l] = delta_l^T
  [a_{l-1} | 1]`; one subtraction updates both, and the bias's broadcast and column sum, each dearer
  than the products that absorb them, are gone. `W[l]` and `b[l]` are views of `Wb[l]`.
- Rows are padded with zeros to whole cache lines (785 -> 800 values in float32), on which BLAS runs
  the layer-1 products faster; zero inputs keep the padding's weights at zero.
- Every array starts on a cache line (`_aligned_zeros`), so a padded row is whole lines and no
  64-byte vector load of BLAS straddles two (numpy aligns to 16 bytes only).
- delta_L is scaled by lr / B once, as it is made; every hidden delta is linear in the one above
  it, so carries the factor too, and each product with a delta is the step itself.
- Elementwise work runs on contiguous arrays, where a call is cheaper than on a strided view such as
  the first n columns of `[a_l | 1]`, so a_l is computed in `a[l]` and then copied there.
- Training runs with the CPU's flush-to-zero mode on (see `flush_subnormals`), because subnormal
  values from saturated units take a slow path in the CPU's vector arithmetic.
- Outputs are passed as the last positional argument, `np.multiply(x, y, out)`, which is cheaper than
  the keyword `out=`. Scalars are 0-d arrays of the model's dtype (a Python number is converted in
  every call), and views such as `W[l]` and `Wb[l]^T` are made once.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import platform
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

# numpy-plain's dataset, X holding [n, 800] rows: pixels / 255, a column of ones, zeros (see `_width`)
from backends.numpy_plain import Data, available  # noqa: F401 - available(): numpy is all either needs

name = "numpy-tuned"
tier = "tuned"
summary = "numpy arrays, the batch as one matrix product per layer (BLAS)"
dtypes = ("float32", "float64")


@dataclass
class Model:
    sizes: list  # n_0 = 784, n_1, ..., n_L = 10
    Wb: list  # Wb[l]: [n_l, _width(n_{l-1})] = [W_l | b_l | zeros]
    activation: str
    loss: str
    buffers: dict = field(default_factory=dict)  # batch size -> Buffers

    def __post_init__(self) -> None:
        # views of Wb, made once rather than in every batch: W[l] [n_l, n_{l-1}], b[l] [n_l], Wb[l]^T
        self.W = [None] + [Wb[:, :n] for Wb, n in zip(self.Wb[1:], self.sizes)]
        self.b = [None] + [Wb[:, n] for Wb, n in zip(self.Wb[1:], self.sizes)]
        self.WbT = [None] + [Wb.T for Wb in self.Wb[1:]]

    def __deepcopy__(self, memo):  # a copy's views must be of its own Wb, aligned as the original
        Wb = [None] + [_aligned_zeros(w.shape, w.dtype) for w in self.Wb[1:]]
        for copied, w in zip(Wb[1:], self.Wb[1:]):
            copied[...] = w
        return Model(self.sizes, Wb, self.activation, self.loss)


def _width(n: int, dtype) -> int:
    """Columns of [a | 1] for n values, padded with zeros to whole 64-byte cache lines."""
    per_line = 64 // np.dtype(dtype).itemsize
    return -(-(n + 1) // per_line) * per_line


def _aligned_zeros(shape, dtype) -> np.ndarray:
    """np.zeros(shape, dtype), starting on a 64-byte cache line (numpy promises only 16 bytes)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.zeros(nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def _with_ones(rows: int, n: int, dtype) -> np.ndarray:
    """[rows, _width(n)]: column n holds ones, the padding after it zeros; the first n are for a."""
    x = _aligned_zeros((rows, _width(n, dtype)), dtype)
    x[:, n] = 1
    return x


class Buffers:
    """Every intermediate array of one step for batch size B, allocated once.

    `x[l]` is [a_l | 1 | 0], the input of layer l + 1 (x[0] the batch's images); `a[l]` is a_l,
    contiguous, and `a_view[l]` the first n_l columns of x[l], where a_l is copied."""

    def __init__(self, sizes: list[int], B: int, dtype) -> None:
        L = len(sizes) - 1
        self.x = [_with_ones(B, n, dtype) for n in sizes[:L]]
        self.a_view = [x[:, :n] for x, n in zip(self.x, sizes)]
        self.a = [self.a_view[0]] + [_aligned_zeros((B, n), dtype) for n in sizes[1:]]  # a[0]: the images
        self.z = [_aligned_zeros((B, n), dtype) for n in sizes]  # z[l]: [B, n_l] (z[0] unused)
        self.fprime = [_aligned_zeros((B, n), dtype) for n in sizes]  # f'(z_l)
        self.delta = [_aligned_zeros((B, n), dtype) for n in sizes]  # delta[l]: (lr / B) delta_l, [B, n_l]
        self.deltaT = [d.T for d in self.delta]
        self.grad = [None] + [_aligned_zeros((m, x.shape[1]), dtype) for m, x in zip(sizes[1:], self.x)]
        self.Y = np.empty((B, sizes[-1]), dtype)
        self.one = np.ones((), dtype)  # 0-d: no conversion per call


def load(weights, spec, dtype: str) -> Model:
    Wb = [None]
    for w, bias in weights:
        Wb.append(_aligned_zeros((w.shape[0], _width(w.shape[1], dtype)), dtype))  # [W | b | 0]
        Wb[-1][:, : w.shape[1]], Wb[-1][:, w.shape[1]] = w, bias
    return Model(list(spec.layers), Wb, spec.activation, spec.loss)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    X = _with_ones(len(images), images.shape[1], dtype)
    np.divide(images, np.asarray(255, dtype), out=X[:, : images.shape[1]])  # x / 255 in the dtype
    return Data(X, np.eye(10, dtype=dtype)[labels])


def weights(model: Model):
    return [(W.astype(np.float64), b.astype(np.float64)) for W, b in zip(model.W[1:], model.b[1:])]


def _buffers(model: Model, B: int) -> Buffers:
    if B not in model.buffers:
        model.buffers[B] = Buffers(model.sizes, B, model.Wb[1].dtype)
    return model.buffers[B]


# ---------------------------------------------------------------- the math: forward, backward, update
def _f(kind: str, z: np.ndarray, out: np.ndarray, one: np.ndarray) -> None:
    """a = f(z), in place."""
    if kind == "sigmoid":  # 1 / (1 + e^-z); e^-z may overflow to inf, giving the right limit 0
        np.negative(z, out)
        np.exp(out, out)
        np.add(out, one, out)
        np.reciprocal(out, out)
    elif kind == "tanh":
        np.tanh(z, out)
    else:  # relu
        np.maximum(z, 0, out=out)  # (np.maximum takes no positional out)


def _times_f_prime(kind: str, z: np.ndarray, a: np.ndarray, delta: np.ndarray, fprime, one) -> None:
    """delta *= f'(z), from a = f(z) where that is cheaper."""
    if kind == "sigmoid":  # a (1 - a)
        np.subtract(one, a, fprime)
        np.multiply(fprime, a, fprime)
    elif kind == "tanh":  # 1 - a^2
        np.multiply(a, a, fprime)
        np.subtract(one, fprime, fprime)
    else:  # relu: 1 where z > 0
        np.greater(z, 0, fprime)
    np.multiply(delta, fprime, delta)


def _softmax(z: np.ndarray, out: np.ndarray) -> None:
    np.subtract(z, z.max(axis=1, keepdims=True), out)  # shift for stability
    np.exp(out, out)
    out /= out.sum(axis=1, keepdims=True)


def _forward(m: Model, buf: Buffers) -> np.ndarray:
    """z_l = a_{l-1} W_l^T + b_l = [a_{l-1} | 1] Wb_l^T,  a_l = f(z_l); softmax output with
    cross-entropy. The input batch in buf.x[0]."""
    L = len(m.Wb) - 1
    z, a = buf.z, buf.a
    for l in range(1, L + 1):
        np.matmul(buf.x[l - 1], m.WbT[l], z[l])  # [B, n_l]
        if l == L and m.loss == "cross-entropy":
            _softmax(z[l], out=a[l])
        else:
            _f(m.activation, z[l], a[l], buf.one)
        if l < L:
            buf.a_view[l][...] = a[l]  # [a_l | 1], the next layer's input
    return a[L]


def _backward_update(m: Model, buf: Buffers, Y: np.ndarray, scale: np.ndarray) -> None:
    """Backpropagate the batch in buf (after _forward) and take one SGD step, layer L down to 1.
    `scale` is lr / B, a 0-d array of the model's dtype."""
    L = len(m.Wb) - 1
    z, a, delta = buf.z, buf.a, buf.delta
    # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
    np.subtract(a[L], Y, delta[L])
    if m.loss == "quadratic":
        _times_f_prime(m.activation, z[L], a[L], delta[L], buf.fprime[L], buf.one)
    np.multiply(delta[L], scale, delta[L])  # (lr / B) delta_L: every delta below inherits the factor
    for l in range(L, 0, -1):
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
            np.matmul(delta[l], m.W[l], delta[l - 1])
            _times_f_prime(m.activation, z[l - 1], a[l - 1], delta[l - 1], buf.fprime[l - 1], buf.one)
        # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l, with
        # [grad_W_l | grad_b_l] = delta_l^T [a_{l-1} | 1]  [n_l, n_{l-1} + 1 (+ padding)]
        np.matmul(buf.deltaT[l], buf.x[l - 1], buf.grad[l])
        np.subtract(m.Wb[l], buf.grad[l], m.Wb[l])


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    dtype = model.Wb[1].dtype
    scale = np.asarray(lr / batch_size, dtype)  # lr / B
    with np.errstate(over="ignore"), flush_subnormals():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            if len(batch) < batch_size:  # a short last batch
                scale = np.asarray(lr / len(batch), dtype)
            buf = _buffers(model, len(batch))
            # the method, not np.take: the function's Python wrapper costs as much as a small call
            data.X.take(batch, axis=0, out=buf.x[0])  # [a_0 | 1] = [X | 1]  [B, 785 (+ padding)]
            data.Y.take(batch, axis=0, out=buf.Y)  # Y  [B, 10]
            _forward(model, buf)
            _backward_update(model, buf, buf.Y, scale)


# ---------------------------------------------------------------- subnormal floats
# As sigmoid units saturate, a few activations and deltas become subnormal (below ~1.2e-38 in
# float32), and on x86 a vector FMA on one takes a microcode assist many times its usual cost.
# numba-tuned drops such steps in its own loop; numpy has no cheap way to (one more pass a batch to
# find them costs more than they do), so the CPU does it: training runs with its flush-to-zero and
# denormals-are-zero modes on, where a subnormal result or operand counts as 0. Nothing it drops can
# move a weight (w - 1e-38 rounds back to w unless |w| < ~1e-31), so the weights trained are the same
# (measured in docs/kernels.md). The modes are the calling thread's (bits 15 and 6 of the SSE control
# register MXCSR, reached through C's fegetenv/fesetenv), so BLAS threads started by --threads 2 keep
# the default; they are restored on the way out.
_MXCSR_FTZ_DAZ = 0x8040
_MXCSR_MASKS = 0x1F80  # the exception masks, all set by default: what MXCSR looks like


def _libm():
    """The C math library on x86-64 Linux (where fenv_t ends with MXCSR), else None."""
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    except OSError:
        return None


_LIBM = _libm()


@contextmanager
def flush_subnormals():
    """Inside the block, this thread's float arithmetic treats subnormal numbers as 0 (x86-64 Linux;
    elsewhere the block runs unchanged)."""
    env = (ctypes.c_uint32 * 8)()  # glibc's and musl's x86-64 fenv_t: 28 bytes of x87 state, then MXCSR
    if _LIBM is None or _LIBM.fegetenv(env) != 0 or env[7] & _MXCSR_MASKS != _MXCSR_MASKS:
        yield
        return
    default = env[7]
    env[7] = default | _MXCSR_FTZ_DAZ
    _LIBM.fesetenv(env)
    try:
        yield
    finally:
        env[7] = default
        _LIBM.fesetenv(env)


# ---------------------------------------------------------------- inference and warm-up
PREDICT_CHUNK = 1000


def predict(model: Model, data: Data) -> np.ndarray:
    n = len(data.X)
    out = np.empty(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        for start in range(0, n, PREDICT_CHUNK):
            X = data.X[start : start + PREDICT_CHUNK]
            buf = _buffers(model, len(X))
            buf.x[0][...] = X
            out[start : start + len(X)] = _forward(model, buf).argmax(axis=1)
    return out


def warmup(model: Model, data: Data) -> None:
    """A fresh process's first BLAS calls are slow: run a few steps and a prediction on a copy."""
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 100)), 10, 0.1)
    predict(scratch, Data(data.X[:PREDICT_CHUNK], data.Y[:PREDICT_CHUNK]))
    model.buffers = scratch.buffers  # keep the allocated buffers; the weights stay untouched
