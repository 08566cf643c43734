"""Threads sharing every batch of the one-hidden-layer network: the split, the spinning barrier, the crew.

T threads share each batch, each owning a share of the hidden units (`split`: rows of W1, columns
of W2) and exchanging only their parts of z2, behind one spinning barrier per batch
(`train_one_hidden_shared`, the math of math.train_one_hidden split by units). A batch of 10 is too
little work for numba's own parallel regions (prange), which take longer to start than the batch
takes to train; so the calling thread is thread 0 and a `Crew` keeps threads 1..T-1 between calls.
"""

from __future__ import annotations

import threading
import weakref
from typing import NamedTuple

import numpy as np

from .compiler import JIT, LINE, PAGE, load_acquire, njit, pause, store_release
from .kernels import affine, backprop, copied, load_batch, padded, sgd_step
from .math import f, output, output_delta, times_f_prime

# The threads coordinate through one int64 array, `sync`: the crew's flags first, then thread t's
# counters at sync[(t + 1) * SLOT:] (barriers passed, calls served). SLOT = 128 bytes, so no two
# threads' counters share a cache line or the line the CPU prefetches beside it.
SLOT = 2 * LINE // 8
FAILED, GO, STOP = 0, 1, 2  # a thread failed; calls posted by thread 0; the crew is to stop
# Threads share the hidden units in twos: `affine` takes W's rows four or two at a time, and with W1's
# rows an odd number of half pages apart (kernels.padded) an even row starts a page.
SPLIT_STEP = 2
MIN_UNITS_PER_THREAD = 8  # hidden units a thread takes at least


def split(n1: int, T: int, rates=None) -> list[tuple[int, int]]:
    """Thread t's hidden units lo:hi when T threads share n1 of them: cut at the multiples of
    SPLIT_STEP nearest to each thread's share (half-way rounding up), at least MIN_UNITS_PER_THREAD
    each. The shares are equal (36 units, two threads: 18 and 18) or, given `rates` (what each
    thread achieves, in any unit: units a second, say), proportional to them. Threads need not run
    at one speed (docs/kernels.md): `measured_split` chooses among such splits by timing them.
    """
    if rates is None or len(rates) != T or not all(r > 0 and r < float("inf") for r in rates):
        rates = [1.0] * T  # equal shares: unmeasured, or a measurement that says nothing
    total, before = float(sum(rates)), 0.0
    bounds = [0]
    for t in range(1, T):
        before += rates[t - 1]
        cut = int(n1 * before / total / SPLIT_STEP + 0.5) * SPLIT_STEP
        bounds.append(min(max(cut, bounds[-1] + MIN_UNITS_PER_THREAD), n1 - (T - t) * MIN_UNITS_PER_THREAD))
    bounds.append(n1)
    return list(zip(bounds[:-1], bounds[1:]))


class Shared(NamedTuple):
    """What the T threads share: the sync array, the posted call, and the parts of z2 they exchange."""

    sync: np.ndarray  # int64 flags and counters, see SLOT
    T: int
    job: np.ndarray  # the posted call's number of rows and lr
    rows: np.ndarray  # its rows
    polls: int  # spin polls before a helper sleeps (`serve`)
    z2_parts: np.ndarray  # [2, T, >= B, n2]: thread t's part of z2 for even and odd batches, each on its own pages
    zero: np.ndarray  # [n2] zeros: the bias of the parts


class Own(NamedTuple):
    """Thread t's units lo:hi and its own blocks, each on pages that no other thread writes:
    b1, z1, a1, delta1 and W2's columns for its units; its images; its z2, a2, delta2 and copy of b2."""

    t: int  # 0 is the calling thread
    lo: int
    hi: int  # n = hi - lo units; the blocks below are [., n] in arrays of whole cache lines
    b1: np.ndarray  # [n]
    W2: np.ndarray  # [n2, n]: columns lo:hi of W2
    b2: np.ndarray  # [n2]: every thread updates its own copy, identically
    a0: np.ndarray  # [B, n0]: the batch's images, gathered by each thread
    z1: np.ndarray  # [B, n]
    a1: np.ndarray  # [B, n]
    delta1: np.ndarray  # [B, n]
    z2: np.ndarray  # [B, n2]: the whole z2, a2 and delta2, the same in every thread
    a2: np.ndarray  # [B, n2]
    delta2: np.ndarray  # [B, n2]


@njit(nogil=True, **JIT)
def train_one_hidden_shared(net, data, rows, batch_size, lr, shared, own):
    """Thread t's part of math.train_one_hidden when T threads share every batch: the same math, split.

    Thread t owns hidden units lo..hi-1 (hi - lo = n): rows lo:hi of W1, and its own blocks of b1,
    z1, a1, delta1 and of W2's columns for those units. z2 = a1 W2^T + b2 is a sum over hidden
    units, so each thread computes its units' part of it, a1[:, lo:hi] W2[:, lo:hi]^T; those [B, 10]
    parts are all that threads exchange, once per batch, behind one barrier. Every thread then adds
    them in the same order, so z2, a2 and delta2 come out identical in each (its own buffers), and
    each updates its own copy of b2 identically. Everything else a thread reads it wrote itself: W2's
    columns and a1 for its units, and the batch's images, which every thread gathers for itself
    (cheaper than sharing them). The parts alternate between two buffers by batch parity: a thread
    running ahead never overwrites a part another may still be reading. Each thread copies its part
    of the model's b1, W2 and b2 into its blocks at the start and back at the end (b2: thread 0).
    Returns once every thread has finished `rows` and the model is whole (True), or when a thread
    failed (False).
    """
    sizes, (_, model_W1, model_W2), (_, model_b1, model_b2), activation, loss = net
    X, labels, scale = data
    sync, T, _, _, _, z2_parts, zero = shared
    t, lo, hi, b1, W2, b2, a0, z1, a1, delta1, z2, a2, delta2 = own
    n0, n2, n = sizes[0], sizes[2], hi - lo
    k = sync[(t + 1) * SLOT]  # barriers this thread has passed, in earlier calls too
    W1 = model_W1[lo:hi]  # this thread's rows of W1; its b1, W2 (columns lo:hi) and b2 are its own blocks
    b1[:n], W2[:, :n], b2[:n2] = model_b1[lo:hi], model_W2[:, lo:hi], model_b2
    for start in range(0, len(rows), batch_size):
        k += 1
        p = k % 2
        B = min(batch_size, len(rows) - start)
        load_batch(X, scale, rows, start, B, batch_size, a0, n0)  # a0 = X batch / 255  [B, 784]
        # forward: z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)
        affine(a0, W1, b1, z1, B, n0, n)  # this thread's units of z1 [B, n]
        f(activation, z1, a1, B, n)
        affine(a1, W2, zero, z2_parts[p, t], B, n, n2)  # their part of z2 - b2  [B, 10]
        if not barrier(sync, t, T, k):  # every thread's part is in
            return False
        sum_blocks(z2_parts[p], b2, z2, B)  # z2 [B, 10], whole
        output(activation, loss, z2, a2, B, n2)
        # backward: delta2 from the loss; hidden delta1 = (delta2 W2) * f'(z1), with W2 before its update
        output_delta(activation, loss, z2, a2, labels, rows, start, delta2, B, n2)
        backprop(delta2, W2, delta1, B, n, n2)  # this thread's units of delta1 [B, n]
        times_f_prime(activation, z1, a1, delta1, B, n)
        # update: W_l -= (lr / B) grad_W_l,  grad_W_l = delta_l^T a_{l-1};  b_l -= (lr / B) grad_b_l
        eta = a0.dtype.type(lr / B)
        sgd_step(delta2, a1, W2, b2, eta, B, n, n2)  # W2's columns lo:hi, and this thread's copy of b2
        sgd_step(delta1, a0, W1, b1, eta, B, n0, n)  # rows lo:hi of W1
    model_b1[lo:hi], model_W2[:, lo:hi] = b1[:n], W2[:, :n]
    if t == 0:
        model_b2[:] = b2[:n2]
    return barrier(sync, t, T, k + 1)  # every thread is done: the model is whole


@njit(**JIT)
def barrier(sync, t, T, k):
    """Thread t of T is at its k-th barrier: wait until every thread is. False if a thread failed.

    Each thread's count sits on its own cache line (sync[(t + 1) * SLOT]); a thread publishes its count
    with a release store and reads the others' with acquire loads, so everything a thread wrote
    before its barrier is visible to every thread after it. Spinning, not sleeping: waking a sleeping
    thread takes longer than a batch."""
    store_release(sync, (t + 1) * SLOT, k)
    for u in range(T):
        while load_acquire(sync, (u + 1) * SLOT) < k:
            if load_acquire(sync, FAILED) != 0:
                return False
            pause()
    return True


@njit(**JIT)
def sum_blocks(parts, b, Z, B):
    """Z = b + parts[0] + parts[1] + ..., for the first B rows of Z and of each part, along the rows'
    whole padded width, whole vectors: the other threads' parts come from their cores' caches, and a
    row's vector loads ask for all of its lines at once (one by one, value by value, the loads waited
    on one transfer after another). The padding of each is zero, and stays so."""
    width = min(Z.shape[1], parts.shape[2], b.shape[0])
    for s in range(B):
        for k in range(width):
            Z[s, k] = b[k]
        for u in range(parts.shape[0]):
            for k in range(width):
                Z[s, k] += parts[u, s, k]


@njit(nogil=True, **JIT)
def serve(net, data, batch_size, shared, own):
    """Helper thread t: run its part of each call of `train` that thread 0 posts (sync[GO] counts
    them; job holds its number of rows and lr, job_rows the rows), until none comes for `polls` polls
    (between the calls of one epoch it stays here) or the crew stops."""
    sync, _, job, job_rows, polls, _, _ = shared
    slot = (own[0] + 1) * SLOT  # own[0]: t
    while True:
        done = sync[slot + 1]  # calls this thread has served
        polled = 0
        while load_acquire(sync, GO) == done:
            if load_acquire(sync, STOP) != 0 or polled == polls:
                return
            pause()
            polled += 1
        n, lr = np.int64(job[0]), job[1]
        if not train_one_hidden_shared(net, data, job_rows[:n], batch_size, lr, shared, own):
            return
        sync[slot + 1] = done + 1


@njit(**JIT)
def post(sync, index, value):
    """sync[index] = value, after every earlier store (the job's rows and parameters)."""
    store_release(sync, index, value)


# ---------------------------------------------------------------- the crew
class Crew:
    """Threads 1..T-1 of one model's shared training, kept between calls of `train`; the calling thread
    is thread 0. Between calls a helper spins (`serve`), so the calls that make up one epoch cost no
    wake-up (starting or waking a thread takes longer than a batch); then it sleeps until thread 0
    posts the next call. It holds the model's arrays (`net`), never the model."""

    POLLS = 20_000  # spin polls before a helper sleeps: longer than the gap between two calls of an epoch

    def __init__(self, net, data, batch_size: int, T: int, capacity: int, bounds=None) -> None:
        self.net, self.data, self.batch_size, self.T = net, data, batch_size, T
        n0, n1, n2 = (int(n) for n in net.sizes)
        bounds = bounds or split(n1, T)
        units = max(hi - lo for lo, hi in bounds)
        dtype, B = net.W[1].dtype, batch_size

        # Every block starts on a page of its own, each thread's and each exchanged part of z2: no two
        # threads write lines of one page. The CPU's prefetchers fetch lines beside and ahead of those
        # a thread reads, within its page; blocks of two threads side by side on a page would bounce
        # between their cores every batch, as if they shared lines.
        def block(rows, n):  # zeros [rows, n (padded)], each row on a cache line, on pages of its own
            return padded(rows, n, dtype, pages=False)

        def own(t, lo, hi):
            b1, W2, b2 = block(1, units)[0], block(n2, units), block(1, n2)[0]
            a0, z1, a1, delta1 = block(B, n0), block(B, units), block(B, units), block(B, units)
            return Own(t, lo, hi, b1, W2, b2, a0, z1, a1, delta1, block(B, n2), block(B, n2), block(B, n2))

        row_bytes = block(1, n2).strides[0]
        part_rows = -(-B * row_bytes // PAGE) * PAGE // row_bytes  # B rows, rounded up to whole pages
        z2_parts = block(2 * T * part_rows, n2).reshape(2, T, part_rows, -1)  # [2, T, >= B, n2]
        sync = np.zeros((T + 1) * SLOT, np.int64)
        job = np.zeros(2)
        rows = np.full(capacity, 0, np.int64)  # written now: no page faults in a timed call
        self.shared = Shared(sync, T, job, rows, self.POLLS, z2_parts, block(1, n2)[0])
        owns = [own(t, lo, hi) for t, (lo, hi) in enumerate(bounds)]
        # each thread's arguments, as plain tuples (see math.py): the model's arrays, never the model
        self.bundles = [(tuple(net), tuple(data), tuple(self.shared), tuple(own)) for own in owns]
        self.closed = False
        self.wake = [threading.Event() for _ in range(T)]
        self.helpers = [
            threading.Thread(target=self._helper, args=(t,), name=f"numba-train-{t}", daemon=True) for t in range(1, T)
        ]
        for helper in self.helpers:
            helper.start()

    def run(self, rows: np.ndarray, lr: float) -> None:
        """Train on `rows` with every thread of the crew; the model is whole when this returns."""
        n, sync = len(rows), self.shared.sync
        self.shared.rows[:n] = rows
        self.shared.job[:] = n, lr
        post(sync, GO, sync[GO] + 1)
        for event in self.wake[1:]:
            event.set()
        net, data, shared, own = self.bundles[0]
        try:
            finished = train_one_hidden_shared(net, data, self.shared.rows[:n], self.batch_size, lr, shared, own)
        except BaseException:
            sync[FAILED] = 1  # the helpers stop at their next barrier instead of waiting forever
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
                net, data, shared, own = self.bundles[t]
                serve(net, data, self.batch_size, shared, own)
        except BaseException:
            self.shared.sync[FAILED] = 1
            raise

    def close(self) -> None:
        """Let the helper threads end (they hold the model's arrays until then)."""
        self.closed = True
        post(self.shared.sync, STOP, 1)
        for event in self.wake:
            event.set()


def crew_for(model, data, batch_size: int, T: int, n_rows: int) -> Crew:
    """The model's crew for this data, batch size and T that takes n_rows rows a call: its own, or a new
    one sharing the hidden units as `model.split` says (measured in warm-up), else equally."""
    crew = model.crew
    fits = crew is not None and crew.data is data and (crew.batch_size, crew.T) == (batch_size, T)
    if not fits or n_rows > len(crew.shared.rows):
        if crew is not None:
            crew.close()
        bounds = model.split if model.split and len(model.split) == T else None
        crew = model.crew = Crew(model.net, data, batch_size, T, max(n_rows, len(data.X)), bounds)
        weakref.finalize(model, crew.close)  # the crew holds the model's arrays, never the model
    return crew


PROBE_ROWS = 12_000  # rows each candidate split trains in warm-up, a fifth of an epoch
PROBE_ROUNDS = 3  # each candidate's best of this many, the candidates taking turns
SHARES = (0.5, 0.8, 1.0, 1.25, 2.0)  # thread 0's speed over the others', as the candidates assume


def measured_split(net, data, batch_size: int, T: int) -> list[tuple[int, int]]:
    """The split of the hidden units that trains fastest here. The calling thread and the helpers need
    not run at one speed (a sibling hyperthread, a busy core, a VM's vCPUs, the extra work thread 0
    does), so each candidate (`split` with thread 0 SHARES times as fast as the others) trains a copy of
    the weights over the same random rows, and the one with the shortest best time wins. Measured once
    per process and shape: every model of a process then trains alike, bit for bit."""
    import time

    n1 = int(net.sizes[1])
    key = (n1, T, batch_size, net.W[1].dtype.name)
    if key in _MEASURED:
        return _MEASURED[key]
    candidates = list(dict.fromkeys(tuple(split(n1, T, [s] + [1.0] * (T - 1))) for s in SHARES))
    if len(candidates) == 1:
        return list(candidates[0])
    copy = net._replace(W=tuple(copied(W) for W in net.W), b=tuple(copied(b) for b in net.b))  # laid out as net
    rows = np.random.default_rng(0).permutation(len(data.X))[:PROBE_ROWS].astype(np.int64)
    best = [float("inf")] * len(candidates)
    for _ in range(PROBE_ROUNDS):
        for i, bounds in enumerate(candidates):
            crew = Crew(copy, data, batch_size, T, len(rows), list(bounds))
            try:
                crew.run(rows[: 2 * batch_size], 0.1)  # the helper awake, the buffers touched
                start = time.perf_counter()
                crew.run(rows, 0.1)
                best[i] = min(best[i], time.perf_counter() - start)
            finally:
                crew.close()
    _MEASURED[key] = list(candidates[best.index(min(best))])
    return _MEASURED[key]


_MEASURED: dict[tuple, list[tuple[int, int]]] = {}  # measured_split's choices in this process
