"""The shared training driver: the same epochs, batches, timing and evaluation for every backend.

It holds no math. Per docs/timing.md, `train_s` covers `backend.train` over one epoch
and nothing else; setup (weights and data into the backend's form), warm-up/compilation and
evaluation are timed apart. With `settle_s`, it first waits for the kernel to finish returning freed
memory to the hypervisor (core.environment.settle), whose passes would stall the first epochs, and
then trains a copy of the model for a second, untimed (see `spin_up`). With a time budget, a backend
too slow for full epochs is timed on the first batches of each epoch and its epoch time extrapolated;
such rows say so and from how many samples, and their accuracy is what that partial training reached.

After each epoch, and once before epoch 1, the test set's mean cost is computed by the float64 reference
(backends/numpy_plain.py) from the weights the backend reports, so that every backend's loss is the
same function and no backend has to implement it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np

from core import environment
from core.backend import lines_of_code, substrate_of
from core.results import signals_deferred
from core.spec import Spec, epoch_order, initial_weights

if TYPE_CHECKING:
    from tqdm import tqdm

    from core.mnist import Mnist

CALLS_PER_EPOCH = 50  # train calls an epoch: the progress bar moves between them, outside the timing
CHANCE_ACCURACY = 0.2  # on MNIST's ten classes a network that learned nothing scores ~10%
SPIN_UP_ROWS = 100  # rows a call while spinning up: a fraction of a second even for the pure-Python backend


@dataclass
class EpochRecord:
    epoch: int
    train_s: float  # seconds for one full epoch; extrapolated when samples_timed < n_train
    eval_s: float
    samples_timed: int
    extrapolated: bool
    test_correct: int
    test_total: int
    status: str = "ok"  # "ok" or "diverged"
    test_loss: float = math.nan  # the mean cost over the test set after this epoch (the reference's `cost`)

    @property
    def test_accuracy(self) -> float:
        return self.test_correct / self.test_total


@dataclass
class RunRecord:
    backend: str
    dtype: str
    spec: Spec
    setup_s: float = math.nan
    compile_s: float = math.nan
    epochs: list[EpochRecord] = field(default_factory=list)
    status: str = "ok"  # ok | diverged | stalled | interrupted | budget
    note: str = ""
    tier: str = ""  # the backend's: plain or tuned
    substrate: str = ""  # the library it measures (numpy, numba, ...)
    loc: int | str = ""  # the backend's lines of code (core.backend.lines_of_code)
    model: Any = field(default=None, repr=False, compare=False)  # the backend's model, for backend.weights()
    settled: Any = None  # core.environment.Settled: the wait for a quiet machine before epoch 1, if any
    spun_up_s: float = 0.0  # untimed training on a copy just before epoch 1 (see spin_up)
    initial_loss: float = math.nan  # the test set's mean cost with the initial weights

    @property
    def final_loss(self) -> float:
        return self.epochs[-1].test_loss if self.epochs else math.nan

    def train_times(self) -> list[float]:
        return [e.train_s for e in self.epochs if e.status == "ok"]

    @property
    def median_train_s(self) -> float:
        times = self.train_times()
        return median(times) if times else math.nan


def _round_to_batches(rows: float, batch_size: int, n: int) -> int:
    return int(min(n, max(batch_size, batch_size * (int(rows) // batch_size))))


def timed_train(
    backend, model, data, rows: np.ndarray, spec: Spec, bar: tqdm | None = None, epoch_rows: int | None = None
) -> float:
    """Seconds spent inside backend.train over `rows`, called on slices of an epoch's (`epoch_rows`, default
    len(rows)) 1 / CALLS_PER_EPOCH, cut at batch boundaries, whether or not a progress bar shows: what is
    timed never depends on the terminal."""
    if len(rows) == 0:  # the budget probe may already have covered every row to be timed
        return 0.0
    step = _round_to_batches((epoch_rows or len(rows)) / CALLS_PER_EPOCH, spec.batch_size, len(rows))
    seconds = 0.0
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        t0 = perf_counter()
        backend.train(model, data, chunk, spec.batch_size, spec.lr)
        seconds += perf_counter() - t0
        if bar is not None:
            bar.update(len(chunk))
    return seconds


@dataclass
class Prepared:
    """A backend's model and datasets, warmed up, and what that cost."""

    model: Any
    train_data: Any
    test_data: Any
    setup_s: float  # weights and data into the backend's form
    compile_s: float  # warm-up / JIT compilation


def prepare(backend, spec: Spec, mnist: Mnist, dtype: str) -> Prepared:
    """The initial weights and both datasets in `backend`'s form, then its warm-up (which must leave
    the model as it was); timed apart, as neither belongs to an epoch."""
    t0 = perf_counter()
    model = backend.load(initial_weights(spec), spec, dtype)
    train_data = backend.load_data(mnist.train_images, mnist.train_labels, dtype)
    test_data = backend.load_data(mnist.test_images, mnist.test_labels, dtype)
    setup_s = perf_counter() - t0
    t0 = perf_counter()
    if hasattr(backend, "warmup"):
        backend.warmup(model, train_data)
    return Prepared(model, train_data, test_data, setup_s, perf_counter() - t0)


def reloaded(backend, model, data, spec: Spec, dtype: str):
    """`model` loaded anew from its weights and warmed up on `data`: the same numbers in new arrays
    (and, for a backend with threads, new threads); `model` is left as it was."""
    copy = backend.load(backend.weights(model), spec, dtype)
    if hasattr(backend, "warmup"):
        backend.warmup(copy, data)
    return copy


def spin_up(backend, model, data, rows: np.ndarray, spec: Spec, dtype: str, seconds: float) -> float:
    """Train a copy of `model` (loaded from its weights, warmed up) on `rows` for about `seconds`,
    untimed, and return how long that took; the model itself is left as it was.

    Why: after the machine has been idle (the settle wait, loading data), the first fraction of a second
    of work on both cores ran slow; the measurements are in docs/timing.md."""
    copy = reloaded(backend, model, data, spec, dtype)
    started, start = perf_counter(), 0
    while perf_counter() - started < seconds:
        backend.train(copy, data, rows[start : start + SPIN_UP_ROWS], spec.batch_size, spec.lr)
        start = (start + SPIN_UP_ROWS) % len(rows)
    return perf_counter() - started


def _all_finite(weights) -> bool:
    return all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in weights)


class ReferenceLoss:
    """The test set's mean cost for a backend's weights, computed by the reference backend (the driver does
    no math), in the run's dtype where the reference has it; the test set is loaded into its form once."""

    def __init__(self, spec: Spec, mnist: Mnist, dtype: str):
        from backends import numpy_plain as reference

        self.reference, self.spec = reference, spec
        self.dtype = dtype if dtype in reference.dtypes else "float64"
        self.data = reference.load_data(mnist.test_images, mnist.test_labels, self.dtype)
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController()

    def __call__(self, weights) -> float:
        # On one BLAS thread: threads woken here spin on after the call, into the next timed epoch, where
        # they take a core from a backend's own threads.
        with self.blas.limit(limits=1, user_api="blas"):
            return self.reference.cost(self.reference.load(weights, self.spec, self.dtype), self.data)


def _stalled_note(run: RunRecord, verified: bool) -> str:
    """Why a run that ended well did not learn, or "": its accuracy stayed near chance, or its test loss did
    not fall below the initial weights'. Only on MNIST, where chance and a falling loss are known."""
    if not verified or run.status not in ("ok", "budget") or not run.epochs:
        return ""
    why = []
    best = max(e.test_accuracy for e in run.epochs)
    if best < CHANCE_ACCURACY:
        why.append(f"test accuracy stayed near chance (best {100 * best:.1f}%)")
    if not run.final_loss < run.initial_loss:  # a NaN loss counts as not falling
        why.append(
            f"test loss did not fall ({run.initial_loss:.4g} before epoch 1, "
            f"{run.final_loss:.4g} after epoch {run.epochs[-1].epoch})"
        )
    return "; ".join(why) + ": the network did not learn; try a smaller --lr" if why else ""


def train_backend(
    backend,
    spec: Spec,
    mnist: Mnist,
    dtype: str,
    *,
    budget_s: float | None = None,
    on_epoch: Callable[[RunRecord, EpochRecord], None] | None = None,
    progress: bool = False,
    settle_s: float = 0.0,
    on_ready: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Train `backend` on `mnist` as `spec` says, evaluating on the test set after every epoch.

    Before epoch 1 it waits up to `settle_s` seconds for the machine to be quiet (core.environment.settle)
    and, if `settle_s` > 0, trains a copy of the model for environment.SPIN_UP_S (`spin_up`); then it calls
    `on_ready` (setup, warm-up, the wait and the spin-up are in `run` by then). `on_epoch` is called after
    each epoch, outside the timed calls (the CLI prints, the results writer appends, `--save` reads
    `backend.weights(run.model)`). Ctrl-C ends the run early with status "interrupted" and returns what
    was finished.
    """
    from tqdm import tqdm

    run = RunRecord(
        backend.name,
        dtype,
        spec,
        tier=getattr(backend, "tier", ""),
        substrate=substrate_of(backend),
        loc=lines_of_code(backend),
    )
    n = len(mnist.train_labels)

    ready = prepare(backend, spec, mnist, dtype)
    model = run.model = ready.model
    train_data, test_data = ready.train_data, ready.test_data
    run.setup_s, run.compile_s = ready.setup_s, ready.compile_s
    test_loss = ReferenceLoss(spec, mnist, dtype)
    run.initial_loss = test_loss(backend.weights(model))
    run.settled = environment.settle(settle_s)
    if settle_s > 0:
        run.spun_up_s = spin_up(
            backend, model, train_data, epoch_order(spec.seed, 1, n), spec, dtype, environment.SPIN_UP_S
        )
    if on_ready:
        on_ready(run)

    samples = n  # rows trained per epoch; fewer when the budget forces extrapolation
    started = perf_counter()
    try:
        for epoch in range(1, spec.epochs + 1):
            epoch_started = perf_counter()
            order = epoch_order(spec.seed, epoch, n)
            bar = tqdm(
                total=samples,
                desc=f"{backend.name} epoch {epoch}",
                unit="img",
                leave=False,
                disable=not progress,
                unit_scale=True,
            )
            seconds = 0.0
            if budget_s is not None and epoch == 1:
                # Probe ~1% of an epoch to see whether full epochs fit in the budget.
                probe = _round_to_batches(n / 100, spec.batch_size, n)
                seconds = timed_train(backend, model, train_data, order[:probe], spec, None, n)
                bar.update(probe)
                per_sample = seconds / probe
                if per_sample * n * spec.epochs > budget_s:
                    samples = _round_to_batches(
                        max(0.5 * budget_s / spec.epochs / per_sample, n / 20), spec.batch_size, n
                    )
                    samples = max(samples, probe)
                    bar.total = samples
                seconds += timed_train(backend, model, train_data, order[probe:samples], spec, bar, n)
            else:
                seconds = timed_train(backend, model, train_data, order[:samples], spec, bar, n)
            bar.close()

            t0 = perf_counter()
            predicted = np.asarray(backend.predict(model, test_data))
            eval_s = perf_counter() - t0
            correct = int(np.count_nonzero(predicted == mnist.test_labels))

            record = EpochRecord(
                epoch=epoch,
                train_s=seconds * n / samples,
                eval_s=eval_s,
                samples_timed=samples,
                extrapolated=samples < n,
                test_correct=correct,
                test_total=len(mnist.test_labels),
            )
            weights = backend.weights(model)
            if _all_finite(weights):
                record.test_loss = test_loss(weights)
            else:
                record.status = "diverged"
                run.status, run.note = "diverged", f"diverged at epoch {epoch}: weights became NaN or infinite"
            with signals_deferred():  # so an epoch the run counts is always one that on_epoch recorded
                run.epochs.append(record)
                if on_epoch:
                    on_epoch(run, record)
            if run.status == "diverged":
                break
            elapsed = perf_counter() - started
            if budget_s is not None and epoch < spec.epochs and elapsed + (perf_counter() - epoch_started) > budget_s:
                run.status = "budget"
                run.note = f"time budget of {budget_s:.0f} s reached after {epoch} of {spec.epochs} epochs"
                break
    except KeyboardInterrupt:
        run.status, run.note = "interrupted", f"interrupted after {len(run.epochs)} of {spec.epochs} epochs"
    stalled = _stalled_note(run, mnist.verified)
    if stalled:
        run.status = "stalled"
        run.note = stalled + (f" ({run.note})" if run.note else "")
    if samples < n and not run.note:
        run.note = f"epoch time extrapolated from {samples} of {n} samples"
    elif samples < n:
        run.note += f"; epoch time extrapolated from {samples} of {n} samples"
    return run
