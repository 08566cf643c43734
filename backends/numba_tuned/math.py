"""The network's math, compiled: each batch's forward pass, backward pass and SGD update.

docs/design.md's equations, with its names. The default network, one hidden layer, has its own
kernel with every array named (`train_one_hidden`, first below); any other layer list runs the
general one (`train_layers`, with `W[l]`, `z[l]`, ... and `a[0]` the input batch, as in
backends/numpy_plain.py, the clearest statement of the network). Both loop over the batches in
compiled code and call the same blocked products (kernels.py: `affine` for a_{l-1} W_l^T + b_l,
`backprop` for delta_l W_l, `sgd_step` for W_l -= (lr / B) delta_l^T a_{l-1}, the gradient never
stored). With threads sharing the batches, threads.py runs `train_one_hidden`'s math split by units.

The kernels take three bundles, `net` (the model's arrays), `data` (the images) and `buf` (the
step's intermediate arrays), with the fields of Net, Data and Buffers below, and unpack them by
position in their first lines (the one-hidden-layer kernels through `one_hidden`, which names each
array). The callers pass them as plain tuples: numba's dispatcher types a tuple of arrays in C, but
a namedtuple in Python, array by array, on every call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .compiler import JIT, njit
from .kernels import affine, backprop, div255, exp, load_batch, sgd_step

SIGMOID, TANH, RELU = 0, 1, 2
QUADRATIC, CROSS_ENTROPY = 0, 1


class Net(NamedTuple):
    """The model's arrays; rows are padded to whole cache lines (kernels.padded), the padding zero."""

    sizes: np.ndarray  # n_0 = 784, n_1, ..., n_L = 10 (int64)
    W: tuple  # W[l]: [n_l, n_{l-1}] in the first n_{l-1} columns of a padded array; W[0] a placeholder
    b: tuple  # b[l]: [n_l]; b[0] a placeholder
    activation: int  # SIGMOID, TANH or RELU
    loss: int  # QUADRATIC or CROSS_ENTROPY


class Data(NamedTuple):
    X: np.ndarray  # [n, 784] uint8 pixels: a batch's rows become pixels / 255 as they are gathered
    labels: np.ndarray  # [n] uint8 (0-9); Y is their one-hot
    scale: np.ndarray  # [137, 1 / (255 * 137)] in the model's dtype, correctly rounded (kernels.div255)


class Buffers(NamedTuple):
    """Every intermediate array of one step for up to B rows: [B, n_l] per layer, padded."""

    z: tuple  # z[0] a placeholder
    a: tuple  # a[0]: the input batch
    delta: tuple  # delta[0] a placeholder


# ---------------------------------------------------------------- the math: forward, backward, update
@njit(**JIT)
def train_one_hidden(net, data, rows, batch_size, lr, buf):
    """SGD over `rows` in consecutive batches of `batch_size` for layers n0, n1, n2 (784, 36, 10)."""
    (n0, n1, n2), (W1, b1, W2, b2), (z1, z2), (a0, a1, a2), (delta1, delta2) = one_hidden(net, buf)
    X, labels, scale = data
    _, _, _, activation, loss = net
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)
        load_batch(X, scale, rows, start, B, batch_size, a0, n0)  # a0 = X batch / 255  [B, 784]
        # forward: z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)
        affine(a0, W1, b1, z1, B, n0, n1)  # z1 = a0 W1^T + b1  [B, n1]
        f(activation, z1, a1, B, n1)  # a1 = f(z1)
        affine(a1, W2, b2, z2, B, n1, n2)  # z2 = a1 W2^T + b2  [B, 10]
        output(activation, loss, z2, a2, B, n2)  # a2 = f(z2), or softmax(z2)
        # backward: delta2 from the loss; hidden delta1 = (delta2 W2) * f'(z1), with W2 before its update
        output_delta(activation, loss, z2, a2, labels, rows, start, delta2, B, n2)  # [B, 10]
        backprop(delta2, W2, delta1, B, n1, n2)  # delta1 = delta2 W2  [B, n1]
        times_f_prime(activation, z1, a1, delta1, B, n1)  # delta1 *= f'(z1)
        # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
        eta = a0.dtype.type(lr / B)  # in the model's dtype
        sgd_step(delta2, a1, W2, b2, eta, B, n1, n2)  # W2 -= eta delta2^T a1,  b2 -= eta (sum of delta2's rows)
        sgd_step(delta1, a0, W1, b1, eta, B, n0, n1)  # W1 -= eta delta1^T a0,  b1 -= eta (sum of delta1's rows)


@njit(**JIT)
def one_hidden(net, buf):
    """The arrays of a one-hidden-layer network by the design's names, for the kernels above and below:
    (n0, n1, n2), (W1, b1, W2, b2), (z1, z2), (a0, a1, a2), (delta1, delta2)."""
    sizes, (_, W1, W2), (_, b1, b2), _, _ = net
    (_, z1, z2), (a0, a1, a2), (_, delta1, delta2) = buf
    return (sizes[0], sizes[1], sizes[2]), (W1, b1, W2, b2), (z1, z2), (a0, a1, a2), (delta1, delta2)


# The parts of train_one_hidden's step that `bench profile` times one at a time (bits of `parts`).
LOAD, FORWARD1, SMALL, BACKWARD1, UPDATE1 = 1, 2, 4, 8, 16
ALL_PARTS = LOAD | FORWARD1 | SMALL | BACKWARD1 | UPDATE1


@njit(**JIT)
def train_parts(parts, net, data, rows, batch_size, lr, buf):
    """train_one_hidden's batches running only the parts whose bits are set in `parts`, for
    `bench profile` (the `profile_parts` hook in __init__.py): the same calls in the same order, so a
    part runs alone as it does in the step, on whatever the buffers hold from the last full step."""
    (n0, n1, n2), (W1, b1, W2, b2), (z1, z2), (a0, a1, a2), (delta1, delta2) = one_hidden(net, buf)
    X, labels, scale = data
    _, _, _, activation, loss = net
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)
        eta = a0.dtype.type(lr / B)
        if parts & LOAD:  # the batch load
            load_batch(X, scale, rows, start, B, batch_size, a0, n0)
        if parts & FORWARD1:  # forward layer 1
            affine(a0, W1, b1, z1, B, n0, n1)
            f(activation, z1, a1, B, n1)
        if parts & SMALL:  # the small layer, 36 -> 10: its forward pass, delta2 and its update
            affine(a1, W2, b2, z2, B, n1, n2)
            output(activation, loss, z2, a2, B, n2)
            output_delta(activation, loss, z2, a2, labels, rows, start, delta2, B, n2)
        if parts & BACKWARD1:  # backward into layer 1, with W2 before its update
            backprop(delta2, W2, delta1, B, n1, n2)
            times_f_prime(activation, z1, a1, delta1, B, n1)
        if parts & SMALL:
            sgd_step(delta2, a1, W2, b2, eta, B, n1, n2)
        if parts & UPDATE1:  # W1's update
            sgd_step(delta1, a0, W1, b1, eta, B, n0, n1)


@njit(**JIT)
def train_layers(net, data, rows, batch_size, lr, buf):
    """SGD over `rows` in consecutive batches of `batch_size`, for any layer list (tuples by layer)."""
    sizes, W, b, activation, loss = net
    X, labels, scale = data
    z, a, delta = buf
    L = len(W) - 1
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)
        load_batch(X, scale, rows, start, B, batch_size, a[0], sizes[0])  # a[0] = X batch / 255
        forward(net, buf, B)
        output_delta(activation, loss, z[L], a[L], labels, rows, start, delta[L], B, sizes[L])
        eta = a[0].dtype.type(lr / B)  # in the model's dtype
        for l in range(L, 0, -1):
            if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
                backprop(delta[l], W[l], delta[l - 1], B, sizes[l - 1], sizes[l])
                times_f_prime(activation, z[l - 1], a[l - 1], delta[l - 1], B, sizes[l - 1])
            # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
            sgd_step(delta[l], a[l - 1], W[l], b[l], eta, B, sizes[l - 1], sizes[l])


@njit(**JIT)
def forward(net, buf, B):
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l), l = 1..L, for the first B rows; the input in a[0]."""
    sizes, W, b, activation, loss = net
    z, a, _ = buf
    L = len(W) - 1
    for l in range(1, L):
        affine(a[l - 1], W[l], b[l], z[l], B, sizes[l - 1], sizes[l])  # z[l] [B, n_l]
        f(activation, z[l], a[l], B, sizes[l])
    affine(a[L - 1], W[L], b[L], z[L], B, sizes[L - 1], sizes[L])
    output(activation, loss, z[L], a[L], B, sizes[L])


@njit(**JIT)
def predict_rows(net, data, buf, out):
    """out = argmax of a_L for every row of X, in chunks of the buffers' rows."""
    sizes, W = net[0], net[1]
    X, _, scale = data
    a = buf[1]
    L = len(W) - 1
    a0 = a[0]
    k, c = scale[0], scale[1]
    for start in range(0, X.shape[0], a0.shape[0]):
        B = min(a0.shape[0], X.shape[0] - start)
        for s in range(B):
            for i in range(sizes[0]):
                a0[s, i] = div255(a0.dtype.type(X[start + s, i]), k, c)
        forward(net, buf, B)
        for s in range(B):
            out[start + s] = np.argmax(a[L][s, : sizes[L]])


# ---------------------------------------------------------------- activations and loss
# These loops run over each row's whole padded width (a.shape[1], whole cache lines) rather than its
# n values: whole vectors, no scalar remainder (n = 10 or 36 is mostly remainder). The padding of z
# and delta is zero, so a's padding holds f(0), finite; only `affine` reads it.
@njit(**JIT)
def f(kind, z, a, B, n):
    """a = f(z) on the first B rows and (at least) n columns."""
    one, zero = z.dtype.type(1), z.dtype.type(0)
    width = a.shape[1]
    if kind == SIGMOID:  # 1 / (1 + e^-z); e^-z may overflow to inf, giving the right limit 0
        for s in range(B):
            for j in range(width):
                a[s, j] = one / (one + exp(-z[s, j]))
    elif kind == TANH:
        for s in range(B):
            for j in range(width):
                a[s, j] = np.tanh(z[s, j])
    else:  # relu
        for s in range(B):
            for j in range(width):
                a[s, j] = max(z[s, j], zero)


@njit(**JIT)
def times_f_prime(kind, z, a, delta, B, n):
    """delta *= f'(z) on the first B rows and (at least) n columns, from a = f(z) where that is cheaper."""
    one = z.dtype.type(1)
    width = a.shape[1]
    if kind == SIGMOID:  # a (1 - a)
        for s in range(B):
            for j in range(width):
                delta[s, j] *= a[s, j] * (one - a[s, j])
    elif kind == TANH:  # 1 - a^2
        for s in range(B):
            for j in range(width):
                delta[s, j] *= one - a[s, j] * a[s, j]
    else:  # relu: 1 where z > 0
        for s in range(B):
            for j in range(width):
                if z[s, j] <= 0:
                    delta[s, j] = 0


@njit(**JIT)
def softmax(z, a, B, n):
    for s in range(B):
        top = z[s, 0]
        for k in range(n):
            top = max(top, z[s, k])
        total = z.dtype.type(0)
        for k in range(n):
            a[s, k] = exp(z[s, k] - top)  # shifted for stability
            total += a[s, k]
        for k in range(n):
            a[s, k] /= total


@njit(**JIT)
def output(kind, loss, z, a, B, n):
    """a_L from z_L: f, or softmax with cross-entropy."""
    if loss == CROSS_ENTROPY:
        softmax(z, a, B, n)
    else:
        f(kind, z, a, B, n)


@njit(**JIT)
def output_delta(kind, loss, z, a, labels, rows, start, delta, B, n):
    """quadratic cost: delta_L = (a_L - Y) * f'(z_L);   softmax with cross-entropy: delta_L = a_L - Y."""
    for s in range(B):
        y = labels[rows[start + s]]
        for k in range(n):
            delta[s, k] = a[s, k] - (a.dtype.type(1) if k == y else a.dtype.type(0))
    if loss == QUADRATIC:
        times_f_prime(kind, z, a, delta, B, n)
