"""numba-tuned: the whole epoch in one compiled call, the layer products blocked for the vector registers.

`train` hands every row it is given to one @njit kernel, which loops over the batches and runs each
batch's forward pass, backward pass and SGD update in compiled code: no Python per batch. The math
is in math.py, one block top to bottom with docs/design.md's names (`z1`, `a1`, `delta2`, ...);
this file is the backend contract around it. backends/numpy_plain.py remains the clearest statement
of the network; this package is the fast one, and its machinery lives beside the math:

- kernels.py, the loops the math calls: the two big products of a layer, `a_{l-1} W_l^T` and
  `W_l -= (lr/B) delta_l^T a_{l-1}`, blocked so that LLVM keeps partial sums in vector registers;
  steps smaller than the smallest normal float dropped (they change no weight, and a subnormal makes
  a vector FMA many times slower); the images kept uint8 (4x fewer bytes to gather), made x / 255
  bit for bit as numpy's as a batch is copied in, the next batch prefetched meanwhile; an exp that
  vectorizes for float32 sigmoid. Rows are padded to whole cache lines (weights' wide rows further,
  as the blocking wants: `kernels.padded`), and the small layers' loops run along a row's whole
  padded width.
- threads.py: with one hidden layer and T > 1 threads (`--threads`, numba's thread count), the T
  threads share every batch, each owning a share of the hidden units, behind one spinning barrier per
  batch; deeper networks run on one thread.
- compiler.py: the compiler flags, the CPU the kernels are compiled for (`TARGET`: AVX-512, AVX2 with
  FMA, or generic; kernels.py blocks `affine` to fit its vector registers), 512-bit vectors where the
  CPU has them, the on-disk cache, and the LLVM intrinsics.

What each of these bought, as measured: docs/kernels.md. Kernels are cached on disk (cache=True):
only the first process to use a configuration compiles it, and `warmup` does that before any timing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from . import math, threads
from .compiler import MISSING, numba
from .kernels import copied, div255_factors, padded
from .math import Buffers, Data, Net

name = "numba-tuned"
tier = "tuned"
summary = "numba JIT: the epoch in one compiled call, layer products blocked for vector registers"
dtypes = ("float32", "float64")
threaded = True  # with one hidden layer, threads share each batch

ACTIVATIONS = {"sigmoid": math.SIGMOID, "tanh": math.TANH, "relu": math.RELU}
LOSSES = {"quadratic": math.QUADRATIC, "cross-entropy": math.CROSS_ENTROPY}
PREDICT_CHUNK = 500  # rows per forward pass in predict


def available() -> str | None:
    return MISSING


@dataclass
class Model:
    net: Net  # the weights and the network's shape, as the kernels take them
    batch_size: int = 10  # the spec's, which `warmup` prepares for
    buffers: dict = field(default_factory=dict)  # batch size -> math.Buffers
    crew: threads.Crew | None = None  # the helper threads, when threads share the batches
    split: list | None = None  # each thread's hidden units lo:hi, measured in warm-up (threads.measured_split)

    def __deepcopy__(self, memo):  # the weights only, on pages as `load` puts them; buffers and threads stay
        W, b = tuple(copied(W) for W in self.net.W), tuple(copied(b) for b in self.net.b)
        return Model(self.net._replace(W=W, b=b), self.batch_size)


def load(weights, spec, dtype: str) -> Model:
    W, b = [np.zeros((0, 0), dtype)], [np.zeros(0, dtype)]
    for w, bias in weights:
        W.append(padded(*w.shape, dtype))
        W[-1][:, : w.shape[1]] = w
        b.append(np.array(bias, dtype=dtype))
    sizes = np.array(spec.layers, dtype=np.int64)
    net = Net(sizes, tuple(W), tuple(b), ACTIVATIONS[spec.activation], LOSSES[spec.loss])
    return Model(net, spec.batch_size)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    """The pixels stay uint8 (47 MB for MNIST's 60,000 rows, not 188 MB of float32): each batch is
    gathered from random rows, and 4x fewer bytes make that gather cheaper; each pixel becomes x / 255
    in the dtype as it is copied (kernels.div255). The labels are uint8 for the same reason: a batch
    reads ten at random, and they stay in cache where int64 ones do not."""
    X = np.ascontiguousarray(images, dtype=np.uint8)
    return Data(X, labels.astype(np.uint8), div255_factors(dtype))


def weights(model: Model):
    net = model.net
    return [
        (W[:, :n].astype(np.float64), b.astype(np.float64)) for W, b, n in zip(net.W[1:], net.b[1:], net.sizes[:-1])
    ]


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    """One call of a compiled kernel for all of `rows`, or one per thread when threads share the batches."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    lr = float(lr)
    T = _threads(model)
    if T > 1:
        crew = threads.crew_for(model, data, batch_size, T, len(rows))
        try:
            crew.run(rows, lr)
        except BaseException:
            model.crew = None
            raise
        return
    kernel = math.train_one_hidden if len(model.net.W) == 3 else math.train_layers
    kernel(tuple(model.net), tuple(data), rows, batch_size, lr, tuple(_buffers(model, batch_size)))  # see math.py


def predict(model: Model, data: Data) -> np.ndarray:
    out = np.empty(len(data.X), dtype=np.int64)
    math.predict_rows(tuple(model.net), tuple(data), tuple(_buffers(model, PREDICT_CHUNK)), out)
    return out


def warmup(model: Model, data: Data) -> None:
    """Compile (or load from the on-disk cache) the train and predict kernels for this model's dtype
    and layers, on a scratch copy, and give the model its buffers and, when threads share the batches,
    its crew (made in the first timed call, it would cost that call the threads' start), which shares
    the hidden units as timing a few splits here found fastest. The model's weights are left as they were."""
    B = model.batch_size
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 2 * B)), B, 0.1)
    predict(scratch, Data(data.X[:20], data.labels[:20], data.scale))
    T = _threads(model)
    if T > 1:
        model.split = threads.measured_split(model.net, data, B, T)
        threads.crew_for(model, data, B, T, len(data.X))
    else:
        _buffers(model, B)


PROFILE_PARTS = {
    "load": math.LOAD,
    "forward 1": math.FORWARD1,
    "small layers": math.SMALL,
    "backward 1": math.BACKWARD1,
    "update W1": math.UPDATE1,
}


def profile_parts(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> dict:
    """`bench profile`'s hook: {part: a callable that runs that part alone over `rows`}, for the
    one-hidden-layer kernel on one thread (math.train_parts), or {} where that is not what `train`
    runs (more layers, or threads sharing the batches). It trains `model`: give it a copy.

    One full step over the first batch first, so that the buffers hold a real batch's values."""
    if len(model.net.W) != 3 or _threads(model) > 1:
        return {}
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    net, data_, buf = tuple(model.net), tuple(data), tuple(_buffers(model, batch_size))
    math.train_parts(math.ALL_PARTS, net, data_, rows[:batch_size], batch_size, float(lr), buf)

    def part(bits):
        return lambda: math.train_parts(bits, net, data_, rows, batch_size, float(lr), buf)

    return {label: part(bits) for label, bits in PROFILE_PARTS.items()}


def _threads(model: Model) -> int:
    """How many threads share each batch: numba's thread count (`--threads`), at most one per
    MIN_UNITS_PER_THREAD hidden units; networks with more than one hidden layer run on one."""
    if len(model.net.W) != 3:
        return 1
    return max(1, min(numba.get_num_threads(), int(model.net.sizes[1]) // threads.MIN_UNITS_PER_THREAD))


def _buffers(model: Model, B: int) -> Buffers:
    """The model's buffers for batches of up to B rows, made once: [B, n_l] per layer, rows padded."""
    if B not in model.buffers:
        sizes, dtype = model.net.sizes, model.net.W[1].dtype
        unused = np.zeros((0, 0), dtype)
        z = (unused,) + tuple(padded(B, n, dtype, pages=False) for n in sizes[1:])
        a = tuple(padded(B, n, dtype, pages=False) for n in sizes)  # a[0]: the input batch
        delta = (unused,) + tuple(padded(B, n, dtype, pages=False) for n in sizes[1:])
        model.buffers[B] = Buffers(z, a, delta)
    return model.buffers[B]
