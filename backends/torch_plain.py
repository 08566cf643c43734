"""torch-plain: PyTorch as its tutorials write it: `nn.Linear` layers, a scalar loss, `loss.backward()`, SGD.

The network is an `nn.ModuleList` of `nn.Linear` layers (W_l of shape [n_l, n_{l-1}], as the design's),
the cost is a scalar tensor, autograd derives the backward pass and `torch.optim.SGD` takes the step,
with `zero_grad()` before each batch. The design's update is W -= (lr / B) grad C with C summed over
the batch, so the loss is C / B (cross-entropy's `reduction="mean"` is exactly that) and SGD's rate is
lr. It is deliberately nothing more: no preallocated buffers, no in-place kernels, no gradients by
hand, no flush-to-zero (those are backends/torch_tuned.py's), and no `torch.compile`.

torch's intra-op thread pool is set to the BLAS thread count in force (what `--threads` set), as the
harness requires of every backend. Without torch the module still imports, and `available()` says why.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from backends._optional import optional_import, require, set_torch_threads

name = "torch-plain"
tier = "plain"
summary = "PyTorch as tutorials write it: nn.Linear layers, loss.backward(), torch.optim.SGD"
dtypes = ("float32", "float64")

torch, _MISSING = optional_import("torch", "torch")  # (None, why) where torch cannot be imported


def available() -> str | None:
    return _MISSING


@dataclass
class Data:
    X: object  # torch.Tensor [n, 784] pixels / 255
    labels: object  # torch.Tensor [n] int64


@dataclass
class Model:
    linears: object  # torch.nn.ModuleList: linears[l - 1] is layer l, weight W_l [n_l, n_{l-1}], bias b_l
    f: object  # the activation: torch.sigmoid, torch.tanh or torch.relu
    loss: str


def load(weights, spec, dtype: str) -> Model:
    require(sys.modules[__name__])
    set_torch_threads(torch)
    nn, layers = torch.nn, spec.layers
    linears = nn.ModuleList(
        nn.Linear(n_in, n_out, dtype=getattr(torch, dtype)) for n_in, n_out in zip(layers, layers[1:])
    )
    with torch.no_grad():
        for linear, (W, b) in zip(linears, weights):
            linear.weight.copy_(torch.from_numpy(np.asarray(W, np.float64)))
            linear.bias.copy_(torch.from_numpy(np.asarray(b, np.float64)))
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[spec.activation]
    return Model(linears, f, spec.loss)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    require(sys.modules[__name__])
    X = torch.tensor(images, dtype=getattr(torch, dtype)) / 255
    return Data(X, torch.from_numpy(labels.astype(np.int64)))


def weights(model: Model):
    # astype copies, so the caller never holds a view of the live model
    return [
        (m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64))
        for m in model.linears
    ]


# ---------------------------------------------------------------- the math: forward, loss, backward, update
def forward(model: Model, a):
    """z_L for a batch a_0 = X [B, 784]: z_l = a_{l-1} W_l^T + b_l, a_l = f(z_l) below the output layer."""
    for linear in model.linears[:-1]:
        a = model.f(linear(a))  # a_l = f(z_l)  [B, n_l]
    return model.linears[-1](a)  # z_L  [B, 10]


def _output(model: Model, z_L):
    """a_L: f(z_L), or softmax(z_L) with cross-entropy."""
    return torch.softmax(z_L, dim=1) if model.loss == "cross-entropy" else model.f(z_L)


def _loss(model: Model, z_L, y):
    """C / B: quadratic 1/2 sum (a_L - Y)^2, or cross-entropy -sum Y log softmax(z_L)."""
    if model.loss == "cross-entropy":
        return torch.nn.functional.cross_entropy(z_L, y)  # reduction="mean": divided by B
    a_L = _output(model, z_L)
    Y = torch.nn.functional.one_hot(y, 10).to(a_L.dtype)  # [B, 10]
    return 0.5 * ((a_L - Y) ** 2).sum() / len(y)


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    optimizer = torch.optim.SGD(model.linears.parameters(), lr=lr)
    rows = torch.from_numpy(np.asarray(rows, np.int64))
    for batch in torch.split(rows, batch_size):  # the last batch may be short
        optimizer.zero_grad()
        loss = _loss(model, forward(model, data.X[batch]), data.labels[batch])
        loss.backward()
        optimizer.step()  # W_l -= lr grad_W_l (C / B): the design's (lr / B) grad of C


def predict(model: Model, data: Data) -> np.ndarray:
    with torch.no_grad():
        return _output(model, forward(model, data.X)).argmax(dim=1).numpy()  # argmax of a_L
