"""python: the baseline, plain lists of Python floats and the interpreter doing every multiply-add.

The analogue of the seed's `Vec<f32>` version: no array library in the arithmetic, so the figure
it gives is what the numeric substrate buys when there is none. It is written the way a competent
Python programmer writes for speed (dot products as `sum(map(mul, ...))`, comprehensions, `zip`,
functions bound to local names, one pass per weight row for gradient and update), and it is
deliberately nothing more: no numpy in the hot path, no C extension, no JIT, and no data-dependent
shortcut such as skipping zero pixels. numpy appears only at the boundary, to take the weights and
images in and to hand weights and predictions back. float64 only, because a Python float is one.

Layers are numbered as in docs/design.md and backends/numpy_plain.py: `W[1]`, `z[1]`, `a[1]`, `delta[2]`...
with `a[0]` the input batch; index 0 of `W`, `b` and `delta` is unused. A batch is a list of rows
(samples), each row a list of floats, so `z[l][r][j]` is neuron j of layer l for row r.
"""

from __future__ import annotations

from operator import mul

import numpy as np

from backends import _lists
from backends._lists import F_PRIME, Data, F, Model, lists, softmax

# available(), load_data() and weights() re-exported (`x as x`), as python-tuned has them: only the math differs
from backends._lists import available as available
from backends._lists import load_data as load_data
from backends._lists import weights as weights

name = "python-plain"
tier = "plain"
summary = "pure-Python lists of floats, every multiply-add in the interpreter (the baseline)"
dtypes = ("float64",)
threaded = False  # the interpreter runs it on one thread whatever --threads says


def load(weights, spec, dtype: str) -> Model:
    W, b = lists(weights)
    return Model(W, b, spec.activation, spec.loss)


# ---------------------------------------------------------------- the math: forward, backward, update
def _forward(m: Model, a0: list) -> tuple[list, list]:
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l); softmax output with cross-entropy. a0: the input rows."""
    L = len(m.W) - 1
    f = F[m.activation]
    z, a = [None] * (L + 1), [a0] + [None] * L
    for l in range(1, L + 1):
        W_l = list(zip(m.W[l], m.b[l]))  # (weight row, bias) per neuron
        z[l] = [[sum(map(mul, w, x)) + bias for w, bias in W_l] for x in a[l - 1]]  # [B][n_l]
        if l == L and m.loss == "cross-entropy":
            a[l] = [softmax(z_row) for z_row in z[l]]
        else:
            a[l] = [list(map(f, z_row)) for z_row in z[l]]
    return z, a


def _backward_update(m: Model, z: list, a: list, Y: list, lr: float) -> None:
    """Backpropagate the batch (after _forward) and take one SGD step, layer L down to 1.

    The gradients are summed over the batch and applied once. grad_W_l = delta_l^T a_{l-1} is built
    one weight row at a time: row j is, for each input i, the dot product of neuron j's deltas over
    the batch with input i's activations over the batch, so both operands are batch-long columns.
    """
    L = len(m.W) - 1
    f_prime = F_PRIME[m.activation]
    B = len(Y)
    step = lr / B
    delta = [None] * (L + 1)
    # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
    if m.loss == "quadratic":
        delta[L] = [
            [(av - yv) * f_prime(zv, av) for zv, av, yv in zip(z_row, a_row, y_row)]
            for z_row, a_row, y_row in zip(z[L], a[L], Y)
        ]
    else:
        delta[L] = [[av - yv for av, yv in zip(a_row, y_row)] for a_row, y_row in zip(a[L], Y)]
    for l in range(L, 0, -1):
        delta_cols = list(zip(*delta[l]))  # [n_l][B]: each neuron's deltas over the batch
        a_cols = list(zip(*a[l - 1]))  # [n_{l-1}][B]: each input's activations over the batch
        grad_W = [[sum(map(mul, d, x)) for x in a_cols] for d in delta_cols]  # delta_l^T a_{l-1}  [n_l][n_{l-1}]
        grad_b = [sum(d) for d in delta_cols]  # sum over rows of delta_l  [n_l]
        if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
            W_cols = list(zip(*m.W[l]))  # [n_{l-1}][n_l]
            delta[l - 1] = [
                [sum(map(mul, d_row, w)) * f_prime(zv, av) for w, zv, av in zip(W_cols, z_row, a_row)]
                for d_row, z_row, a_row in zip(delta[l], z[l - 1], a[l - 1])
            ]
        # update: W_l -= (lr / B) grad_W_l,  b_l -= (lr / B) grad_b_l
        m.W[l] = [[w - step * g for w, g in zip(w_row, g_row)] for w_row, g_row in zip(m.W[l], grad_W)]
        m.b[l] = [bias - step * g for bias, g in zip(m.b[l], grad_b)]


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    X, Y = data.X, data.Y
    rows = np.asarray(rows).tolist()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        z, a = _forward(model, [X[i] for i in batch])  # a_0 = X  [B][784]
        _backward_update(model, z, a, [Y[i] for i in batch], lr)


# ---------------------------------------------------------------- inference
def predict(model: Model, data: Data) -> np.ndarray:
    return _lists.predict(_forward, model, data)
