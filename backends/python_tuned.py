"""python-tuned: pure-Python lists of floats, as fast as the interpreter alone can train the network.

The tuned tier of backends/python_plain.py, under the same rules: Python floats in Python lists, no
numpy in the math (only at the boundary, to take weights and images in and to hand weights and
predictions back), no third-party C extension, no JIT, and no data-dependent shortcut: a zero pixel
is multiplied like any other (a product with 0.0 adds exactly nothing, so skipping them would give
the same weights, but it would time the images' sparsity rather than the substrate). float64 only,
because a Python float is one.

What plain Python spends its time on is not the arithmetic but the interpreter's work around each
multiply-add: a call through `map` per product, columns rebuilt with `zip(*...)` every batch, one
pass over the weights for the gradient and another for the update. Two kernels cut that down, each
generated as source for a given number of batch rows and compiled once (see `_kernel`):

- `affine`: z_l = a_{l-1} W_l^T + b_l in one pass over each group of `BLOCK` weight rows, keeping
  every row of the batch's running sums for those neurons in local variables;
- `subtract_outer`: W_l - (lr / B) delta_l^T a_{l-1} in one pass over each group of weight rows,
  gradient and update fused, so grad_W_l is never built. Scaling delta by lr / B before the sum
  changes only the rounding, far inside the conformance tolerance.

Every multiply-add runs as interpreter bytecode, on every Python version: `math.sumprod` (3.12+)
would hand the forward's dot products to a C loop, and the row would then measure the standard
library rather than the interpreter. Batches longer than `UNROLL` rows go through the kernels in pieces, so that a
large --batch-size does not generate an expression too deep to compile. The rest (activations, the
deltas) is a small share of the work and written as in the plain tier.

Layers are numbered as in docs/design.md: `W[1]`, `z[1]`, `a[1]`, `delta[2]`... with `a[0]` the input
batch; index 0 of `W`, `b` and `delta` is unused. A batch is a list of rows (samples): `z[l][r][j]`
is neuron j of layer l for row r.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from operator import mul

import numpy as np

from backends import _lists
from backends._lists import F_PRIME, Data, F, lists, softmax

# available(), load_data() and weights() re-exported (`x as x`), as python-plain has them: only the math differs
from backends._lists import available as available
from backends._lists import load_data as load_data
from backends._lists import weights as weights

name = "python-tuned"
tier = "tuned"
summary = "pure-Python lists of floats, generated kernels that cut the interpreter's work per multiply-add"
dtypes = ("float64",)
threaded = False  # the interpreter runs it on one thread whatever --threads says


@dataclass
class Model(_lists.Model):
    batch_size: int = 0  # what load prepared the kernels for


def load(weights, spec, dtype: str) -> Model:
    _prepare(spec.batch_size, spec.layers[1:])
    W, b = lists(weights)
    return Model(W, b, spec.activation, spec.loss, spec.batch_size)


def warmup(model: Model, data: Data) -> None:
    """Compile the kernels of the epoch's short last batch, if it has one."""
    _prepare(len(data.X) % model.batch_size, [len(W) for W in model.W[1:]])


# ---------------------------------------------------------------- machinery: the generated kernels
UNROLL = 32  # the most batch rows one kernel call takes; longer batches go through in pieces
BLOCK = 4  # neurons one pass over the weights covers; a layer's last pass takes the rest


def _names(prefix: str, n: int, sep: str = ", ") -> str:
    return sep.join(f"{prefix}{r}" for r in range(n))


def _affine_source(n: int, k: int) -> str:
    """z = a W^T + b for n rows: per k weight rows, one pass that accumulates all n rows' k sums."""
    sums = [[f"s{q}_{r}" for r in range(n)] for q in range(k)]
    accumulate = "".join(f"            s{q}_{r} += w{q} * v{r}\n" for q in range(k) for r in range(n))
    emit = "".join(f"        z_cols.append(({', '.join(f'{s} + b{q}' for s in sums[q])},))\n" for q in range(k))
    return (
        f"def affine(W, b, rows):\n"
        f"    {_names('a', n)}, = rows\n"
        f"    z_cols = []\n"
        f"    for j in range(0, len(W), {k}):\n"
        f"        {_names('w_row', k)}, = W[j : j + {k}]\n"
        f"        {_names('b', k)}, = b[j : j + {k}]\n"
        f"        {' = '.join(s for row in sums for s in row)} = 0.0\n"
        f"        for {_names('w', k)}, {_names('v', n)} in zip({_names('w_row', k)}, {_names('a', n)}):\n"
        f"{accumulate}"
        f"{emit}"
        f"    return z_cols\n"
    )


def _subtract_outer_source(n: int, k: int) -> str:
    """W - step delta^T a for n rows: per k weight rows, one pass that sums the n rows' terms of each."""
    scale = "".join(
        f"        {', '.join(f'c{q}_{r}' for r in range(n))}, = [step * d for d in delta_cols[j + {q}]]\n"
        f"        w_new{q} = []\n        append{q} = w_new{q}.append\n"
        for q in range(k)
    )
    update = "".join(
        f"            append{q}(w{q} - ({' + '.join(f'c{q}_{r} * v{r}' for r in range(n))}))\n" for q in range(k)
    )
    return (
        f"def subtract_outer(W, step, delta_cols, rows):\n"
        f"    {_names('a', n)}, = rows\n"
        f"    W_new = []\n"
        f"    for j in range(0, len(W), {k}):\n"
        f"{scale}"
        f"        for {_names('w', k)}, {_names('v', n)} in zip(*W[j : j + {k}], {_names('a', n)}):\n"
        f"{update}"
        f"        W_new += {_names('w_new', k)},\n"
        f"    return W_new\n"
    )


@cache
def _kernel(kind: str, n: int, k: int):
    """The kernel `kind` for n rows and k neurons a pass, compiled from source because only generated
    code keeps that many running sums in local variables, for sizes known only at run time."""
    source = {"affine": _affine_source, "subtract_outer": _subtract_outer_source}[kind](n, k)
    namespace: dict = {}
    exec(compile(source, f"<python_tuned {kind} {n}x{k}>", "exec"), namespace)
    return namespace[kind]


def _neuron_blocks(n_neurons: int) -> list:
    """(neuron slice, k) of the passes over a layer's weights: BLOCK neurons a pass, then the rest."""
    head = n_neurons - n_neurons % BLOCK
    return [(slice(0, head), BLOCK)] * (head > 0) + [(slice(head, n_neurons), n_neurons - head)] * (head < n_neurons)


def _row_pieces(n_rows: int):
    """(row slice, n) of the kernel calls for a batch of n_rows: UNROLL rows a call at most."""
    return [(slice(start, start + UNROLL), min(UNROLL, n_rows - start)) for start in range(0, n_rows, UNROLL)]


def _prepare(n_rows: int, n_outs) -> None:
    """Compile every kernel a batch of n_rows needs, for layers of n_outs neurons, so that no timed
    epoch pays for it."""
    kinds = ("affine", "subtract_outer")
    for _, n in _row_pieces(n_rows):
        for n_out in n_outs:
            for _, k in _neuron_blocks(n_out):
                for kind in kinds:
                    _kernel(kind, n, k)


def _affine(W: list, b: list, rows: list) -> list:
    """a W^T + b  [len(rows)][len(W)], through the kernels."""
    z = []
    for row_slice, n in _row_pieces(len(rows)):
        z_cols = []
        for j, k in _neuron_blocks(len(W)):
            z_cols += _kernel("affine", n, k)(W[j], b[j], rows[row_slice])
        z += zip(*z_cols)
    return z


def _subtract_outer(W: list, step: float, delta: list, rows: list) -> list:
    """W - step delta^T a, through the kernels; delta and rows have one row per sample."""
    for row_slice, n in _row_pieces(len(rows)):
        delta_cols = list(zip(*delta[row_slice]))  # [n_out][n]: each neuron's deltas over these rows
        W_new = []
        for j, k in _neuron_blocks(len(W)):
            W_new += _kernel("subtract_outer", n, k)(W[j], step, delta_cols[j], rows[row_slice])
        W = W_new
    return W


# ---------------------------------------------------------------- the math: forward, backward, update
def _forward(m: Model, a0: list) -> tuple[list, list]:
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l); softmax output with cross-entropy. a0: the input rows."""
    L = len(m.W) - 1
    f = F[m.activation]
    z, a = [None] * (L + 1), [a0] + [None] * L
    for l in range(1, L + 1):
        z[l] = _affine(m.W[l], m.b[l], a[l - 1])  # [B][n_l]
        if l == L and m.loss == "cross-entropy":
            a[l] = [softmax(z_row) for z_row in z[l]]
        else:
            a[l] = [list(map(f, z_row)) for z_row in z[l]]
    return z, a


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    X, Y, W, b = data.X, data.Y, model.W, model.b
    L = len(W) - 1
    f_prime = F_PRIME[model.activation]
    rows = np.asarray(rows).tolist()
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        B = len(batch)  # the last batch may be short
        step = lr / B
        z, a = _forward(model, [X[i] for i in batch])  # a_0 = X  [B][784]
        delta = [None] * (L + 1)
        # output: quadratic cost   delta_L = (a_L - Y) * f'(z_L);   softmax + cross-entropy   delta_L = a_L - Y
        if model.loss == "quadratic":
            delta[L] = [
                [(av - yv) * f_prime(zv, av) for zv, av, yv in zip(z_row, a_row, Y[i])]
                for z_row, a_row, i in zip(z[L], a[L], batch)
            ]
        else:
            delta[L] = [[av - yv for av, yv in zip(a_row, Y[i])] for a_row, i in zip(a[L], batch)]
        for l in range(L, 0, -1):
            grad_b = [sum(d) for d in zip(*delta[l])]  # sum over rows of delta_l  [n_l]
            if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
                W_cols = list(zip(*W[l]))  # [n_{l-1}][n_l]
                delta[l - 1] = [
                    [sum(map(mul, d_row, w)) * f_prime(zv, av) for w, zv, av in zip(W_cols, z_row, a_row)]
                    for d_row, z_row, a_row in zip(delta[l], z[l - 1], a[l - 1])
                ]
            # update: W_l -= (lr / B) grad_W_l with grad_W_l = delta_l^T a_{l-1}, fused;  b_l -= (lr / B) grad_b_l
            W[l] = _subtract_outer(W[l], step, delta[l], a[l - 1])
            b[l] = [bias - step * g for bias, g in zip(b[l], grad_b)]


# ---------------------------------------------------------------- inference
def predict(model: Model, data: Data) -> np.ndarray:
    return _lists.predict(_forward, model, data)
