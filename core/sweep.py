"""Sweeps: a grid of training configurations, each point one independent job through the shared driver.

This module holds what a sweep *is*, with no scheduling in it: the points a grid (core.sweep_grid)
expands to, each point's stable key, the sweep id derived from the points, the job function that
trains one point (module-level, so that Dask workers import it by name) and the row it returns for
results/sweep.csv. core.sweep_files reads the rows back and keeps the manifest that rebuilds a sweep.
Where the jobs run (a loop, a local Dask cluster, a remote one) is bench/sweep_run.py's and
bench/sweep_dask.py's business.

Every row also gives `s_per_sample`, the median epoch's seconds over the samples of an epoch, which is
what `bench scaling` plots. A job may be timing-only (`Job.evaluate` false, as `bench scaling`'s are):
the driver then predicts a single test image after each epoch instead of the test set, and the row
leaves accuracy and evaluation seconds blank. Training, timing, the budget and its extrapolation are
the driver's either way.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import socket
import sys
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from time import perf_counter

from core.errors import UserError
from core.results import ENVIRONMENT_COLUMNS
from core.spec import N_CLASSES, N_INPUTS, Spec
from core.sweep_files import (  # noqa: F401 - the files of a sweep, re-exported for the callers of core.sweep
    DONE,
    MANIFEST_DIR,
    SWEEP_FILE,
    Manifest,
    done_points,
    read_rows,
    utc,
)
from core.sweep_grid import (  # noqa: F401 - the grid language, re-exported for the callers of core.sweep
    ALL_DTYPES,
    DTYPES,
    MAX_POINTS,
    Grid,
    axes_text,
    canonical,
    grid_text,
    parse_grid,
    read_grid_file,
    size,
    too_many,
)

ALL_BACKENDS = "all"  # --backends all: every backend available here
REASON_CHARS = 300

SWEEP_COLUMNS = [
    *"sweep_id point backend dtype layers hidden activation loss init batch_size lr seed epochs samples".split(),
    *"status reason epochs_run median_train_s min_train_s max_train_s s_per_sample setup_s compile_s".split(),
    *"eval_s final_accuracy epoch_accuracy epoch_train_s extrapolated samples_timed job_s worker".split(),
    *"started_utc finished_utc data data_digest".split(),
    *ENVIRONMENT_COLUMNS,
]


# ---------------------------------------------------------------- points
@dataclass(frozen=True)
class Point:
    """One training job of a sweep: a backend at a dtype and one full training configuration."""

    backend: str
    dtype: str
    layers: tuple[int, ...]
    activation: str
    loss: str
    init: str
    batch_size: int
    lr: float
    seed: int
    epochs: int
    samples: int | None = None  # train on the first N training images; None: all of them

    @property
    def key(self) -> str:
        """Stable across runs, grid spellings and machines: the point's identity in sweep.csv."""
        return (
            f"backend={self.backend} dtype={self.dtype} layers={canonical('layers', self.layers)} "
            f"activation={self.activation} loss={self.loss} init={self.init} batch={self.batch_size} "
            f"lr={self.lr!r} seed={self.seed} epochs={self.epochs}"
            + (f" samples={self.samples}" if self.samples is not None else "")
        )

    @property
    def hidden(self) -> str:
        return "-".join(str(n) for n in self.layers[1:-1])

    def spec(self, n_train: int = 60_000) -> Spec:
        """The driver's Spec, of the point's fields of the same names; `n_train` is the size of the training
        set (the point's `samples` when set)."""
        named = {f.name: getattr(self, f.name) for f in fields(Spec) if f.name != "n_train"}
        return Spec(**named, n_train=self.samples or n_train)

    def columns(self) -> dict:
        d = asdict(self)
        d["layers"] = ",".join(str(n) for n in self.layers)  # as in epochs.csv and summary.csv
        d["samples"] = "" if self.samples is None else self.samples
        return {**d, "hidden": self.hidden, "point": self.key}


def _dtypes(grid: Grid, backend: str, dtypes: tuple[str, ...]) -> list[str]:
    """The dtypes of `grid` for one backend (name -> its dtypes, the default first)."""
    wanted = grid.get("dtype", [dtypes[0]])
    if wanted == [ALL_DTYPES]:
        return list(dtypes)
    unsupported = [d for d in wanted if d not in dtypes]
    if unsupported:
        raise UserError(
            f"backend {backend} does not support dtype {unsupported[0]} of the grid; it supports {', '.join(dtypes)}"
        )
    return wanted


def count_points(grid: Grid, backends: dict[str, tuple[str, ...]]) -> int:
    """How many points `expand` would give, from the axis lengths alone: nothing is built."""
    return size(grid) * sum(len(_dtypes(grid, name, dtypes)) for name, dtypes in backends.items())


def expand(grid: Grid, backends: dict[str, tuple[str, ...]], epochs: int | None = None) -> list[Point]:
    """Every point of `grid` for each backend (name -> its dtypes, the default first), checked as a Spec.

    `epochs` is the sweep's --epochs, for grids without an epochs key. A grid dtype a backend does not
    support is refused, so a sweep never silently holds fewer points than it says; so is a grid of
    more than MAX_POINTS points, before any is built.
    """
    if epochs is not None and "epochs" in grid:
        raise UserError("give epochs in the grid or as --epochs, not both")
    count = count_points(grid, backends)
    if count > MAX_POINTS:
        raise too_many(count, f"{count // size(grid):,} backend and dtype pair(s) x {axes_text(grid)}")
    default = Spec()
    layers = [(N_INPUTS, h, N_CLASSES) for h in grid["hidden"]] if "hidden" in grid else grid.get("layers")
    axes = {
        "layers": layers or [default.layers],
        "activation": grid.get("activation", [default.activation]),
        "loss": grid.get("loss", [default.loss]),
        "init": grid.get("init", [default.init]),
        "batch_size": grid.get("batch", [default.batch_size]),
        "lr": [float(v) for v in grid.get("lr", [default.lr])],
        "seed": grid.get("seed", [default.seed]),
        "epochs": grid.get("epochs", [epochs or default.epochs]),
        "samples": grid.get("samples", [None]),
    }
    points = []
    for backend, dtypes in backends.items():
        for dtype in _dtypes(grid, backend, dtypes):
            for values in itertools.product(*axes.values()):
                point = Point(backend, dtype, **dict(zip(axes, values)))
                try:
                    point.spec()  # a bad value (batch 0, lr -1, seed -1) stops here, in one line
                except UserError as exc:
                    raise UserError(f"in the grid: {exc}") from None
                points.append(point)
    return points


def data_identity(data_dir: str | None, unverified: bool) -> str:
    """What the jobs train on, for the sweep id: verified MNIST is MNIST wherever it was found."""
    if not unverified:
        return "mnist"
    return "unverified " + os.path.abspath(os.path.expanduser(data_dir or ""))


def sweep_id(points: list[Point], data: str, budget_s: float | None = None, evaluate: bool = True) -> str:
    """Derived from the set of points (grid, backends, dtypes, epochs), the data, the budget and whether the
    jobs evaluate: the same sweep asked again, however its grid is spelled, has the same id."""
    text = "\n".join(sorted(p.key for p in points)) + f"\ndata {data}\nbudget {budget_s!r}"
    text += "" if evaluate else "\ntiming only"  # (absent when evaluating: earlier sweeps keep their ids)
    return "sw-" + hashlib.sha256(text.encode()).hexdigest()[:10]


# ---------------------------------------------------------------- the job
@dataclass(frozen=True)
class Job:
    """Everything a worker needs to train one point: small, so it travels through the scheduler cheaply.
    The worker loads MNIST itself from `data_dir` (or its own cache): no arrays are shipped."""

    sweep_id: str
    point: Point
    data_dir: str | None = None
    unverified: bool = False
    budget_s: float | None = None
    evaluate: bool = True  # False: timing only, one test image predicted per epoch and nothing recorded of it

    def base_row(self) -> dict:
        return {"sweep_id": self.sweep_id, **self.point.columns()}


def _where() -> str:
    """The Dask worker running this job, or 'in-process'."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return get_worker().address
        except ValueError:
            pass
    return f"in-process {socket.gethostname()}"


def reason_of(exc: BaseException) -> str:
    """One line: a user error's message as it is, anything else with its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = text if isinstance(exc, UserError) else f"{type(exc).__name__}: {text}".rstrip(": ")
    return reason[:REASON_CHARS]


@lru_cache(maxsize=2)
def cached_mnist(data_dir: str | None, unverified: bool):
    """MNIST as core.mnist.load_mnist gives it, loaded once per process: a worker (or this process, with
    --workers 1) that runs many jobs reads and checks the files once. The arrays are never written to."""
    from core.mnist import load_mnist

    return load_mnist(data_dir, verify=not unverified)


def training_data(mnist, samples: int | None, evaluate: bool):
    """The Mnist a job trains on: the first `samples` training images (all when None) and, for a
    timing-only job, the first test image alone (the driver predicts after every epoch)."""
    n = len(mnist.train_labels)
    if samples is not None and samples > n:
        raise UserError(f"samples={samples} is more than the {n:,} training images of {mnist.source}")
    if samples is not None:
        mnist = replace(mnist, train_images=mnist.train_images[:samples], train_labels=mnist.train_labels[:samples])
    if not evaluate:
        mnist = replace(mnist, test_images=mnist.test_images[:1], test_labels=mnist.test_labels[:1])
    return mnist


def run_point(job: Job) -> dict:
    """Train one point through core.driver.train_backend, one BLAS/numba thread; return its sweep.csv row.

    Never raises for a failing job: the row says status failed and why, with the host and environment
    it failed on. Ctrl-C during training gives status "interrupted" (not a result; not to be recorded).
    """
    from core import environment
    from core.backend import check_supports, get_backend, resolve_dtype
    from core.driver import train_backend

    row = {**job.base_row(), "started_utc": utc(), "worker": _where()}
    started = perf_counter()
    with environment.limit_threads(1):
        try:
            backend = get_backend(job.point.backend)
            dtype = resolve_dtype(backend, job.point.dtype)
            mnist = cached_mnist(job.data_dir, job.unverified)
            row.update(data=mnist.source, data_digest=mnist.digest)
            mnist = training_data(mnist, job.point.samples, job.evaluate)
            n = len(mnist.train_labels)
            spec = job.point.spec(n_train=n)
            check_supports(backend, spec)
            run = train_backend(backend, spec, mnist, dtype, budget_s=job.budget_s)
        except Exception as exc:  # noqa: BLE001 - the sweep goes on; the row keeps the reason
            row.update(status="failed", reason=reason_of(exc))
        else:
            row.update(_result_columns(run, n, job.evaluate))
        row.update(environment.capture())  # inside the limit: records the one thread the job ran with
    row.update(job_s=perf_counter() - started, finished_utc=utc())
    return row


def _result_columns(run, n: int, evaluate: bool) -> dict:
    """The columns of a trained run: its status, timings and (when evaluated) accuracies."""
    times = run.train_times()
    last = run.epochs[-1] if run.epochs else None
    evaluated = bool(last) and evaluate
    return {
        "status": run.status,
        "reason": run.note,
        "epochs_run": len(run.epochs),
        "median_train_s": run.median_train_s,
        "min_train_s": min(times, default=math.nan),
        "max_train_s": max(times, default=math.nan),
        "s_per_sample": run.median_train_s / n,
        "setup_s": run.setup_s,
        "compile_s": run.compile_s,
        "eval_s": last.eval_s if evaluated else math.nan,
        "final_accuracy": last.test_accuracy if evaluated else math.nan,
        "epoch_accuracy": ";".join(f"{e.test_accuracy:.6g}" for e in run.epochs) if evaluate else "",
        "epoch_train_s": ";".join(f"{e.train_s:.6g}" for e in run.epochs),
        "extrapolated": bool(last and last.extrapolated),
        "samples_timed": last.samples_timed if last else "",
    }


def failed_row(job: Job, reason: str) -> dict:
    """The row of a job that never returned one (its workers kept dying, say): no host is known."""
    return {**job.base_row(), "status": "failed", "reason": reason[:REASON_CHARS], "finished_utc": utc()}
