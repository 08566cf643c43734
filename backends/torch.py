"""torch: PyTorch tensors on the CPU, the batch as one matrix product per layer, no autograd.

What a user would reach for instead of numpy: the same step as backends/numpy.py, written with plain
tensor operations (`addmm`, `sigmoid`, in-place `sub_`...) under `torch.inference_mode()`, so no
autograd graph is built and the gradients are the equations of DESIGN.md, computed by hand. Arrays
are preallocated per batch size and every operation writes in place (`out=` or a trailing `_`).
It is deliberately not `torch.nn`, an optimizer or `loss.backward()`: the point is the substrate
(ATen kernels and MKL instead of numpy and OpenBLAS), not a different algorithm. Nor does it call
`torch.set_flush_denormal(True)`, the flush-to-zero mode backends/numpy.py trains under: a user
would not (with it, the epochs were 2.7% faster here: `bench ab`, 30 epochs a side, one thread).

torch keeps its own thread pool, which threadpoolctl does not fully reach: `load` sets it to the
BLAS thread count in force (what `--threads` set through core.environment.limit_threads).
torch is imported when `available()` is first asked, so this module imports without it.

Layers are numbered as in DESIGN.md: `W[1]`, `z[1]`, `a[1]`, `delta[2]`... with `a[0]` the input
batch; index 0 of `W`, `b` and `delta` is unused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

name = "torch"
summary = "PyTorch CPU tensors, the batch as one matrix product per layer, gradients by hand (no autograd)"
dtypes = ("float32", "float64")

torch = None  # the module, once available() has imported it
_problem: str | None = None


def available() -> str | None:
    global torch, _problem
    if torch is None and _problem is None:
        try:
            import torch as _torch
        except ModuleNotFoundError as exc:
            _problem = "torch is not installed (pip install torch==2.13.0)" if exc.name == "torch" else str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken install makes the backend unavailable, not a crash
            _problem = f"torch failed to import: {type(exc).__name__}: {exc}"
        else:
            torch = _torch
    return _problem


@dataclass
class Data:
    X: object  # torch.Tensor [n, 784] pixels / 255
    Y: object  # torch.Tensor [n, 10] one-hot


@dataclass
class Model:
    W: list  # W[l]: [n_l, n_{l-1}]
    b: list  # b[l]: [n_l]
    activation: str
    loss: str
    buffers: dict = field(default_factory=dict)  # batch size -> Buffers


class Buffers:
    """Every intermediate tensor of one step for batch size B, allocated once."""

    def __init__(self, sizes: list[int], B: int, dtype) -> None:
        empty = lambda *shape: torch.empty(shape, dtype=dtype)
        self.z = [empty(B, n) for n in sizes]  # z[l]: [B, n_l] (z[0] unused)
        self.a = [empty(B, n) for n in sizes]  # a[l]: [B, n_l], a[0] = X batch
        self.fprime = [empty(B, n) for n in sizes]  # f'(z_l)
        self.delta = [empty(B, n) for n in sizes]  # delta[l]: [B, n_l]
        self.grad_W = [None] + [empty(m, n) for n, m in zip(sizes[:-1], sizes[1:])]
        self.grad_b = [empty(n) for n in sizes]
        self.Y = empty(B, sizes[-1])  # the batch's one-hot targets


def _set_threads() -> None:
    """torch's intra-op pool gets the BLAS thread count in force; one inter-op thread (none is needed)."""
    from core.environment import blas_info

    _, threads = blas_info()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed once per process, and only before any inter-op work
        pass


def _require_torch() -> None:
    if available():
        raise RuntimeError(f"backend 'torch' is unavailable: {available()}")


def load(weights, spec, dtype: str) -> Model:
    _require_torch()
    _set_threads()
    tdtype = getattr(torch, dtype)
    W = [None] + [torch.tensor(np.asarray(w), dtype=tdtype) for w, _ in weights]
    b = [None] + [torch.tensor(np.asarray(bias), dtype=tdtype) for _, bias in weights]
    return Model(W, b, spec.activation, spec.loss)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    _require_torch()
    X = images.astype(dtype) / np.asarray(255, dtype)  # the reference's exact pixel values
    Y = np.eye(10, dtype=dtype)[labels]
    return Data(torch.from_numpy(np.ascontiguousarray(X)), torch.from_numpy(Y))


def weights(model: Model):
    # astype copies, so the caller never holds a view of the live model
    return [(W.numpy().astype(np.float64), b.numpy().astype(np.float64)) for W, b in zip(model.W[1:], model.b[1:])]


def _buffers(model: Model, B: int) -> Buffers:
    if B not in model.buffers:
        sizes = [model.W[1].shape[1]] + [W.shape[0] for W in model.W[1:]]
        model.buffers[B] = Buffers(sizes, B, model.W[1].dtype)
    return model.buffers[B]


# ---------------------------------------------------------------- the math: forward, backward, update
def _f(kind: str, z, out) -> None:
    """a = f(z), in place."""
    if kind == "sigmoid":
        torch.sigmoid(z, out=out)
    elif kind == "tanh":
        torch.tanh(z, out=out)
    else:  # relu
        torch.clamp(z, min=0, out=out)


def _f_prime(kind: str, z, a, out) -> None:
    """f'(z), from a = f(z) where that is cheaper."""
    if kind == "sigmoid":  # a (1 - a), as a - a a in one kernel
        torch.addcmul(a, a, a, value=-1, out=out)
    elif kind == "tanh":  # 1 - a^2
        torch.mul(a, a, out=out)
        out.neg_().add_(1)
    else:  # relu: 1 where z > 0
        torch.gt(z, 0, out=out)


def _softmax(z, out) -> None:
    torch.sub(z, z.amax(dim=1, keepdim=True), out=out)  # shift for stability
    out.exp_()
    out.div_(out.sum(dim=1, keepdim=True))


def _forward(m: Model, buf: Buffers):
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l); softmax output with cross-entropy. Input in buf.a[0]."""
    L = len(m.W) - 1
    z, a = buf.z, buf.a
    for l in range(1, L + 1):
        torch.addmm(m.b[l], a[l - 1], m.W[l].T, out=z[l])  # b_l + a_{l-1} W_l^T   [B, n_l]
        if l == L and m.loss == "cross-entropy":
            _softmax(z[l], out=a[l])
        else:
            _f(m.activation, z[l], out=a[l])
    return a[L]


def _backward_update(m: Model, buf: Buffers, Y, lr: float) -> None:
    """Backpropagate the batch in buf (after _forward) and take one SGD step, layer L down to 1."""
    L = len(m.W) - 1
    z, a, fprime, delta = buf.z, buf.a, buf.fprime, buf.delta
    B = len(Y)
    # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
    torch.sub(a[L], Y, out=delta[L])
    if m.loss == "quadratic":
        _f_prime(m.activation, z[L], a[L], out=fprime[L])
        delta[L].mul_(fprime[L])
    for l in range(L, 0, -1):
        grad_W, grad_b = buf.grad_W[l], buf.grad_b[l]
        torch.mm(delta[l].T, a[l - 1], out=grad_W)  # grad_W_l = delta_l^T a_{l-1}   [n_l, n_{l-1}]
        torch.sum(delta[l], dim=0, out=grad_b)  # grad_b_l = sum over rows of delta_l
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
            torch.mm(delta[l], m.W[l], out=delta[l - 1])
            _f_prime(m.activation, z[l - 1], a[l - 1], out=fprime[l - 1])
            delta[l - 1].mul_(fprime[l - 1])
        # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l  (one kernel each; the dtype stays)
        m.W[l].sub_(grad_W, alpha=lr / B)
        m.b[l].sub_(grad_b, alpha=lr / B)


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    rows = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            buf = _buffers(model, len(batch))
            torch.index_select(data.X, 0, batch, out=buf.a[0])  # a_0 = X  [B, 784]
            torch.index_select(data.Y, 0, batch, out=buf.Y)  # Y  [B, 10]
            _forward(model, buf)
            _backward_update(model, buf, buf.Y, lr)


# ---------------------------------------------------------------- inference and warm-up
PREDICT_CHUNK = 1000


def predict(model: Model, data: Data) -> np.ndarray:
    n = len(data.X)
    out = np.empty(n, dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, n, PREDICT_CHUNK):
            X = data.X[start : start + PREDICT_CHUNK]
            buf = _buffers(model, len(X))
            buf.a[0].copy_(X)
            out[start : start + len(X)] = _forward(model, buf).argmax(dim=1).numpy()
    return out


def warmup(model: Model, data: Data) -> None:
    """The first kernel calls (MKL, thread pool, allocator) are slow: a few steps and a prediction on a copy."""
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 100)), 10, 0.1)
    predict(scratch, Data(data.X[:PREDICT_CHUNK], data.Y[:PREDICT_CHUNK]))
    model.buffers = scratch.buffers  # keep the allocated buffers; the weights stay untouched
