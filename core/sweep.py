"""Sweeps: a grid of training configurations, each point one independent job through the shared driver.

This module holds what a sweep *is*, with no scheduling in it: the grid language and its parser, the
points a grid expands to, each point's stable key, the sweep id derived from the points, the job
function that trains one point (module-level, so that Dask workers import it by name), the row it
returns for results/sweep.csv, and the manifest that lets `--resume SWEEP_ID` rebuild a sweep.
Where the jobs run (a loop here, a local Dask cluster, a remote one) is bench/sweep.py's business.

Grid language: `key=v1,v2;key=...`. Keys: hidden (784-H-10) or layers (784-64-32-10, dash-separated),
batch, lr, seed, activation, loss, init, epochs, dtype, samples. `seed` and `epochs` also take ranges
`a-b` (inclusive). A key left out keeps the seed program's default (784-36-10, sigmoid, quadratic,
uniform, batch 10, lr 3.0, seed 0), each backend's default dtype and the whole training set.
`dtype=all` is every dtype each backend supports. `samples=N` trains on the first N training images
only (each epoch a permutation of those N); every row also gives `s_per_sample`, the median epoch's
seconds over the samples of an epoch, which is what `bench scaling` plots.

A job may also be timing-only (`Job.evaluate` false, as `bench scaling`'s are): the driver then
predicts a single test image after each epoch instead of the test set, and the row leaves accuracy
and evaluation seconds blank. Training, timing, the budget and its extrapolation are the driver's
either way.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import socket
import sys
import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from time import perf_counter

from core.errors import UserError
from core.results import ENVIRONMENT_COLUMNS
from core.spec import ACTIVATIONS, INITS, LOSSES, N_CLASSES, N_INPUTS, Spec

SWEEP_FILE = "sweep.csv"
MANIFEST_DIR = "sweeps"  # results/sweeps/SWEEP_ID.json: what --resume SWEEP_ID rebuilds the sweep from
DONE = ("ok", "diverged", "budget")  # a row with one of these is a result; "failed" points run again on --resume
DTYPES = ("float32", "float64")
ALL_DTYPES = "all"  # grid dtype=all: every dtype each backend supports
ALL_BACKENDS = "all"  # --backends all: every backend available here
REASON_CHARS = 300

SWEEP_COLUMNS = [
    "sweep_id", "point", "backend", "dtype", "layers", "hidden", "activation", "loss", "init", "batch_size",
    "lr", "seed", "epochs", "samples", "status", "reason", "epochs_run", "median_train_s", "min_train_s",
    "max_train_s", "s_per_sample", "setup_s", "compile_s", "eval_s", "final_accuracy", "epoch_accuracy",
    "epoch_train_s", "extrapolated", "samples_timed", "job_s", "worker", "started_utc", "finished_utc", "data",
    "data_digest", *ENVIRONMENT_COLUMNS,
]  # fmt: skip


# ---------------------------------------------------------------- the grid
def _int(key: str, token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise UserError(f"grid key {key} takes integers, got {token!r}") from None


def _ints_with_ranges(key: str, token: str) -> list[int]:
    first, dash, last = token.partition("-")
    if not dash or not first:  # "7", or "-1" (a negative number: refused by the spec check later)
        return [_int(key, token)]
    a, b = _int(key, first), _int(key, last)
    if b < a:
        raise UserError(f"grid range {key}={token} runs backwards; write {key}={b}-{a}")
    return list(range(a, b + 1))


def _layers(token: str) -> list[tuple[int, ...]]:
    try:
        layers = tuple(int(part) for part in token.split("-"))
    except ValueError:
        raise UserError(f"grid key layers takes dash-separated sizes such as 784-64-32-10, got {token!r}") from None
    if len(layers) < 2 or layers[0] != N_INPUTS or layers[-1] != N_CLASSES:
        raise UserError(f"grid layers must run from {N_INPUTS} to {N_CLASSES}, such as 784-64-32-10; got {token!r}")
    return [layers]


def _hidden(token: str) -> list[int]:
    if "-" in token.lstrip("-"):
        raise UserError(f"grid key hidden takes one hidden size per value (hidden=16,36); for deeper networks "
                        f"write layers=784-{token}-10")  # fmt: skip
    return [_int("hidden", token)]


def _float(key: str, token: str) -> list[float]:
    try:
        value = float(token)
    except ValueError:
        raise UserError(f"grid key {key} takes numbers, got {token!r}") from None
    if not math.isfinite(value):
        raise UserError(f"grid key {key} takes finite numbers, got {token!r}")
    return [value]


def _samples(token: str) -> list[int]:
    value = _int("samples", token)
    if value < 1:
        raise UserError(f"grid key samples takes training-set sizes of at least 1, got {token!r}")
    return [value]


def _choice(key: str, allowed: tuple[str, ...]):
    def parse(token: str) -> list[str]:
        if token not in allowed:
            raise UserError(f"grid {key}={token} is unknown; choose from {', '.join(allowed)}")
        return [token]

    return parse


PARSERS = {
    "hidden": _hidden,
    "layers": _layers,
    "batch": lambda t: [_int("batch", t)],
    "lr": lambda t: _float("lr", t),
    "seed": lambda t: _ints_with_ranges("seed", t),
    "activation": _choice("activation", ACTIVATIONS),
    "loss": _choice("loss", LOSSES),
    "init": _choice("init", INITS),
    "epochs": lambda t: _ints_with_ranges("epochs", t),
    "dtype": _choice("dtype", (*DTYPES, ALL_DTYPES)),
    "samples": _samples,
}
ALIASES = {"batch_size": "batch", "batch-size": "batch", "layer": "layers", "seeds": "seed", "n_train": "samples"}
KEY_ORDER = tuple(PARSERS)

Grid = dict[str, list]  # key -> its values, in the order given, without repeats


def _canonical(key: str, value) -> str:
    if key == "layers":
        return "-".join(str(n) for n in value)
    if key == "lr":
        return repr(float(value))
    return str(value)


def _add(grid: Grid, raw_key: str, tokens: list[str]) -> None:
    key = ALIASES.get(raw_key.strip().lower(), raw_key.strip().lower())
    if key not in PARSERS:
        raise UserError(f"unknown grid key {raw_key.strip()!r}; keys: {', '.join(KEY_ORDER)}")
    if key in grid:
        raise UserError(f"grid key {key} is given twice; list its values once: {key}=a,b,c")
    tokens = [t.strip() for t in tokens]
    if not tokens or any(not t for t in tokens):
        raise UserError(f"grid key {key} has an empty value; write {key}=a,b")
    values: list = []
    for token in tokens:
        for value in PARSERS[key](token):
            if value not in values:
                values.append(value)
    grid[key] = values
    if key == "dtype" and ALL_DTYPES in values and len(values) > 1:
        raise UserError("grid dtype=all already holds every dtype of each backend; give it alone")
    if "hidden" in grid and "layers" in grid:
        raise UserError("give the grid hidden=... (784-H-10) or layers=..., not both")


def parse_grid(text: str) -> Grid:
    """'hidden=16,36;batch=1,10;seed=0-4' -> {'hidden': [16, 36], 'batch': [1, 10], 'seed': [0, ..., 4]}."""
    grid: Grid = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, eq, values = part.partition("=")
        if not eq or not key.strip():
            raise UserError(f"grid entries are key=values separated by ';', such as hidden=16,36;seed=0-2; "
                            f"got {part.strip()!r}")  # fmt: skip
        _add(grid, key, values.split(","))
    if not grid:
        raise UserError("the grid is empty; give it like: --grid 'hidden=16,36;batch=1,10;seed=0-2'")
    return grid


def _file_tokens(key: str, value) -> list[str]:
    """A TOML/YAML value -> grid tokens: 16, [16, 36], '0-4', '16,36', [[784, 64, 10]] or ['784-64-10']."""
    items = value if isinstance(value, list) else [value]
    tokens: list[str] = []
    for item in items:
        if isinstance(item, list):
            tokens.append("-".join(str(v) for v in item))
        elif isinstance(item, bool) or isinstance(item, dict) or item is None:
            raise UserError(f"grid file key {key} has a value of the wrong kind: {item!r}")
        elif isinstance(item, str):
            tokens += item.split(",")
        else:
            tokens.append(str(item))
    return tokens


def read_grid_file(path: Path) -> Grid:
    """A grid from a TOML (.toml) or YAML (.yaml, .yml) file of `key = values`, at the top or under [grid]."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read grid file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error of the user's file is one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"grid file {path} does not parse: {first}") from None
    if isinstance(data, dict) and isinstance(data.get("grid"), dict):
        data = data["grid"]
    if not isinstance(data, dict) or not data:
        raise UserError(f"grid file {path} holds no grid; write lines such as: hidden = [16, 36]")
    grid: Grid = {}
    for key, value in data.items():
        _add(grid, str(key), _file_tokens(str(key), value))
    return grid


def grid_text(grid: Grid) -> str:
    """The canonical text of a grid (keys in a fixed order): what the manifest stores."""
    return ";".join(f"{k}={','.join(_canonical(k, v) for v in grid[k])}" for k in KEY_ORDER if k in grid)


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
        return (f"backend={self.backend} dtype={self.dtype} layers={_canonical('layers', self.layers)} "
                f"activation={self.activation} loss={self.loss} init={self.init} batch={self.batch_size} "
                f"lr={self.lr!r} seed={self.seed} epochs={self.epochs}"
                + (f" samples={self.samples}" if self.samples is not None else ""))  # fmt: skip

    @property
    def hidden(self) -> str:
        return "-".join(str(n) for n in self.layers[1:-1])

    def spec(self, n_train: int = 60_000) -> Spec:
        """The driver's Spec; `n_train` is the size of the training set (the point's `samples` when set)."""
        return Spec(layers=self.layers, activation=self.activation, loss=self.loss, init=self.init,
                    batch_size=self.batch_size, lr=self.lr, epochs=self.epochs, seed=self.seed,
                    n_train=self.samples or n_train)  # fmt: skip

    def columns(self) -> dict:
        d = asdict(self)
        d["layers"] = ",".join(str(n) for n in self.layers)  # as in epochs.csv and summary.csv
        d["samples"] = "" if self.samples is None else self.samples
        return {**d, "hidden": self.hidden, "point": self.key}


def expand(grid: Grid, backends: dict[str, tuple[str, ...]], epochs: int | None = None) -> list[Point]:
    """Every point of `grid` for each backend (name -> its dtypes, the default first), checked as a Spec.

    `epochs` is the sweep's --epochs, for grids without an epochs key. A grid dtype a backend does not
    support is refused, so a sweep never silently holds fewer points than it says.
    """
    if epochs is not None and "epochs" in grid:
        raise UserError("give epochs in the grid or as --epochs, not both")
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
        wanted = grid.get("dtype", [dtypes[0]])
        if wanted == [ALL_DTYPES]:
            wanted = list(dtypes)
        unsupported = [d for d in wanted if d not in dtypes]
        if unsupported:
            raise UserError(f"backend {backend} does not support dtype {unsupported[0]} of the grid; "
                            f"it supports {', '.join(dtypes)}")  # fmt: skip
        for dtype in wanted:
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


def _utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    from core.backend import check_supports, discover, get_backend, resolve_dtype
    from core.driver import train_backend

    row = {**job.base_row(), "started_utc": _utc(), "worker": _where()}
    started = perf_counter()
    with environment.limit_threads(1):
        try:
            backend = get_backend(job.point.backend, discover())
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
            times = run.train_times()
            last = run.epochs[-1] if run.epochs else None
            evaluated = bool(last) and job.evaluate
            row.update(
                status=run.status, reason=run.note, epochs_run=len(run.epochs), median_train_s=run.median_train_s,
                min_train_s=min(times, default=math.nan), max_train_s=max(times, default=math.nan),
                s_per_sample=run.median_train_s / n, setup_s=run.setup_s, compile_s=run.compile_s,
                eval_s=last.eval_s if evaluated else math.nan,
                final_accuracy=last.test_accuracy if evaluated else math.nan,
                epoch_accuracy=";".join(f"{e.test_accuracy:.6g}" for e in run.epochs) if job.evaluate else "",
                epoch_train_s=";".join(f"{e.train_s:.6g}" for e in run.epochs),
                extrapolated=bool(last and last.extrapolated), samples_timed=last.samples_timed if last else "",
            )  # fmt: skip
        row.update(environment.capture())  # inside the limit: records the one thread the job ran with
    row.update(job_s=perf_counter() - started, finished_utc=_utc())
    return row


def failed_row(job: Job, reason: str) -> dict:
    """The row of a job that never returned one (its workers kept dying, say): no host is known."""
    return {**job.base_row(), "status": "failed", "reason": reason[:REASON_CHARS], "finished_utc": _utc()}


# ---------------------------------------------------------------- what is on disk
def read_rows(path: Path) -> list[dict]:
    import csv

    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def done_points(path: Path, sweep: str) -> set[str]:
    """Keys of the points of `sweep` that already have a result row (ok, diverged or budget)."""
    return {r["point"] for r in read_rows(path) if r.get("sweep_id") == sweep and r.get("status") in DONE}


@dataclass
class Manifest:
    """How a sweep was asked for, saved when it starts so that `--resume SWEEP_ID` can rebuild it."""

    sweep_id: str
    grid: str
    backends: list[str]
    epochs: int | None
    budget_s: float | None
    data_dir: str | None
    unverified: bool
    points: int
    created_utc: str = field(default_factory=_utc)
    command: str = ""
    evaluate: bool = True  # False: timing-only jobs (absent from manifests written before it existed)
    preset: str = ""  # the --preset (or command, such as scaling) that asked for it

    @staticmethod
    def path(results: Path, sweep: str) -> Path:
        return Path(results) / MANIFEST_DIR / f"{sweep}.json"

    def write(self, results: Path) -> Path:
        """Written once, atomically; an existing manifest of the same id (the same sweep) is kept."""
        path = self.path(results, self.sweep_id)
        if path.exists():
            return path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; free space or pass --results DIR") from None
        return path

    @classmethod
    def read(cls, results: Path, sweep: str) -> Manifest:
        path = cls.path(results, sweep)
        if not path.exists():
            known = sorted(p.stem for p in path.parent.glob("sw-*.json")) if path.parent.is_dir() else []
            raise UserError(f"no sweep {sweep!r} in {path.parent}; known: {', '.join(known[-5:]) or 'none'}")
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise UserError(f"{path} is damaged ({exc}); resume by giving the grid again with --resume") from None

    @classmethod
    def latest(cls, results: Path) -> Manifest:
        folder = Path(results) / MANIFEST_DIR
        found = [cls.read(results, p.stem) for p in folder.glob("sw-*.json")] if folder.is_dir() else []
        if not found:
            raise UserError(f"no sweep to resume in {results}; start one with: python -m bench sweep --grid ...")
        return max(found, key=lambda m: m.created_utc)
