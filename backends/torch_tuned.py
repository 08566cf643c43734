"""torch-tuned: PyTorch CPU tensors, the batch step written by hand in the fewest ATen calls.

torch-plain's network, as an expert tunes it. At a batch of 10 most ATen calls cost more in dispatch than
in arithmetic, so the step is the design's equations (computed by hand, under `torch.inference_mode()`,
no autograd graph) in as few calls as they allow, each writing in place into memory allocated once:
- Each layer's weights and bias are one tensor, `Wb[l] = [W_l | b_l]`, and each layer's input carries
  a column of ones, `[a_{l-1} | 1]` (the "bias trick"): z_l is one product, `[a_{l-1} | 1] Wb_l^T`,
  and the gradient and the update are one more, `Wb_l -= (lr / B) delta_l^T [a_{l-1} | 1]` as a single
  `addmm_` (the BLAS call accumulates into Wb_l), so no bias broadcast, column sum or separate step.
- The products write a_l straight into the first columns of `[a_l | 1]` (BLAS takes the row stride)
  and the activation runs in place there: z_l is never kept, since f'(z_l) is computed from a_l.
- f'(z) times the incoming gradient is one call, ATen's own `sigmoid_backward` (`tanh_backward`,
  `threshold_backward` for relu), the kernel autograd itself runs, instead of a product and a multiply.
- The dataset is one tensor of rows `[X | 1 | Y]`, so a batch (inputs, ones column and one-hot targets
  together) is gathered with one `index_select` into a buffer.
- Training runs with torch's flush-to-zero mode on (`torch.set_flush_denormal`), restored after,
  because subnormal activations of saturated units take a slow path in the CPU's vector arithmetic.
It is deliberately not `torch.compile`: the compiled step ran slower than these eager calls on the CPU
(the wrapper around each compiled call costs more than the kernels it fuses save), and compiles slowly.

torch keeps its own thread pool, which threadpoolctl does not fully reach: `load` sets it to the
BLAS thread count in force (what `--threads` set through core.environment.limit_threads).
Without torch the module still imports, and `available()` says why.

Layers are numbered as in the design: `Wb[1]`, `a[1]`, `delta[2]`... with `x[0] = [a_0 | 1]` the
input batch; index 0 of `Wb`, `a` and `delta` is unused.
"""

from __future__ import annotations

import copy
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from backends._optional import optional_import, require, set_torch_threads

name = "torch-tuned"
tier = "tuned"
summary = "PyTorch CPU tensors, the step by hand in the fewest in-place ATen calls (bias trick, no autograd)"
dtypes = ("float32", "float64")

N_CLASSES = 10

torch, _MISSING = optional_import("torch", "torch")  # (None, why) where torch cannot be imported


def available() -> str | None:
    return _MISSING


@dataclass
class Data:
    XY: object  # torch.Tensor [n, 795]: [X | 1 | Y], pixels / 255, a column of ones, one-hot targets
    n_inputs: int  # 784


@dataclass
class Model:
    Wb: list  # Wb[l] = [W_l | b_l]  [n_l, n_{l-1} + 1]
    activation: str
    loss: str
    batch_size: int  # the run's, for warmup to allocate its buffers
    buffers: dict = field(default_factory=dict)  # batch size -> Buffers

    def __post_init__(self) -> None:  # views made once, not in every step
        self.W = [None] + [Wb[:, :-1] for Wb in self.Wb[1:]]  # W_l  [n_l, n_{l-1}]
        self.WbT = [None] + [Wb.T for Wb in self.Wb[1:]]  # Wb_l^T  [n_{l-1} + 1, n_l]


class Buffers:
    """Every tensor of one step for batch size B, allocated once; the names are the design's."""

    def __init__(self, sizes: list[int], B: int, row: int, dtype) -> None:
        L = len(sizes) - 1
        self.xy = torch.empty(B, row, dtype=dtype)  # the gathered batch [X | 1 | Y]
        self.Y = self.xy[:, sizes[0] + 1 : sizes[0] + 1 + sizes[L]]  # [B, 10]
        # x[l] = [a_l | 1]: the input of layer l + 1, with a[l] its first n_l columns (a view)
        self.x = [self.xy[:, : sizes[0] + 1]] + [torch.ones(B, n + 1, dtype=dtype) for n in sizes[1:L]]
        self.a = [None] + [x[:, :-1] for x in self.x[1:]] + [torch.empty(B, sizes[L], dtype=dtype)]
        self.z_L = torch.empty(B, sizes[L], dtype=dtype)  # softmax's input (the only z kept)
        self.delta = [None] + [torch.empty(B, n, dtype=dtype) for n in sizes[1:]]  # delta[l]: [B, n_l]
        self.deltaT = [None] + [d.T for d in self.delta[1:]]  # views


def load(weights, spec, dtype: str) -> Model:
    require(sys.modules[__name__])
    set_torch_threads(torch, interop=True)
    Wb = [None] + [
        torch.tensor(np.hstack([w, np.asarray(b)[:, None]]), dtype=getattr(torch, dtype)) for w, b in weights
    ]
    return Model(Wb, spec.activation, spec.loss, spec.batch_size)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    require(sys.modules[__name__])
    n, n_inputs = images.shape
    XY = np.zeros((n, n_inputs + 1 + N_CLASSES), dtype=dtype)
    XY[:, :n_inputs] = images.astype(dtype) / np.asarray(255, dtype)  # the reference's exact pixel values
    XY[:, n_inputs] = 1
    XY[np.arange(n), n_inputs + 1 + labels.astype(np.int64)] = 1
    return Data(torch.from_numpy(XY), n_inputs)


def weights(model: Model):
    # astype copies, so the caller never holds a view of the live model
    return [(Wb[:, :-1].numpy().astype(np.float64), Wb[:, -1].numpy().astype(np.float64)) for Wb in model.Wb[1:]]


def _buffers(model: Model, B: int, row: int) -> Buffers:
    if B not in model.buffers:
        sizes = [model.Wb[1].shape[1] - 1] + [Wb.shape[0] for Wb in model.Wb[1:]]
        model.buffers[B] = Buffers(sizes, B, row, model.Wb[1].dtype)
    return model.buffers[B]


# ---------------------------------------------------------------- the math: forward, backward, update
def _activate(kind: str):
    """a = f(z) in place."""
    return {"sigmoid": torch.Tensor.sigmoid_, "tanh": torch.Tensor.tanh_, "relu": torch.Tensor.relu_}[kind]


def _times_f_prime(kind: str):
    """(grad, a) -> grad * f'(z) in place, f' from a = f(z): autograd's own kernels, one call each."""
    aten = torch.ops.aten
    if kind == "relu":  # 1 where z > 0, that is where a > 0
        op = aten.threshold_backward.grad_input
        return lambda grad, a: op(grad, a, 0, grad_input=grad)
    op = (aten.sigmoid_backward if kind == "sigmoid" else aten.tanh_backward).grad_input  # a (1 - a), 1 - a^2
    return lambda grad, a: op(grad, a, grad_input=grad)


def _forward(m: Model, buf: Buffers, f) -> None:
    """z_l = [a_{l-1} | 1] Wb_l^T,  a_l = f(z_l); softmax output with cross-entropy. Input in buf.x[0]."""
    L = len(m.Wb) - 1
    for l in range(1, L):
        torch.mm(buf.x[l - 1], m.WbT[l], out=buf.a[l])  # z_l, into [a_l | 1]  [B, n_l]
        f(buf.a[l])  # a_l = f(z_l)
    if m.loss == "cross-entropy":
        torch.mm(buf.x[L - 1], m.WbT[L], out=buf.z_L)  # z_L  [B, 10]
        torch.softmax(buf.z_L, 1, out=buf.a[L])
    else:
        torch.mm(buf.x[L - 1], m.WbT[L], out=buf.a[L])
        f(buf.a[L])


def _step(m: Model, buf: Buffers, f, f_prime, step: float) -> None:
    """One SGD step on the batch in buf.x[0], buf.Y, `step` = lr / B: forward, backward, update."""
    L = len(m.Wb) - 1
    x, a, delta = buf.x, buf.a, buf.delta
    _forward(m, buf, f)
    # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
    torch.sub(a[L], buf.Y, out=delta[L])
    if m.loss == "quadratic":
        f_prime(delta[L], a[L])
    for l in range(L, 0, -1):
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
            torch.mm(delta[l], m.W[l], out=delta[l - 1])
            f_prime(delta[l - 1], a[l - 1])
        # update: [W_l | b_l] -= (lr / B) delta_l^T [a_{l-1} | 1], i.e. grad_W_l and grad_b_l in one product
        m.Wb[l].addmm_(buf.deltaT[l], x[l - 1], alpha=-step)


@contextmanager
def _flush_denormals():
    """Inside the block, this thread's arithmetic flushes subnormal floats to zero; after it, as before."""
    was_on = float(np.float32(1e-39) * np.float32(1)) == 0  # numpy's scalar product runs on this thread
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    f, f_prime = _activate(model.activation), _times_f_prime(model.activation)
    rows = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
    row = data.XY.shape[1]
    with torch.inference_mode(), _flush_denormals():
        for batch in torch.split(rows, batch_size):  # the last batch may be short
            buf = _buffers(model, len(batch), row)
            torch.index_select(data.XY, 0, batch, out=buf.xy)  # [a_0 | 1 | Y]  [B, row]
            _step(model, buf, f, f_prime, lr / len(batch))


# ---------------------------------------------------------------- inference and warm-up
PREDICT_CHUNK = 1000


def predict(model: Model, data: Data) -> np.ndarray:
    n, row = len(data.XY), data.XY.shape[1]
    out = np.empty(n, dtype=np.int64)
    f = _activate(model.activation)
    with torch.inference_mode():
        for start in range(0, n, PREDICT_CHUNK):
            buf = _buffers(model, min(PREDICT_CHUNK, n - start), row)
            buf.xy.copy_(data.XY[start : start + PREDICT_CHUNK])
            _forward(model, buf, f)
            out[start : start + len(buf.xy)] = buf.a[-1].argmax(dim=1).numpy()
    return out


def warmup(model: Model, data: Data) -> None:
    """The first kernel calls (MKL, thread pool, allocator) are slow: a few steps and a prediction on a copy."""
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.XY), 3 * model.batch_size)), model.batch_size, 0.1)
    predict(scratch, Data(data.XY[:PREDICT_CHUNK], data.n_inputs))
    model.buffers = scratch.buffers  # keep the allocated buffers; the weights stay untouched
