"""jax-plain: JAX as a user writes it first: a cost function, `jax.grad`, one jitted step per batch.

The parameters are a list of `(W, b)` arrays, the cost is the design's (quadratic with the
activation on the output, or cross-entropy on a softmax output), `jax.grad` derives the backward
pass, and the SGD update is a `tree_map` over the parameters. The step is `jax.jit`-ed and called
from a Python loop over the batches with the batch's row indices; it gathers its rows from the
dataset, which stays on the device and is passed whole (by reference), because all of a step goes
under `jit` in JAX: indexing a device array from Python dispatches several operations one by one
and costs several times the step itself. A short last batch is a second shape, so a second trace.
It is deliberately nothing more: no loop in compiled code, no buffer donation; those live in
backends/jax_tuned.py.

Layers are numbered from 1 as in the design: `params[l - 1]` holds `(W_l, b_l)`, W_l of shape
[n_l, n_{l-1}]. jax, x64 mode, XLA's threads, the model and the dataset: backends/_jax_common.py.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from backends import _jax_common as common

# available(), the model, the dataset and the weights handed back, as jax-tuned has them: only the math differs
from backends._jax_common import Data, Model, available, load, load_data, weights  # noqa: F401 - the contract's

name = "jax-plain"
tier = "plain"
summary = "JAX as a user writes it first: a cost function, jax.grad, a jitted step called once per batch"
dtypes = ("float32", "float64")


# ---------------------------------------------------------------- the math: forward, cost, gradient, update
def f(kind: str, z):
    jax = common.jax
    return {"sigmoid": jax.nn.sigmoid, "tanh": common.jnp.tanh, "relu": jax.nn.relu}[kind](z)


def forward(params, X, activation: str):
    """z_L for a batch X [B, 784]: z_l = a_{l-1} W_l^T + b_l, a_l = f(z_l) below the output layer."""
    a = X  # a_0
    for W, b in params[:-1]:
        z = a @ W.T + b  # z_l  [B, n_l]
        a = f(activation, z)  # a_l
    W, b = params[-1]
    return a @ W.T + b  # z_L  [B, 10]


def cost(params, X, Y, activation: str, loss: str):
    """Summed over the batch: quadratic 1/2 sum (a_L - Y)^2, or cross-entropy -sum Y log softmax(z_L)."""
    z_L = forward(params, X, activation)
    if loss == "quadratic":
        return 0.5 * common.jnp.sum((f(activation, z_L) - Y) ** 2)
    return -common.jnp.sum(Y * common.jax.nn.log_softmax(z_L))


def _step(params, X, Y, batch, lr, activation: str, loss: str):
    """One SGD step on the dataset rows `batch`: W_l -= (lr / B) grad_W_l, b_l -= (lr / B) grad_b_l."""
    grads = common.jax.grad(cost)(params, X[batch], Y[batch], activation, loss)  # [(grad_W_l, grad_b_l), ...]
    B = len(batch)  # the last batch may be short
    return common.jax.tree_util.tree_map(lambda p, g: p - (lr / B) * g, params, grads)


_jitted: dict = {}  # the jitted functions, made once jax is imported


def _jit(fn, **static):
    if fn not in _jitted:
        _jitted[fn] = common.jax.jit(fn, static_argnames=tuple(static))
    return partial(_jitted[fn], **static)


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    step = _jit(_step, activation=model.activation, loss=model.loss)
    lr = float(lr)  # a NumPy scalar lr would promote a float32 model to float64
    rows = np.asarray(rows)
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        model.params = step(model.params, data.X, data.Y, batch, lr)
    common.jax.block_until_ready(model.params)  # jax returns before the work is done: the caller times train


# ---------------------------------------------------------------- inference and warm-up
def _classes(params, X, activation: str, loss: str):
    z_L = forward(params, X, activation)
    a_L = common.jax.nn.softmax(z_L) if loss == "cross-entropy" else f(activation, z_L)
    return a_L.argmax(axis=1)  # of a_L, not z_L: a_L may tie where z_L does not (relu, a saturated sigmoid)


def predict(model: Model, data: Data) -> np.ndarray:
    return common.predict(_jit(_classes, activation=model.activation, loss=model.loss), model.params, data)


def warmup(model: Model, data: Data) -> None:
    """Trace and compile the step for a full batch and for the epoch's short last batch, if it has one,
    and prediction, on a copy: steps replace `scratch.params` only, so the model stays as it was."""
    scratch = Model(model.params, model.activation, model.loss, model.batch_size, model.threads)
    n, B = data.X.shape[0], model.batch_size
    train(scratch, data, np.arange(min(n, B)), B, 0.1)
    if n % B and n > B:
        train(scratch, data, np.arange(n % B), B, 0.1)
    predict(scratch, Data(data.X[: common.PREDICT_CHUNK], data.Y[: common.PREDICT_CHUNK]))
