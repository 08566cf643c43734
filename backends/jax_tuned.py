"""jax-tuned: all the batches of a `train` call in one compiled XLA loop, the row gather inside it.

backends/jax_plain.py calls a jitted step from Python once per batch. Here one jitted function
runs every batch of the call: a `lax.fori_loop` over a [capacity, B] array of row indices, each
iteration gathering its rows (`X[batch]`) from the dataset, which stays on the device, and taking
one SGD step, so neither Python nor jax's dispatcher runs between batches. The trip count is an
argument and the index array is padded to a fixed capacity (the batches of an epoch of the
dataset), so one compilation, made in `warmup`, serves an epoch and every slice of one the driver
passes. A short last batch is padded to B rows that are weighted 0 in the cost and divided by
its own B, so it needs no second compilation either. The parameters are donated to the call
(`donate_argnums`), so XLA updates them in place without copying them first.

Tried and not kept: gradients written by hand (XLA compiles them to the same kernels as
`jax.grad`); `lax.scan` over [n_batches, B] (the same loop body, but one compilation per number
of batches, so the driver's slices of an epoch compiled again inside the first timed epoch);
`scan(unroll=2, 4, 8)` (no faster, longer compiles); gathering the rows before the loop (an
extra pass over the data, slower); the weights stored transposed (slower); the bias folded into
the weights, XLA's fast-math, XNNPACK and fusion options (no gain beyond the noise).

Layers and parameters are numbered as in jax-plain (`params[l - 1]` holds `(W_l, b_l)`); jax, x64
mode, XLA's threads, the model and the dataset are backends/_jax_common.py's.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from backends import _jax_common as common

# available(), the model, the dataset and the weights handed back, as jax-plain has them: only the math differs
from backends._jax_common import Data, Model, available, load, load_data, weights  # noqa: F401 - the contract's
from backends.jax_plain import f, forward, predict  # the same forward pass and prediction: only training differs

name = "jax-tuned"
tier = "tuned"
summary = "JAX, all the batches of a call in one compiled XLA loop (fori_loop), rows gathered inside it"
dtypes = ("float32", "float64")


# ---------------------------------------------------------------- the math: forward, cost, gradient, update
def cost(params, X, Y, weight, activation: str, loss: str):
    """Summed over the batch: quadratic 1/2 sum (a_L - Y)^2, or cross-entropy -sum Y log softmax(z_L).

    Row r counts `weight[r]` times: 1 for the batch's rows, 0 for the padding that fills a short
    last batch up to B rows (x * 1 is exact, so a full batch's numbers are those without weights)."""
    z_L = forward(params, X, activation)
    if loss == "quadratic":
        return 0.5 * common.jnp.sum(weight[:, None] * (f(activation, z_L) - Y) ** 2)
    return -common.jnp.sum(weight[:, None] * Y * common.jax.nn.log_softmax(z_L))


def _batches(params, X, Y, idx, count, last_rows, lr, activation: str, loss: str):
    """SGD over the first `count` rows of `idx` [capacity, B], each a batch of dataset rows, in one loop;
    the last batch holds `last_rows` rows (B, or fewer at the end of an epoch)."""
    jax, jnp = common.jax, common.jnp

    def step(i, params):
        batch = idx[i]  # [B] row numbers
        B = jnp.where(i == count - 1, last_rows, idx.shape[1])  # rows in this batch
        weight = (jnp.arange(idx.shape[1]) < B).astype(X.dtype)  # [B] 1, or 0 for padding
        grads = jax.grad(cost)(params, X[batch], Y[batch], weight, activation, loss)  # [(grad_W_l, grad_b_l), ...]
        rate = (lr / B).astype(X.dtype)
        return jax.tree_util.tree_map(lambda p, g: p - rate * g, params, grads)  # W_l -= (lr / B) grad_W_l ...

    return jax.lax.fori_loop(0, count, step, params)


_jitted: dict = {}  # _batches jitted, made once jax is imported


def _loop(model: Model):
    """_batches, jitted with the parameters donated, for the model's activation and loss."""
    if _batches not in _jitted:
        _jitted[_batches] = common.jax.jit(_batches, static_argnames=("activation", "loss"), donate_argnums=(0,))
    return partial(_jitted[_batches], activation=model.activation, loss=model.loss)


def _capacity(data: Data, batch_size: int) -> int:
    """Batches the loop's index array holds: every batch of an epoch of the dataset."""
    return -(-data.X.shape[0] // batch_size)


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    loop, lr, B = _loop(model), float(lr), batch_size  # a NumPy scalar lr would promote a float32 model
    rows = np.asarray(rows, np.int32)
    n_batches, capacity = -(-len(rows) // B), _capacity(data, B)
    for first in range(0, n_batches, capacity):  # one call, unless rows holds more batches than an epoch
        count = min(capacity, n_batches - first)
        chunk = rows[first * B : (first + count) * B]
        idx = np.zeros(capacity * B, np.int32)  # past the chunk: padding (row 0), never read or weighted 0
        idx[: len(chunk)] = chunk
        model.params = loop(
            model.params, data.X, data.Y, idx.reshape(capacity, B), count, len(chunk) - (count - 1) * B, lr
        )
    common.jax.block_until_ready(model.params)  # jax returns before the work is done: the caller times train


# ---------------------------------------------------------------- warm-up
def warmup(model: Model, data: Data) -> None:
    """Compile the loop for this dataset (every call on it uses the same shapes) and prediction. The loop
    runs zero batches, on a copy (the parameters are donated): the model stays as it was."""
    jnp, B = common.jnp, model.batch_size
    scratch = [(jnp.copy(W), jnp.copy(b)) for W, b in model.params]
    scratch = _loop(model)(scratch, data.X, data.Y, np.zeros((_capacity(data, B), B), np.int32), 0, B, 0.0)
    predict(
        Model(scratch, model.activation, model.loss, B, model.threads),
        Data(data.X[: common.PREDICT_CHUNK], data.Y[: common.PREDICT_CHUNK]),
    )
