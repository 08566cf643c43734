"""numba: the whole epoch in one compiled call, the layer products blocked for the vector registers.

`train` hands every row it is given to one @njit kernel, which loops over the batches and runs each
batch's forward pass, backward pass and SGD update in compiled code: no Python per batch. The math
is DESIGN.md's with its names (`z1`, `a1`, `delta2`, ...). The default network, one hidden layer,
has its own kernel with every array named (`_train_one_hidden`); any other layer list runs the
general one (`_train_layers`, with `W[l]`, `z[l]`, ... and `a[0]` the input batch, as in
backends/numpy.py). Both call the same blocked products.

Where this departs from the plainest loops, for speed (each is explained where it happens):
- the two big products of a layer, `a_{l-1} W_l^T` and `W_l -= (lr/B) delta_l^T a_{l-1}`, are
  blocked so that LLVM keeps partial sums in vector registers (`_affine`, `_sgd_step`);
- rows of weights wider than half a page are stored page-aligned and a batch's rows packed to whole
  cache lines (`_padded`), the next batch's images are prefetched while this batch trains, and
  float32 sigmoid uses an exp that vectorizes (`_exp`);
- steps of a weight smaller than the smallest normal float are dropped (`_step`): they change no
  weight, and a subnormal operand makes a vector FMA many times slower;
- the images stay uint8 (4x fewer bytes to gather) and become x / 255 as a batch is copied in,
  bit for bit numpy's, by a multiplication and two FMAs rather than a division (`_div255`);
- rows of the small layers (10, 36 values) are processed along their whole padded width, whole
  vectors with no scalar remainder (`_f`, `_affine`, `_backprop`);
- kernels are compiled for 512-bit vectors where the CPU has them (`_prefer_512_bit_vectors`).
backends/numpy.py remains the clearest statement of the network; this file is the fast one.

Threads (`--threads`, numba's thread count): with one hidden layer, T threads share every batch,
each owning a share of the hidden units cut in fours (`_split`: rows of W1, columns of W2) and
exchanging only their parts of z2, behind one spinning barrier per batch (`_train_one_hidden_shared`,
`Crew`). A batch of 10 is ~10 us of work, so numba's own parallel regions (prange), which cost tens
to hundreds of microseconds to start on this 2-core machine, would lose to one thread; deeper
networks run on one. Measured by `bench all` here (four runs): 0.052-0.053 s an epoch with two
threads against 0.071-0.075 s with one.

Kernels are cached on disk (cache=True): only the first process to use a configuration compiles it,
and `warmup` does that before any timing.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass, field

import numpy as np

try:
    import numba
    from llvmlite import binding as llvm
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic, overload
except ImportError as exc:  # numba missing: this backend is unavailable, the harness still runs
    numba = None
    _MISSING = f"numba is not installed ({exc}); pip install numba"

    def njit(*args, **kwargs):
        return lambda f: f

    intrinsic = overload = njit


name = "numba"
summary = "numba JIT: the epoch in one compiled call, layer products blocked for vector registers"
dtypes = ("float32", "float64")

SIGMOID, TANH, RELU = 0, 1, 2
QUADRATIC, CROSS_ENTROPY = 0, 1
ACTIVATIONS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}
LOSSES = {"quadratic": QUADRATIC, "cross-entropy": CROSS_ENTROPY}

# Compiler flags. error_model="numpy": a float division by zero gives inf, as in numpy, instead of
# raising, so no zero test sits in the loops (such a test keeps LLVM from vectorizing them).
# FAST, for the blocked products only: `reassoc` lets LLVM split a dot product across vector lanes
# (the order of summation then differs from a scalar loop's, by rounding only) and `contract` fuses
# multiply-adds. No `nnan`/`ninf` anywhere: sigmoid relies on e^-z overflowing to inf.
JIT = dict(cache=True, error_model="numpy")
FAST = dict(JIT, fastmath={"reassoc", "contract", "nsz"})

PAGE, LINE = 4096, 64  # bytes
PREFETCH_LOCALITY = 2  # llvm.prefetch: 2 = into L2; the copy into a0 then brings each line to L1
PREDICT_CHUNK = 500  # rows per forward pass in predict
# Threads sharing the batches coordinate through one int64 array, `sync`: the crew's flags first, then
# thread t's counters at sync[(t + 1) * SLOT:] (barriers passed, calls served). SLOT = 128 bytes, so
# no two threads' counters share a cache line or the line the CPU prefetches beside it.
SLOT = 2 * LINE // 8
FAILED, GO, STOP = 0, 1, 2  # a thread failed; calls posted by thread 0; the crew is to stop


_X86 = numba is not None and llvm.get_process_triple().startswith(("x86_64", "i386", "i686"))


def available() -> str | None:
    return None if numba is not None else _MISSING


def _prefer_512_bit_vectors() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512, for every numba kernel of this process.

    LLVM's tuning for Intel server cores since Skylake-SP prefers 256-bit vectors even where AVX-512
    exists (wider ones once cost clock speed). For these FMA-bound loops 512-bit vectors made an
    epoch 1.4x faster on an Emerald Rapids core (0.091 s against 0.128 s, float32). This is numba's
    documented NUMBA_CPU_FEATURES setting; a value the user set is left alone. It takes effect only
    if numba has compiled nothing yet in this process, and it is part of the on-disk cache's key.
    """
    if numba is None or numba.config.CPU_FEATURES is not None:
        return
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot read this CPU's features: leave numba's defaults
        return
    if features.get("avx512f"):
        numba.config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"


_prefer_512_bit_vectors()


# ---------------------------------------------------------------- the model and its buffers
def _padded(rows: int, n: int, dtype, pages: bool = True) -> np.ndarray:
    """Zeros [rows, stride], C-contiguous, starting on a page: row r's n values are [r, :n].

    Rows of weights (`pages`): a row wider than half a page gets whole pages, so every such row
    starts at the same offset in a page (0). Then `_sgd_step`, which stores into rows of W while it
    loads rows of A, never has a load wait on an older store to an address equal modulo 4 KiB (the
    CPU's "4K aliasing" check); with rows packed at 784 values that loop ran 1.5x slower.
    Rows of a batch (not `pages`), and every narrow row, are padded to whole cache lines only. A
    batch's ten rows of 784 values, each starting on a page, would use the same 49 of the L1 cache's
    64 sets, ten lines in each, and with the rows of W streaming past, more than a set's 12 ways:
    lines of the images are evicted and fetched again. Packed at whole lines (3,200 bytes), they
    spread over every set, and an epoch took 2-3% less time (0.0768 s against 0.0791, best of 12
    epochs each, the kernel alone).
    The padding starts zero; only the small layers' loops run over it (see `_f`).
    """
    itemsize = np.dtype(dtype).itemsize
    unit = PAGE if pages and n * itemsize > PAGE // 2 else LINE
    stride = max(1, -(-n * itemsize // unit)) * unit // itemsize
    raw = np.zeros(rows * stride + PAGE // itemsize, dtype)
    start = (-raw.ctypes.data % PAGE) // itemsize
    return raw[start : start + rows * stride].reshape(rows, stride)


@dataclass
class Data:
    X: np.ndarray  # [n, 784] uint8 pixels: a batch's rows become pixels / 255 as they are gathered
    labels: np.ndarray  # [n] uint8 (0-9); Y is their one-hot
    c255: np.ndarray  # [255, 1 / 255] in the model's dtype, correctly rounded (for `_div255`)


@dataclass
class Model:
    sizes: np.ndarray  # n_0 = 784, n_1, ..., n_L = 10 (int64)
    W: tuple  # W[l]: [n_l, n_{l-1}] in the first n_{l-1} columns of a padded array; W[0] a placeholder
    b: tuple  # b[l]: [n_l]; b[0] a placeholder
    activation: int
    loss: int
    batch_size: int = 10  # the spec's, which `warmup` prepares for
    buffers: dict = field(default_factory=dict)  # batch size -> Buffers
    crew: object = None  # the Crew of helper threads when threads share the batches

    def __deepcopy__(self, memo):  # the weights only: buffers and threads stay with the original
        return Model(self.sizes, copy.deepcopy(self.W, memo), copy.deepcopy(self.b, memo), self.activation, self.loss,
                     self.batch_size)  # fmt: skip


class Buffers:
    """Every intermediate array of one step for up to B rows, allocated once: [B, n_l] per layer."""

    def __init__(self, sizes, B: int, dtype) -> None:
        unused = np.zeros((0, 0), dtype)
        self.z = (unused,) + tuple(_padded(B, n, dtype, pages=False) for n in sizes[1:])
        self.a = tuple(_padded(B, n, dtype, pages=False) for n in sizes)  # a[0]: the input batch
        self.delta = (unused,) + tuple(_padded(B, n, dtype, pages=False) for n in sizes[1:])


def load(weights, spec, dtype: str) -> Model:
    W, b = [np.zeros((0, 0), dtype)], [np.zeros(0, dtype)]
    for w, bias in weights:
        W.append(_padded(*w.shape, dtype))
        W[-1][:, : w.shape[1]] = w
        b.append(np.array(bias, dtype=dtype))
    sizes = np.array(spec.layers, dtype=np.int64)
    return Model(sizes, tuple(W), tuple(b), ACTIVATIONS[spec.activation], LOSSES[spec.loss], spec.batch_size)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    """The pixels stay uint8 (47 MB for MNIST's 60,000 rows, not 188 MB of float32): each batch is
    gathered from random rows, and 4x fewer bytes to fetch makes that gather cheaper. `_load_batch`
    makes each pixel x / 255 in the dtype as it copies, bit for bit numpy's x / 255 (`_div255`).
    The labels are uint8 for the same reason: each batch reads ten at random, and 60 KB of them stay
    in cache where 480 KB of int64 did not (an epoch 1.4-1.8% faster, `bench ab`, 30-40 epochs)."""
    X = np.ascontiguousarray(images, dtype=np.uint8)
    c255 = np.array([255, 0], dtype)
    c255[1] = c255[0] ** -1  # 1 / 255 rounded in the dtype
    return Data(X, labels.astype(np.uint8), c255)


def weights(model: Model):
    return [(W[:, :n].astype(np.float64), b.astype(np.float64))
            for W, b, n in zip(model.W[1:], model.b[1:], model.sizes[:-1])]  # fmt: skip


SPLIT_STEP = 4  # threads share the hidden units in fours: `_affine` takes W's rows four at a time


def _split(n1: int, T: int) -> list[tuple[int, int]]:
    """Thread t's hidden units lo:hi when T threads share n1 of them: cut at the multiples of
    SPLIT_STEP nearest to n1 t / T, half-way rounding up (36 units, two threads: 20 and 16), and at
    least MIN_UNITS_PER_THREAD each.

    Why not 18 and 18: 18 rows of W1 are 4 blocks of 4 and 2 rows that `_affine` takes apart, more
    slowly a row; and here thread 0, the calling thread, ran the same work faster than the helper
    thread in nearly all of some 30 profiled runs, whichever CPU each was pinned to and whichever
    units or buffers each had (the cause is unknown). Measured: `bench ab` of 20/16 against 18/18,
    two threads, 30 epochs each, B/A 0.943, 0.942; in a one-off harness that also reloads the models
    every epoch, 0.953, 0.954, 0.948, and 24/12 against 20/16 1.072, 1.070."""
    bounds = [0]
    for t in range(1, T):
        cut = int(n1 * t / T / SPLIT_STEP + 0.5) * SPLIT_STEP
        bounds.append(min(max(cut, bounds[-1] + MIN_UNITS_PER_THREAD), n1 - (T - t) * MIN_UNITS_PER_THREAD))
    bounds.append(n1)
    return list(zip(bounds[:-1], bounds[1:]))


class SharedBuffers:
    """What T threads sharing each batch use (`_train_one_hidden_shared`), for up to B rows. Per thread
    ([t]): its images; z1, a1, delta1, b1 and W2's columns for its hidden units; its copy of b2; its
    z2, a2, delta2; its part of z2 for even and odd batches (z2_parts[parity, t]). Every block starts
    on a cache line and units are padded to whole lines, so no two threads write one line."""

    def __init__(self, sizes, B: int, dtype, T: int) -> None:
        n0, n1, n2 = sizes
        self.bounds = _split(n1, T)  # thread t's units lo:hi
        units = max(hi - lo for lo, hi in self.bounds)

        def blocks(*shape, n):  # zeros [*shape, n (padded)], each row on a cache line
            return _padded(int(np.prod(shape)), n, dtype, pages=False).reshape(*shape, -1)

        self.a0s = blocks(T, B, n=n0)
        self.z1s, self.a1s, self.delta1s = blocks(T, B, n=units), blocks(T, B, n=units), blocks(T, B, n=units)
        self.b1s, self.W2s = blocks(T, n=units), blocks(T, n2, n=units)
        self.b2s, self.zero = blocks(T, n=n2), blocks(1, n=n2)[0]
        self.z2_parts = blocks(2, T, B, n=n2)
        self.z2s, self.a2s, self.delta2s = blocks(T, B, n=n2), blocks(T, B, n=n2), blocks(T, B, n=n2)


def _buffers(model: Model, B: int) -> Buffers:
    if B not in model.buffers:
        model.buffers[B] = Buffers(model.sizes, B, model.W[1].dtype)
    return model.buffers[B]


# ---------------------------------------------------------------- compiler helpers
@intrinsic
def _prefetch(typingctx, arr, index):
    """Start loading the cache line of arr[index] (1-D): a hint to the CPU, no effect on values."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(PREFETCH_LOCALITY), i32(1)])  # read, locality, data
        return context.get_dummy_value()

    return types.void(arr, index), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a b + c rounded once (llvm.fma), for float32 or float64 a, b, c of one type."""

    def codegen(context, builder, signature, args):
        t = args[0].type
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(t, [t, t, t]),
                                            "llvm.fma.f32" if t == ir.FloatType() else "llvm.fma.f64")  # fmt: skip
        return builder.call(fn, args)

    return a(a, a, a), codegen


@njit(**JIT)
def _div255(v, c, r):
    """The uint8 x / 255, correctly rounded in v's dtype, without a division (a 512-bit divide
    takes ~10 cycles; over an epoch's 47M pixels that was 0.011 s): q = x (1/255) is off by an ulp
    for half of the 256 values, and one Newton step with exact residual, q + (x - 255 q) (1/255),
    fixes every one (checked exhaustively against numpy, float32 and float64). v: x in the dtype,
    c: 255, r: 1/255 rounded."""
    q = v * r
    return _fma(_fma(-q, c, v), r, q)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bits are the int32 `bits`."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _load_acquire(typingctx, arr, index):
    """arr[index] read atomically: what another thread stored before its `_store_release` is visible."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", arr.dtype.bitwidth // 8)

    return arr.dtype(arr, index), codegen


@intrinsic
def _store_release(typingctx, arr, index, value):
    """arr[index] = value atomically, after every earlier store of this thread."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        builder.store_atomic(args[2], ptr, "release", arr.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(arr, index, arr.dtype), codegen


@intrinsic
def _pause(typingctx):
    """x86's PAUSE in a spin loop (lets the other hyperthread run, saves power); nothing elsewhere."""

    def codegen(context, builder, signature, args):
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()

    return types.void(), codegen


def _exp(x):
    """e^x; compiled per dtype by `_exp_for`."""
    return np.exp(x)


@overload(_exp)
def _exp_for(x):
    if x != types.float32:
        return lambda x: np.exp(x)
    f32 = np.float32
    lo, hi = f32(-87.33654475055310898657), f32(88.72283935546875)  # e^x below FLT_MIN, above FLT_MAX

    def expf(x):
        """float32 e^x within 1.4 ulp, with no call, branch or table, so that a loop of it vectorizes
        (libm's expf is one call per value: a batch's sigmoids took 6x longer). Cephes' expf: x = k ln2
        + r, e^r by polynomial, 2^k from its bits in two factors (so k = 128 and k = -126 both work).
        Below FLT_MIN it returns 0 where libm returns a subnormal; no sum here can tell them apart."""
        xc = min(max(x, lo), hi)
        k = (xc * f32(1.44269504088896341) + f32(12582912.0)) - f32(12582912.0)  # round(x / ln 2), 1.5 * 2^23
        r = xc - k * f32(0.693359375) - k * f32(-2.12194440e-4)  # ln 2 in two parts
        p = (f32(1.9875691500e-4) * r + f32(1.3981999507e-3)) * r + f32(8.3334519073e-3)
        p = (((p * r + f32(4.1665795894e-2)) * r + f32(1.6666665459e-1)) * r + f32(5.0000001201e-1)) * (r * r)
        p = p + r + f32(1)
        k1 = np.int32(k) >> np.int32(1)
        k2 = np.int32(k) - k1
        p = p * _float32_from_bits((k1 + np.int32(127)) << np.int32(23))  # * 2^k1
        p = p * _float32_from_bits((k2 + np.int32(127)) << np.int32(23))  # * 2^k2
        p = f32(np.inf) if x > hi else p
        return f32(0) if x < lo else p

    return expf


# ---------------------------------------------------------------- blocked products
@njit(**FAST)
def _affine(A, W, b, Z, B, n, m):
    """Z = A W^T + b for the first B rows of A [., n], W [m, n], b [m] and Z [., m].

    Blocking: 4 rows of W against 5 rows of A at a time. The inner loop runs along n, contiguous in
    all nine rows, with 20 partial sums that LLVM keeps in vector registers (16 float32 lanes each):
    per step 9 vector loads feed 20 vector FMAs, and a row of W comes from L2 once per batch (for
    the second 5 rows of A it is still in L1). Leftover rows of W (m % 4) go one at a time against 5
    rows of A: one at a time against single rows of A, 2 leftover rows cost as much as 4 in blocks
    (6,000 products of 18 rows of W1 with 10 images, `_affine` alone: 13.4 ms, now 12.2; 16 rows:
    10.4). Leftover rows of A (B % 5) go one at a time.

    Rows padded to whole cache lines (n < 512 bytes) are summed along their whole width, as in `_f`:
    whole vectors with no scalar remainder. W's padding is zero and A's finite (zero, or f(0)).
    """
    zero = W.dtype.type(0)
    if A.shape[1] == W.shape[1] and (A.shape[1] - n) * A.itemsize < LINE:
        n = A.shape[1]
    for j in range(0, m - 3, 4):
        w0, w1, w2, w3 = W[j], W[j + 1], W[j + 2], W[j + 3]
        b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]  # + b as the sums are stored
        for s in range(0, B - 4, 5):
            x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
            c00 = c01 = c02 = c03 = c04 = c10 = c11 = c12 = c13 = c14 = zero
            c20 = c21 = c22 = c23 = c24 = c30 = c31 = c32 = c33 = c34 = zero
            for i in range(n):
                v0, v1, v2, v3 = w0[i], w1[i], w2[i], w3[i]
                x = x0[i]
                c00 += v0 * x
                c10 += v1 * x
                c20 += v2 * x
                c30 += v3 * x
                x = x1[i]
                c01 += v0 * x
                c11 += v1 * x
                c21 += v2 * x
                c31 += v3 * x
                x = x2[i]
                c02 += v0 * x
                c12 += v1 * x
                c22 += v2 * x
                c32 += v3 * x
                x = x3[i]
                c03 += v0 * x
                c13 += v1 * x
                c23 += v2 * x
                c33 += v3 * x
                x = x4[i]
                c04 += v0 * x
                c14 += v1 * x
                c24 += v2 * x
                c34 += v3 * x
            Z[s, j], Z[s, j + 1], Z[s, j + 2], Z[s, j + 3] = c00 + b0, c10 + b1, c20 + b2, c30 + b3
            Z[s + 1, j], Z[s + 1, j + 1], Z[s + 1, j + 2], Z[s + 1, j + 3] = c01 + b0, c11 + b1, c21 + b2, c31 + b3
            Z[s + 2, j], Z[s + 2, j + 1], Z[s + 2, j + 2], Z[s + 2, j + 3] = c02 + b0, c12 + b1, c22 + b2, c32 + b3
            Z[s + 3, j], Z[s + 3, j + 1], Z[s + 3, j + 2], Z[s + 3, j + 3] = c03 + b0, c13 + b1, c23 + b2, c33 + b3
            Z[s + 4, j], Z[s + 4, j + 1], Z[s + 4, j + 2], Z[s + 4, j + 3] = c04 + b0, c14 + b1, c24 + b2, c34 + b3
        for s in range(B - B % 5, B):  # leftover rows of A, one at a time
            x0 = A[s]
            c00 = c10 = c20 = c30 = zero
            for i in range(n):
                x = x0[i]
                c00 += w0[i] * x
                c10 += w1[i] * x
                c20 += w2[i] * x
                c30 += w3[i] * x
            Z[s, j], Z[s, j + 1], Z[s, j + 2], Z[s, j + 3] = c00 + b0, c10 + b1, c20 + b2, c30 + b3
    for j in range(m - m % 4, m):  # leftover rows of W, one at a time against 5 rows of A
        w0, b0 = W[j], b[j]
        for s in range(0, B - 4, 5):
            x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
            c00 = c01 = c02 = c03 = c04 = zero
            for i in range(n):
                v0 = w0[i]
                c00 += v0 * x0[i]
                c01 += v0 * x1[i]
                c02 += v0 * x2[i]
                c03 += v0 * x3[i]
                c04 += v0 * x4[i]
            Z[s, j], Z[s + 1, j], Z[s + 2, j] = c00 + b0, c01 + b0, c02 + b0
            Z[s + 3, j], Z[s + 4, j] = c03 + b0, c04 + b0
        for s in range(B - B % 5, B):
            x0 = A[s]
            c00 = zero
            for i in range(n):
                c00 += w0[i] * x0[i]
            Z[s, j] = c00 + b0


@njit(**JIT)
def _step(eta, d):
    """eta d, or 0 where that is subnormal (below the dtype's smallest normal number, ~1.2e-38 in float32).

    Why: on x86 a vector FMA with a subnormal operand takes a microcode assist, many times its usual
    cost. As sigmoid units saturate, a few hidden deltas per batch become that small (~0.1 per
    image by epoch 30), and every FMA of a pass over a row of W1 uses them: float32 epochs grew ~8%
    slower from the first five of 30 to the last five (0.0819 -> 0.0879 s, one thread); with this
    they stay flat (0.0784 -> 0.0790 s). Dropping them changes no weight: w - eta d x rounds back to
    w unless |w| < ~1e-31, and the 30 epochs' weights came out bit for bit the same.
    """
    e = eta * d
    normal = abs(e) >= np.finfo(e).tiny  # False for a subnormal e (and for NaN, which e * False keeps)
    return e * normal  # e, or 0 in e's dtype


@njit(**FAST)
def _sgd_step(delta, A, W, b, eta, B, n, m):
    """W -= eta delta^T A and b -= eta (sum of delta's rows), for the first B rows of delta [., m]
    and A [., n], W [m, n], b [m].

    Blocking: 2 rows of W updated by 5 rows of A at a time, in one contiguous pass along n: per step
    7 vector loads, 2 stores and 10 vector FMAs (eta delta[s, j] held in registers), and a row of W
    goes from L2 to the core and back once per batch. grad_W = delta^T A is never stored.
    The factors eta delta[s, j] go through `_step`, which drops subnormal ones.
    b takes the rows of delta one at a time, each a contiguous vector loop; summed column by column
    first (strided, scalar), the bias update cost ~1% of an epoch.
    """
    for s in range(B):
        d = delta[s]
        for j in range(m):
            b[j] -= eta * d[j]
    for j in range(0, m - 1, 2):
        w0, w1 = W[j], W[j + 1]
        for s in range(0, B - 4, 5):
            x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
            e00, e10 = _step(eta, delta[s, j]), _step(eta, delta[s, j + 1])  # image s, rows j and j + 1
            e01, e11 = _step(eta, delta[s + 1, j]), _step(eta, delta[s + 1, j + 1])
            e02, e12 = _step(eta, delta[s + 2, j]), _step(eta, delta[s + 2, j + 1])
            e03, e13 = _step(eta, delta[s + 3, j]), _step(eta, delta[s + 3, j + 1])
            e04, e14 = _step(eta, delta[s + 4, j]), _step(eta, delta[s + 4, j + 1])
            for i in range(n):
                v0, v1, v2, v3, v4 = x0[i], x1[i], x2[i], x3[i], x4[i]
                w0[i] -= e00 * v0 + e01 * v1 + e02 * v2 + e03 * v3 + e04 * v4
                w1[i] -= e10 * v0 + e11 * v1 + e12 * v2 + e13 * v3 + e14 * v4
        for s in range(B - B % 5, B):  # leftover rows of A, one at a time
            x0 = A[s]
            e00, e10 = _step(eta, delta[s, j]), _step(eta, delta[s, j + 1])
            for i in range(n):
                w0[i] -= e00 * x0[i]
                w1[i] -= e10 * x0[i]
    if m % 2:  # the last row of W alone
        w0 = W[m - 1]
        for s in range(B):
            x0 = A[s]
            e00 = _step(eta, delta[s, m - 1])
            for i in range(n):
                w0[i] -= e00 * x0[i]


@njit(**FAST)
def _backprop(delta, W, out, B, n, m):
    """out = delta W for the first B rows of delta [., m] and out [., n], W [m, n].

    Blocking: 10 rows of W at a time (the output layer's 10 make one block), each added to a row of
    out as one 10-term sum: per vector 11 loads, 10 FMAs and one store, and LLVM runs these short
    rows (48 values for 36 units) in whole 16-lane vectors. Added one row of W at a time, each row
    of out was loaded and stored 10 times, in loops too short for the vectorizer's main body, and an
    epoch took ~2% longer. Leftover rows of W (m % 10) are added one at a time.
    Along the whole padded width, as in `_f`: W's padding is zero, so out's stays zero.
    """
    width = min(out.shape[1], W.shape[1])  # equal: both rows hold n values
    for s in range(B):
        for i in range(width):
            out[s, i] = 0
    for k in range(0, m - 9, 10):
        w0, w1, w2, w3, w4, w5, w6, w7, w8, w9 = (W[k], W[k + 1], W[k + 2], W[k + 3], W[k + 4],
                                                  W[k + 5], W[k + 6], W[k + 7], W[k + 8], W[k + 9])  # fmt: skip
        for s in range(B):
            d, o = delta[s], out[s]
            d0, d1, d2, d3, d4, d5, d6, d7, d8, d9 = (d[k], d[k + 1], d[k + 2], d[k + 3], d[k + 4],
                                                      d[k + 5], d[k + 6], d[k + 7], d[k + 8], d[k + 9])  # fmt: skip
            for i in range(width):
                o[i] += (d0 * w0[i] + d1 * w1[i] + d2 * w2[i] + d3 * w3[i] + d4 * w4[i]
                         + d5 * w5[i] + d6 * w6[i] + d7 * w7[i] + d8 * w8[i] + d9 * w9[i])  # fmt: skip
    for k in range(m - m % 10, m):  # leftover rows of W, one at a time
        w0 = W[k]
        for s in range(B):
            d0, o = delta[s, k], out[s]
            for i in range(width):
                o[i] += d0 * w0[i]


# ---------------------------------------------------------------- activations, loss, input
# The elementwise loops below run over each row's whole padded width (a.shape[1], whole cache lines)
# rather than its n values: whole vectors, no scalar remainder (n = 10 or 36 is mostly remainder).
# The padding of z and delta is zero, so a's padding holds f(0), finite; only `_affine` reads it.
@njit(**JIT)
def _f(kind, z, a, B, n):
    """a = f(z) on the first B rows and (at least) n columns."""
    one, zero = z.dtype.type(1), z.dtype.type(0)
    width = a.shape[1]
    if kind == SIGMOID:  # 1 / (1 + e^-z); e^-z may overflow to inf, giving the right limit 0
        for s in range(B):
            for j in range(width):
                a[s, j] = one / (one + _exp(-z[s, j]))
    elif kind == TANH:
        for s in range(B):
            for j in range(width):
                a[s, j] = np.tanh(z[s, j])
    else:  # relu
        for s in range(B):
            for j in range(width):
                a[s, j] = max(z[s, j], zero)


@njit(**JIT)
def _times_f_prime(kind, z, a, delta, B, n):
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
def _softmax(z, a, B, n):
    for s in range(B):
        top = z[s, 0]
        for k in range(n):
            top = max(top, z[s, k])
        total = z.dtype.type(0)
        for k in range(n):
            a[s, k] = _exp(z[s, k] - top)  # shifted for stability
            total += a[s, k]
        for k in range(n):
            a[s, k] /= total


@njit(**JIT)
def _output(kind, loss, z, a, B, n):
    """a_L from z_L: f, or softmax with cross-entropy."""
    if loss == CROSS_ENTROPY:
        _softmax(z, a, B, n)
    else:
        _f(kind, z, a, B, n)


@njit(**JIT)
def _output_delta(kind, loss, z, a, labels, rows, start, delta, B, n):
    """quadratic cost: delta_L = (a_L - Y) * f'(z_L);   softmax with cross-entropy: delta_L = a_L - Y."""
    for s in range(B):
        y = labels[rows[start + s]]
        for k in range(n):
            delta[s, k] = a[s, k] - (a.dtype.type(1) if k == y else a.dtype.type(0))
    if loss == QUADRATIC:
        _times_f_prime(kind, z, a, delta, B, n)


@njit(**JIT)
def _load_batch(X, c255, rows, start, B, batch_size, a0, n0):
    """a0 = X[rows[start : start + B]] / 255, and the next batch's images sent for (it trains meanwhile)."""
    for s in range(start + batch_size, min(start + 2 * batch_size, len(rows))):
        x = X[rows[s]]
        for i in range(0, n0, LINE // X.itemsize):
            _prefetch(x, i)
        _prefetch(x, n0 - 1)  # a row need not start on a line: its last line too
    c, r = c255[0], c255[1]
    for s in range(B):
        x = X[rows[start + s]]
        for i in range(n0):
            a0[s, i] = _div255(a0.dtype.type(x[i]), c, r)


# ---------------------------------------------------------------- the math: forward, backward, update
# Almost all the arithmetic is layer 1's two products with the 784 inputs, each 2 B n1 784 flops per
# batch: _affine reads each row of W1 once per batch and applies it to 5 images at a time, keeping
# the 4 x 5 dot products of a block of 4 rows in registers; _sgd_step updates 2 rows of W1 from 5
# images per contiguous pass, so the row goes from cache to core and back once per batch.
@njit(**JIT)
def _train_one_hidden(X, c255, labels, rows, batch_size, lr, sizes, W1, b1, W2, b2,
                      a0, z1, a1, delta1, z2, a2, delta2, activation, loss):  # fmt: skip
    """SGD over `rows` in consecutive batches of `batch_size` for layers n0, n1, n2 (784, 36, 10)."""
    n0, n1, n2 = sizes[0], sizes[1], sizes[2]
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)
        _load_batch(X, c255, rows, start, B, batch_size, a0, n0)  # a0 = X batch / 255  [B, 784]
        # forward: z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)
        _affine(a0, W1, b1, z1, B, n0, n1)  # z1 [B, n1]: blocks of 4 rows of W1 x 5 images
        _f(activation, z1, a1, B, n1)
        _affine(a1, W2, b2, z2, B, n1, n2)  # z2 [B, 10]
        _output(activation, loss, z2, a2, B, n2)
        # backward: delta2 from the loss; hidden delta1 = (delta2 W2) * f'(z1), with W2 before its update
        _output_delta(activation, loss, z2, a2, labels, rows, start, delta2, B, n2)
        _backprop(delta2, W2, delta1, B, n1, n2)  # [B, n1]
        _times_f_prime(activation, z1, a1, delta1, B, n1)
        # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
        eta = a0.dtype.type(lr / B)  # in the model's dtype
        _sgd_step(delta2, a1, W2, b2, eta, B, n1, n2)
        _sgd_step(delta1, a0, W1, b1, eta, B, n0, n1)  # passes of 2 rows of W1 x 5 images


@njit(**JIT)
def _barrier(sync, t, T, k):
    """Thread t of T is at its k-th barrier: wait until every thread is. False if a thread failed.

    Each thread's count sits on its own cache line (sync[(t + 1) * SLOT]); a thread publishes its count
    with a release store and reads the others' with acquire loads, so everything a thread wrote
    before its barrier is visible to every thread after it. Spinning, not sleeping: a barrier costs
    ~0.2 us here, where waking a sleeping thread costs tens of microseconds, more than a batch."""
    _store_release(sync, (t + 1) * SLOT, k)
    for u in range(T):
        while _load_acquire(sync, (u + 1) * SLOT) < k:
            if _load_acquire(sync, FAILED) != 0:
                return False
            _pause()
    return True


@njit(**JIT)
def _sum_blocks(parts, b, Z, B, m):
    """Z = b + parts[0] + parts[1] + ..., for the first B rows and m columns of Z and of each part."""
    for s in range(B):
        for k in range(m):
            acc = b[k]
            for u in range(parts.shape[0]):
                acc += parts[u, s, k]
            Z[s, k] = acc


@njit(nogil=True, **JIT)
def _train_one_hidden_shared(t, T, sync, X, c255, labels, rows, batch_size, lr, sizes, lo, hi, W1, model_b1, model_W2,
                             model_b2, b1s, W2s, b2s, zero, a0s, z1s, a1s, delta1s, z2_parts, z2s, a2s, delta2s,
                             activation, loss):  # fmt: skip
    """Thread t's part of `_train_one_hidden` when T threads share every batch: the same math, split.

    Thread t owns hidden units lo..hi-1 (hi - lo = n): rows lo:hi of W1, and its own blocks of b1,
    z1, a1, delta1 and of W2's columns for those units (b1s[t], a1s[t], W2s[t], ...: contiguous and
    padded to whole cache lines, so no two threads write one line). z2 = a1 W2^T + b2 is a sum over
    hidden units, so each thread computes its units' part of it, a1[:, lo:hi] W2[:, lo:hi]^T; those
    [B, 10] parts are all that threads exchange, once per batch, behind one barrier. Every thread
    then adds them in the same order, so z2, a2 and delta2 come out identical in each (its own
    buffers), and each updates its own copy of b2 identically. Everything else a thread reads it
    wrote itself: W2's columns and a1 for its units, and the batch's images, which every thread
    gathers for itself (a0s[t]; cheaper than sharing them). The parts alternate between two buffers
    by batch parity (z2_parts[k % 2]): a thread running ahead never overwrites a part another may
    still be reading. Each thread copies its part of the model's b1, W2 and b2 into its blocks at
    the start and back at the end (b2: thread 0). Returns once every thread has finished `rows` and
    the model is whole (True), or when a thread failed (False).
    """
    n0, n2, n = sizes[0], sizes[2], hi - lo
    k = sync[(t + 1) * SLOT]  # barriers this thread has passed, in earlier calls too
    W1t, b1, W2, b2 = W1[lo:hi], b1s[t], W2s[t], b2s[t]  # this thread's parameters
    b1[:n], W2[:, :n], b2[:n2] = model_b1[lo:hi], model_W2[:, lo:hi], model_b2
    a0, z1, a1, delta1, z2, a2, delta2 = a0s[t], z1s[t], a1s[t], delta1s[t], z2s[t], a2s[t], delta2s[t]
    for start in range(0, len(rows), batch_size):
        k += 1
        p = k % 2
        B = min(batch_size, len(rows) - start)
        _load_batch(X, c255, rows, start, B, batch_size, a0, n0)  # a0 = X batch / 255  [B, 784]
        # forward: z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)
        _affine(a0, W1t, b1, z1, B, n0, n)  # this thread's units of z1 [B, n]
        _f(activation, z1, a1, B, n)
        _affine(a1, W2, zero, z2_parts[p, t], B, n, n2)  # their part of z2 - b2  [B, 10]
        if not _barrier(sync, t, T, k):  # every thread's part is in
            return False
        _sum_blocks(z2_parts[p], b2, z2, B, n2)  # z2 [B, 10], whole
        _output(activation, loss, z2, a2, B, n2)
        # backward: delta2 from the loss; hidden delta1 = (delta2 W2) * f'(z1), with W2 before its update
        _output_delta(activation, loss, z2, a2, labels, rows, start, delta2, B, n2)
        _backprop(delta2, W2, delta1, B, n, n2)  # this thread's units of delta1 [B, n]
        _times_f_prime(activation, z1, a1, delta1, B, n)
        # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
        eta = a0.dtype.type(lr / B)
        _sgd_step(delta2, a1, W2, b2, eta, B, n, n2)  # W2's columns lo:hi, and this thread's copy of b2
        _sgd_step(delta1, a0, W1t, b1, eta, B, n0, n)  # rows lo:hi of W1
    model_b1[lo:hi], model_W2[:, lo:hi] = b1[:n], W2[:, :n]
    if t == 0:
        model_b2[:] = b2[:n2]
    return _barrier(sync, t, T, k + 1)  # every thread is done: the model is whole


@njit(nogil=True, **JIT)
def _serve(t, T, sync, job, job_rows, X, c255, labels, batch_size, sizes, polls, *state):
    """Helper thread t: run its part of each call of `train` that thread 0 posts (sync[GO] counts
    them; job holds its number of rows and lr, job_rows the rows), until none comes for `polls`
    polls (about a millisecond: between the calls of one epoch it stays here) or the crew stops.
    `state`: the rest of `_train_one_hidden_shared`'s arguments, from lo, hi on."""
    while True:
        done = sync[(t + 1) * SLOT + 1]  # calls this thread has served
        polled = 0
        while _load_acquire(sync, GO) == done:
            if _load_acquire(sync, STOP) != 0 or polled == polls:
                return
            _pause()
            polled += 1
        n, lr = np.int64(job[0]), job[1]
        if not _train_one_hidden_shared(t, T, sync, X, c255, labels, job_rows[:n], batch_size, lr, sizes, *state):
            return
        sync[(t + 1) * SLOT + 1] = done + 1


@njit(**JIT)
def _post(sync, index, value):
    """sync[index] = value, after every earlier store (the job's rows and parameters)."""
    _store_release(sync, index, value)


@njit(**JIT)
def _forward(W, b, z, a, sizes, B, activation, loss):
    """z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l), l = 1..L; the input in a[0]."""
    L = len(W) - 1
    for l in range(1, L):
        _affine(a[l - 1], W[l], b[l], z[l], B, sizes[l - 1], sizes[l])  # z[l] [B, n_l]
        _f(activation, z[l], a[l], B, sizes[l])
    _affine(a[L - 1], W[L], b[L], z[L], B, sizes[L - 1], sizes[L])
    _output(activation, loss, z[L], a[L], B, sizes[L])


@njit(**JIT)
def _train_layers(X, c255, labels, rows, batch_size, lr, sizes, W, b, z, a, delta, activation, loss):
    """SGD over `rows` in consecutive batches of `batch_size`, for any layer list (tuples by layer)."""
    L = len(W) - 1
    for start in range(0, len(rows), batch_size):
        B = min(batch_size, len(rows) - start)
        _load_batch(X, c255, rows, start, B, batch_size, a[0], sizes[0])  # a[0] = X batch / 255
        _forward(W, b, z, a, sizes, B, activation, loss)
        _output_delta(activation, loss, z[L], a[L], labels, rows, start, delta[L], B, sizes[L])
        eta = a[0].dtype.type(lr / B)  # in the model's dtype
        for l in range(L, 0, -1):
            if l > 1:  # hidden: delta_{l-1} = (delta_l W_l) * f'(z_{l-1}), with W_l before its update
                _backprop(delta[l], W[l], delta[l - 1], B, sizes[l - 1], sizes[l])
                _times_f_prime(activation, z[l - 1], a[l - 1], delta[l - 1], B, sizes[l - 1])
            # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
            _sgd_step(delta[l], a[l - 1], W[l], b[l], eta, B, sizes[l - 1], sizes[l])


@njit(**JIT)
def _predict_kernel(X, c255, sizes, W, b, z, a, activation, loss, out):
    """argmax of a_L for every row of X, in chunks of the buffers' rows."""
    L = len(W) - 1
    a0 = a[0]
    c, r = c255[0], c255[1]
    for start in range(0, X.shape[0], a0.shape[0]):
        B = min(a0.shape[0], X.shape[0] - start)
        for s in range(B):
            for i in range(sizes[0]):
                a0[s, i] = _div255(a0.dtype.type(X[start + s, i]), c, r)
        _forward(W, b, z, a, sizes, B, activation, loss)
        for s in range(B):
            out[start + s] = np.argmax(a[L][s, : sizes[L]])


MIN_UNITS_PER_THREAD = 8


def _threads(model: Model) -> int:
    """How many threads share each batch: numba's thread count (`--threads`), at most one per 8 hidden
    units; networks with more than one hidden layer run on one."""
    if len(model.W) != 3:
        return 1
    return max(1, min(numba.get_num_threads(), int(model.sizes[1]) // MIN_UNITS_PER_THREAD))


def train(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float) -> None:
    """One call of a compiled kernel for all of `rows`, or one per thread when threads share the batches."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    lr = float(lr)
    T = _threads(model)
    if T > 1:
        return _train_shared(model, data, rows, batch_size, lr, T)
    buf = _buffers(model, batch_size)
    if len(model.W) == 3:
        (_, W1, W2), (_, b1, b2) = model.W, model.b
        _train_one_hidden(data.X, data.c255, data.labels, rows, batch_size, lr, model.sizes, W1, b1, W2, b2,
                          buf.a[0], buf.z[1], buf.a[1], buf.delta[1], buf.z[2], buf.a[2], buf.delta[2],
                          model.activation, model.loss)  # fmt: skip
    else:
        _train_layers(data.X, data.c255, data.labels, rows, batch_size, lr, model.sizes, model.W, model.b,
                      buf.z, buf.a, buf.delta, model.activation, model.loss)  # fmt: skip


def _train_shared(model: Model, data: Data, rows: np.ndarray, batch_size: int, lr: float, T: int) -> None:
    """`train` with T threads: the model's crew of helper threads (a new one if it has none for this
    data, batch size and T) and this thread run `_train_one_hidden_shared` together."""
    crew = _crew(model, data, batch_size, T, len(rows))
    try:
        crew.run(rows, lr)
    except BaseException:
        model.crew = None
        raise


def _crew(model: Model, data: Data, batch_size: int, T: int, n_rows: int) -> Crew:
    """The model's crew for this data, batch size and T that takes n_rows rows a call: its own, or a new one."""
    crew = model.crew
    fits = crew is not None and crew.data is data and (crew.batch_size, crew.T) == (batch_size, T)
    if not fits or n_rows > len(crew.rows):
        if crew is not None:
            crew.close()
        crew = model.crew = Crew(model, data, batch_size, T, max(n_rows, len(data.X)))
        weakref.finalize(model, crew.close)  # the crew holds the model's arrays, never the model
    return crew


class Crew:
    """Threads 1..T-1 of one model's shared training (`_train_one_hidden_shared`), kept between calls
    of `train`; the calling thread is thread 0. Between calls a helper spins for about a millisecond
    (`_serve`), so the calls that make up one epoch cost no wake-up (starting a thread, or waking a
    sleeping one, costs ~0.1 ms: 5 ms an epoch for a progress bar's 50 calls); then it sleeps until
    thread 0 posts the next call."""

    POLLS = 20_000  # spin polls before a helper sleeps: a PAUSE takes ~40-140 cycles

    def __init__(self, model: Model, data: Data, batch_size: int, T: int, capacity: int) -> None:
        self.data, self.batch_size, self.T = data, batch_size, T
        buf = SharedBuffers(model.sizes, batch_size, model.W[1].dtype, T)
        self.sync = np.zeros((T + 1) * SLOT, np.int64)  # see SLOT
        self.job = np.zeros(2)  # the posted call's number of rows and lr
        self.rows = np.full(capacity, 0, np.int64)  # its rows (written now: no page faults in a timed call)
        self.shared = (data.X, data.c255, data.labels)
        # each thread's arguments from lo, hi on: the model's arrays (updated in place), never the model
        self.state = [(lo, hi, model.W[1], model.b[1], model.W[2], model.b[2], buf.b1s, buf.W2s, buf.b2s, buf.zero,
                       buf.a0s, buf.z1s, buf.a1s, buf.delta1s, buf.z2_parts, buf.z2s, buf.a2s, buf.delta2s,
                       model.activation, model.loss)
                      for lo, hi in buf.bounds]  # fmt: skip
        self.sizes = model.sizes
        self.closed = False
        self.wake = [threading.Event() for _ in range(T)]
        self.helpers = [threading.Thread(target=self._helper, args=(t,), name=f"numba-train-{t}", daemon=True)
                        for t in range(1, T)]  # fmt: skip
        for helper in self.helpers:
            helper.start()

    def run(self, rows: np.ndarray, lr: float) -> None:
        """Train on `rows` with every thread of the crew; the model is whole when this returns."""
        n = len(rows)
        self.rows[:n] = rows
        self.job[:] = n, lr
        _post(self.sync, GO, self.sync[GO] + 1)
        for event in self.wake[1:]:
            event.set()
        try:
            finished = _train_one_hidden_shared(0, self.T, self.sync, *self.shared, self.rows[:n], self.batch_size,
                                                lr, self.sizes, *self.state[0])  # fmt: skip
        except BaseException:
            self.sync[FAILED] = 1  # the helpers stop at their next barrier instead of waiting forever
            self.close()
            raise
        if not finished:
            self.close()
            raise RuntimeError("a numba training thread failed (its error is printed above); the model is incomplete")

    def _helper(self, t: int) -> None:
        try:
            while True:
                self.wake[t].wait()
                self.wake[t].clear()
                if self.closed:
                    return
                _serve(t, self.T, self.sync, self.job, self.rows, *self.shared, self.batch_size, self.sizes,
                       self.POLLS, *self.state[t])  # fmt: skip
        except BaseException:
            self.sync[FAILED] = 1
            raise

    def close(self) -> None:
        """Let the helper threads end (they hold the model's arrays until then)."""
        self.closed = True
        _post(self.sync, STOP, 1)
        for event in self.wake:
            event.set()


# ---------------------------------------------------------------- inference and warm-up
def predict(model: Model, data: Data) -> np.ndarray:
    buf = _buffers(model, PREDICT_CHUNK)
    out = np.empty(len(data.X), dtype=np.int64)
    _predict_kernel(data.X, data.c255, model.sizes, model.W, model.b, buf.z, buf.a, model.activation, model.loss, out)
    return out


def warmup(model: Model, data: Data) -> None:
    """Compile (or load from the on-disk cache) the train and predict kernels for this model's dtype
    and layers, on a scratch copy, and give the model its buffers and, when threads share the batches,
    its crew: a crew made in the first timed call cost that epoch ~0.8 ms (threads started, memory
    touched). The model's weights are left as they were."""
    B = model.batch_size
    scratch = copy.deepcopy(model)
    train(scratch, data, np.arange(min(len(data.X), 2 * B)), B, 0.1)
    predict(scratch, Data(data.X[:20], data.labels[:20], data.c255))
    T = _threads(model)
    if T > 1:
        _crew(model, data, B, T, len(data.X))
    else:
        _buffers(model, B)
