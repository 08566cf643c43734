"""The loops under the math: the blocked layer products, the SGD step, the input batch, e^x.

Each trick is explained in one sentence where it happens; what each bought, as measured, is in
docs/kernels.md. The layout they rely on: every row of a weight or buffer array starts on a cache
line and is padded to whole lines (`padded`), and the padding is zero, so the small layers' loops
can run along a row's whole padded width, whole vectors with no scalar remainder.
"""

from __future__ import annotations

import numpy as np

from .compiler import FAST, JIT, LINE, PAGE, TARGET, float32_from_bits, njit, overload, prefetch, types


def padded(rows: int, n: int, dtype, pages: bool = True) -> np.ndarray:
    """Zeros [rows, stride], C-contiguous, starting on a page: row r's n values are [r, :n].

    Rows of a batch, and narrow rows, are padded to whole cache lines. Rows of weights (`pages`) wider
    than half a page are laid out for `sgd_step`, which stores into two rows of W while it loads
    them: on CPUs with 16 vector registers they get whole pages, so that its loads never wait on a
    store to an address equal modulo 4 KiB (the CPU's "4K aliasing" check: every row starts at the same
    offset in a page). With 32 (`affine_4x5`, which reads four rows of W at once) rows at the same
    offset in a page share the L1 cache's sets, and an epoch's time then depended on where in memory
    the weights landed; there rows are an odd number of half pages apart: neighbours half a page out
    of step, their loads 2 KiB behind their stores, beyond the reach of that check.
    """
    itemsize = np.dtype(dtype).itemsize
    stride = -(-n * itemsize // LINE) * LINE
    if pages and stride > PAGE // 2:
        halves = -(-stride // (PAGE // 2))  # the half pages a row needs
        if (halves % 2 == 1) != (TARGET.registers >= 32):
            halves += 1  # whole pages with 16 registers, an odd number of half pages with 32
        stride = halves * (PAGE // 2)
    return _zeros_on_a_page((rows, max(stride, LINE) // itemsize), dtype)


def copied(a: np.ndarray) -> np.ndarray:
    """A copy of `a` starting on a page, as `padded` made it: numpy's own copy starts wherever the
    allocator puts it, often part-way into a cache line, where every vector load of a row crosses two."""
    out = _zeros_on_a_page(a.shape, a.dtype)
    out[...] = a
    return out


def _zeros_on_a_page(shape: tuple, dtype) -> np.ndarray:
    itemsize, size = np.dtype(dtype).itemsize, int(np.prod(shape))
    raw = np.zeros(size + PAGE // itemsize, dtype)
    start = (-raw.ctypes.data % PAGE) // itemsize
    return raw[start : start + size].reshape(shape)


# ---------------------------------------------------------------- the input batch
def div255_factors(dtype) -> np.ndarray:
    """`div255`'s k and c: [137, 1 / (255 * 137)], rounded in the dtype."""
    factors = np.array([137, 1], dtype)
    factors[1] /= 255 * 137
    return factors


@njit(**JIT)
def div255(v, k, c):
    """The uint8 x / 255, correctly rounded in v's dtype, in two multiplications, without a division (a
    vector divide is slow): (137 x) (1 / 34935), 34935 = 255 * 137. 137 x is exact, and for each of the
    256 values the one rounding of the product lands where numpy's x / 255 does, in float32 and in
    float64 (tests/backends/test_numba_step.py checks them all); x (1 / 255) alone is off by an ulp for
    126 of them in float32, 24 in float64. v: x in the dtype, k: 137, c: 1 / 34935 rounded. Compiled
    without fastmath, so that LLVM does not fold the two factors into one."""
    return (v * k) * c


@njit(**JIT)
def load_batch(X, scale, rows, start, B, batch_size, a0, n0):
    """a0 = X[rows[start : start + B]] / 255, and the next batch's images sent for (it trains meanwhile)."""
    for s in range(start + batch_size, min(start + 2 * batch_size, len(rows))):
        x = X[rows[s]]
        for i in range(0, n0, LINE // X.itemsize):
            prefetch(x, i)
        prefetch(x, n0 - 1)  # a row need not start on a line: its last line too
    k, c = scale[0], scale[1]
    for s in range(B):
        x = X[rows[start + s]]
        for i in range(n0):
            a0[s, i] = div255(a0.dtype.type(x[i]), k, c)


# ---------------------------------------------------------------- e^x
def exp(x):
    """e^x; compiled per dtype by `_exp_for`."""
    return np.exp(x)


@overload(exp)
def _exp_for(x):
    if x != types.float32:
        return lambda x: np.exp(x)
    f32 = np.float32
    lo, hi = f32(-87.33654475055310898657), f32(88.72283935546875)  # e^x below FLT_MIN, above FLT_MAX

    def expf(x):
        """float32 e^x with no call, branch or table, so that a loop of it vectorizes (libm's expf is
        one call per value). Cephes' expf: x = k ln2 + r, e^r by polynomial, 2^k from its bits in two
        factors (so k = 128 and k = -126 both work). Below FLT_MIN it returns 0 where libm returns a
        subnormal; no sum here can tell them apart."""
        xc = min(max(x, lo), hi)
        k = (xc * f32(1.44269504088896341) + f32(12582912.0)) - f32(12582912.0)  # round(x / ln 2), 1.5 * 2^23
        r = xc - k * f32(0.693359375) - k * f32(-2.12194440e-4)  # ln 2 in two parts
        p = (f32(1.9875691500e-4) * r + f32(1.3981999507e-3)) * r + f32(8.3334519073e-3)
        p = (((p * r + f32(4.1665795894e-2)) * r + f32(1.6666665459e-1)) * r + f32(5.0000001201e-1)) * (r * r)
        p = p + r + f32(1)
        k1 = np.int32(k) >> np.int32(1)
        k2 = np.int32(k) - k1
        p = p * float32_from_bits((k1 + np.int32(127)) << np.int32(23))  # * 2^k1
        p = p * float32_from_bits((k2 + np.int32(127)) << np.int32(23))  # * 2^k2
        p = f32(np.inf) if x > hi else p
        return f32(0) if x < lo else p

    return expf


# ---------------------------------------------------------------- blocked products
@njit(**FAST)
def affine_rows(A, W, b, Z, B, n, lo, m):
    """Rows lo..m-1 of Z = A W^T + b (n already widened by the caller), one row of W at a time against
    5 rows of A, then the leftover rows of A (B % 5) one at a time."""
    zero = W.dtype.type(0)
    for j in range(lo, m):
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


@njit(**FAST)
def affine_4x5(A, W, b, Z, B, n, m):
    """Z = A W^T + b for the first B rows of A [., n], W [m, n], b [m] and Z [., m], for CPUs with
    32 vector registers (AVX-512, AArch64).

    Blocking: 4 rows of W against 5 rows of A at a time. The inner loop runs along n, contiguous in
    all nine rows, with 20 partial sums that LLVM keeps in vector registers: per step 9 vector loads
    feed 20 vector FMAs. The 5 rows of A are the outer loop: they stay in L1 while all of W streams
    past from L2 (once per 5 rows of A), where W's rows outside would pull all of A through L1 again
    for every 4 rows of W. Leftover rows of W (m % 4) go two at a time against 5 rows of A
    (`affine_pairs`); leftover rows of A (B % 5) go one at a time.

    Rows padded to whole cache lines (n < 512 bytes) are summed along their whole width: whole vectors
    with no scalar remainder. W's padding is zero and A's finite (zero, or f(0)).
    """
    zero = W.dtype.type(0)
    if A.shape[1] == W.shape[1] and (A.shape[1] - n) * A.itemsize < LINE:
        n = A.shape[1]
    for s in range(0, B - 4, 5):  # 5 rows of A stay in L1 while the rows of W stream past
        x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
        for j in range(0, m - 3, 4):
            w0, w1, w2, w3 = W[j], W[j + 1], W[j + 2], W[j + 3]
            b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]  # + b as the sums are stored
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
        for j in range(0, m - 3, 4):
            w0, w1, w2, w3 = W[j], W[j + 1], W[j + 2], W[j + 3]
            b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]  # + b as the sums are stored
            c00 = c10 = c20 = c30 = zero
            for i in range(n):
                x = x0[i]
                c00 += w0[i] * x
                c10 += w1[i] * x
                c20 += w2[i] * x
                c30 += w3[i] * x
            Z[s, j], Z[s, j + 1], Z[s, j + 2], Z[s, j + 3] = c00 + b0, c10 + b1, c20 + b2, c30 + b3
    affine_pairs(A, W, b, Z, B, n, m - m % 4, m)  # leftover rows of W, two at a time


@njit(**FAST)
def affine_2x5(A, W, b, Z, B, n, m):
    """Z = A W^T + b as `affine_4x5`, for CPUs with 16 vector registers (AVX2, SSE, any other).

    Blocking: 2 rows of W against 5 rows of A: 10 partial sums, 2 rows of W and one of A in 13 of the
    16 registers, per step 7 vector loads for 10 FMAs; 4 x 5 = 20 partial sums would not fit, and
    LLVM would keep half of them on the stack, loaded and stored on every step. 10 independent sums
    still cover an FMA's latency on two FMA units. Rows of A outer, and leftover rows of A, as in
    `affine_4x5`.
    """
    affine_pairs(A, W, b, Z, B, n, 0, m)


@njit(**FAST)
def affine_pairs(A, W, b, Z, B, n, lo, m):
    """Rows lo..m-1 of Z = A W^T + b, two rows of W at a time (`affine_2x5`), the last alone if odd."""
    zero = W.dtype.type(0)
    if A.shape[1] == W.shape[1] and (A.shape[1] - n) * A.itemsize < LINE:
        n = A.shape[1]
    for s in range(0, B - 4, 5):  # 5 rows of A stay in L1 while the rows of W stream past
        x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
        for j in range(lo, m - 1, 2):
            w0, w1 = W[j], W[j + 1]
            b0, b1 = b[j], b[j + 1]
            c00 = c01 = c02 = c03 = c04 = c10 = c11 = c12 = c13 = c14 = zero
            for i in range(n):
                v0, v1 = w0[i], w1[i]
                x = x0[i]
                c00 += v0 * x
                c10 += v1 * x
                x = x1[i]
                c01 += v0 * x
                c11 += v1 * x
                x = x2[i]
                c02 += v0 * x
                c12 += v1 * x
                x = x3[i]
                c03 += v0 * x
                c13 += v1 * x
                x = x4[i]
                c04 += v0 * x
                c14 += v1 * x
            Z[s, j], Z[s, j + 1] = c00 + b0, c10 + b1
            Z[s + 1, j], Z[s + 1, j + 1] = c01 + b0, c11 + b1
            Z[s + 2, j], Z[s + 2, j + 1] = c02 + b0, c12 + b1
            Z[s + 3, j], Z[s + 3, j + 1] = c03 + b0, c13 + b1
            Z[s + 4, j], Z[s + 4, j + 1] = c04 + b0, c14 + b1
    for s in range(B - B % 5, B):  # leftover rows of A, one at a time
        x0 = A[s]
        for j in range(lo, m - 1, 2):
            w0, w1 = W[j], W[j + 1]
            c00 = c10 = zero
            for i in range(n):
                x = x0[i]
                c00 += w0[i] * x
                c10 += w1[i] * x
            Z[s, j], Z[s, j + 1] = c00 + b[j], c10 + b[j + 1]
    affine_rows(A, W, b, Z, B, n, m - (m - lo) % 2, m)  # the last row of W alone


# Z = A W^T + b: the blocking whose partial sums fit the vector registers of the CPU compiled for
# (compiler.TARGET, which numba's cache key also holds).
affine = affine_4x5 if TARGET.registers >= 32 else affine_2x5


@njit(**JIT)
def step(eta, d):
    """eta d, or 0 where that is subnormal (below the dtype's smallest normal number, ~1.2e-38 in float32).

    Why: on x86 a vector FMA with a subnormal operand takes a microcode assist, many times its usual
    cost, and as sigmoid units saturate a few hidden deltas per batch become that small; every FMA of
    a pass over a row of W1 would use them. Dropping them changes no weight: w - eta d x rounds back
    to w unless |w| < ~1e-31.
    """
    e = eta * d
    normal = abs(e) >= np.finfo(e).tiny  # False for a subnormal e (and for NaN, which e * False keeps)
    return e * normal  # e, or 0 in e's dtype


@njit(**FAST)
def sgd_step(delta, A, W, b, eta, B, n, m):
    """W -= eta delta^T A and b -= eta (sum of delta's rows), for the first B rows of delta [., m]
    and A [., n], W [m, n], b [m].

    Blocking: 2 rows of W updated by 5 rows of A at a time, in one contiguous pass along n: per step
    7 vector loads, 2 stores and 10 vector FMAs (eta delta[s, j] held in registers). As in `affine`,
    the 5 rows of A are the outer loop and stay in L1; W goes from L2 to the core and back once per 5
    rows of A. grad_W = delta^T A is never stored.
    The factors eta delta[s, j] go through `step`, which drops subnormal ones.
    b takes the rows of delta one at a time, each a contiguous vector loop, not column by column
    (strided, scalar).
    """
    for s in range(B):
        d = delta[s]
        for j in range(m):
            b[j] -= eta * d[j]
    for s in range(0, B - 4, 5):  # 5 rows of A stay in L1 while the rows of W stream past
        x0, x1, x2, x3, x4 = A[s], A[s + 1], A[s + 2], A[s + 3], A[s + 4]
        for j in range(0, m - 1, 2):
            w0, w1 = W[j], W[j + 1]
            e00, e10 = step(eta, delta[s, j]), step(eta, delta[s, j + 1])  # image s, rows j and j + 1
            e01, e11 = step(eta, delta[s + 1, j]), step(eta, delta[s + 1, j + 1])
            e02, e12 = step(eta, delta[s + 2, j]), step(eta, delta[s + 2, j + 1])
            e03, e13 = step(eta, delta[s + 3, j]), step(eta, delta[s + 3, j + 1])
            e04, e14 = step(eta, delta[s + 4, j]), step(eta, delta[s + 4, j + 1])
            for i in range(n):
                v0, v1, v2, v3, v4 = x0[i], x1[i], x2[i], x3[i], x4[i]
                w0[i] -= e00 * v0 + e01 * v1 + e02 * v2 + e03 * v3 + e04 * v4
                w1[i] -= e10 * v0 + e11 * v1 + e12 * v2 + e13 * v3 + e14 * v4
    for s in range(B - B % 5, B):  # leftover rows of A, one at a time
        x0 = A[s]
        for j in range(0, m - 1, 2):
            w0, w1 = W[j], W[j + 1]
            e00, e10 = step(eta, delta[s, j]), step(eta, delta[s, j + 1])
            for i in range(n):
                w0[i] -= e00 * x0[i]
                w1[i] -= e10 * x0[i]
    if m % 2:  # the last row of W alone
        w0 = W[m - 1]
        for s in range(B):
            x0 = A[s]
            e00 = step(eta, delta[s, m - 1])
            for i in range(n):
                w0[i] -= e00 * x0[i]


@njit(**FAST)
def backprop(delta, W, out, B, n, m):
    """out = delta W for the first B rows of delta [., m] and out [., n], W [m, n].

    Blocking: 10 rows of W at a time (the output layer's 10 make one block), each added to a row of
    out as one 10-term sum: per vector 11 loads, 10 FMAs and one store, in whole vectors along these
    short rows; added one row of W at a time, each row of out would be loaded and stored 10 times, in
    loops too short for the vectorizer's main body. Leftover rows of W (m % 10) go one at a time.
    Along the whole padded width: W's padding is zero, so out's stays zero.
    """
    width = min(out.shape[1], W.shape[1])  # equal: both rows hold n values
    for s in range(B):
        for i in range(width):
            out[s, i] = 0
    for k in range(0, m - 9, 10):
        w0, w1, w2, w3, w4 = W[k], W[k + 1], W[k + 2], W[k + 3], W[k + 4]
        w5, w6, w7, w8, w9 = W[k + 5], W[k + 6], W[k + 7], W[k + 8], W[k + 9]
        for s in range(B):
            d, o = delta[s], out[s]
            d0, d1, d2, d3, d4 = d[k], d[k + 1], d[k + 2], d[k + 3], d[k + 4]
            d5, d6, d7, d8, d9 = d[k + 5], d[k + 6], d[k + 7], d[k + 8], d[k + 9]
            for i in range(width):
                o[i] += (
                    d0 * w0[i]
                    + d1 * w1[i]
                    + d2 * w2[i]
                    + d3 * w3[i]
                    + d4 * w4[i]
                    + d5 * w5[i]
                    + d6 * w6[i]
                    + d7 * w7[i]
                    + d8 * w8[i]
                    + d9 * w9[i]
                )
    for k in range(m - m % 10, m):  # leftover rows of W, one at a time
        w0 = W[k]
        for s in range(B):
            d0, o = delta[s, k], out[s]
            for i in range(width):
                o[i] += d0 * w0[i]
