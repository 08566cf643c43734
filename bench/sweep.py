"""`bench sweep`: train every point of a grid of configurations, each an independent job, on Dask.

    bench sweep --grid "hidden=16,36,128;batch=1,10,32;lr=0.5,3.0;seed=0-4" --backends numpy,numba --epochs 3
    bench sweep --grid-file grid.toml                 the same grid as a TOML or YAML file
    bench sweep --preset hidden-batch                 a named grid with its options (scaling: what `bench scaling` runs)
    bench sweep ... --workers 1                       no cluster: the jobs one after another in this process
    bench sweep ... --scheduler tcp://HOST:8786       on an existing Dask cluster whose workers were started
                                                      with: dask worker tcp://HOST:8786 --nthreads 1 --resources train=1
    bench sweep --resume [SWEEP_ID]                   run only the points without a result yet
    bench sweep --report [SWEEP_ID]                   accuracy and seconds per epoch across the grid, over seeds

Each point trains through core.driver.train_backend, as `bench run` does, with one BLAS/numba thread,
in a Dask worker process that runs one job at a time (the `train` resource): by default a local
cluster of one single-threaded worker per core. Each job loads MNIST itself (from --data-dir or its
machine's cache), so no arrays travel through the scheduler. This process appends each job's row to
results/sweep.csv as it completes, with the host and environment it ran on; a sweep that is stopped
or loses workers loses no finished job, and --resume runs only what is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import shlex
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, perf_counter, sleep

from bench.options import DEFAULT_RESULTS, data_options, number
from core.errors import UserError
from core.sweep import (
    DONE,
    SWEEP_COLUMNS,
    SWEEP_FILE,
    Job,
    Manifest,
    done_points,
    expand,
    failed_row,
    grid_text,
    parse_grid,
    read_grid_file,
    reason_of,
    run_point,
    sweep_id,
)

RESOURCE = "train"  # each worker offers one; each job takes one: one training job per worker at a time
RETRIES = 1  # for an exception outside the job's own handling; a lost worker is retried by the scheduler
WAIT_FOR_WORKERS_S = 60.0
CONFIG = ["backend", "dtype", "layers", "activation", "loss", "init", "batch_size", "lr", "epochs", "samples"]
DPI = 130
NOISE = 0.10  # flag configurations whose epoch seconds vary across seeds by more than this (as bench report)
CLIP = 0.9  # on the log axis of seconds, a whisker below the mean stops at this fraction of it


@dataclass(frozen=True)
class Preset:
    """A named sweep: a grid and the options that go with it. Options given on the command line win."""

    grid: str
    epochs: int | None = None
    backends: str | None = None  # None: numpy; "all": every backend available here
    summary: str = ""
    budget_s: float | None = None
    evaluate: bool = True  # False: timing-only jobs (no test-set evaluation, accuracy left blank)
    workers: int | None = None  # None: one per core


PRESETS = {
    "hidden-batch": Preset("hidden=16,36,64,128,256;batch=1,10,64;seed=0-2", 3, summary="hidden x batch, 3 seeds"),
    "seeds": Preset("seed=0-4", 30, summary="the seed program's configuration over 5 seeds, 30 epochs"),
    # `bench scaling`: seconds per training sample of every backend over hidden x batch, each cell trained
    # for 5 epochs on the first 2,000 images within 2 s (else timed on fewer samples and extrapolated), one
    # cell at a time so that no cell disturbs another's timing. `bench scaling` builds this grid from its
    # options (these are its defaults) and draws the plots.
    "scaling": Preset(
        "hidden=16,36,128,512,1024;batch=1,10,64,256;samples=2000",
        epochs=5,
        backends="all",
        summary="bench scaling's grid: s/sample over hidden x batch, every backend, timing only",
        budget_s=2.0,
        evaluate=False,
        workers=1,
    ),
}


@dataclass
class SweepRequest:
    """What to sweep and where: built from the command line, or by a preset's caller."""

    grid: str | None = None
    grid_file: Path | None = None
    backends: str | None = None  # comma-separated; default numpy
    epochs: int | None = None
    budget_s: float | None = None
    data_dir: str | None = None
    unverified: bool = False
    results: Path = DEFAULT_RESULTS
    workers: int | None = None  # None: one per core; 1: in this process
    scheduler: str | None = None
    resume: str | None = None  # None: a new sweep; "": this grid's sweep (or the latest); else a sweep id
    wait_s: float = WAIT_FOR_WORKERS_S
    quiet: bool = False
    command: str = ""
    evaluate: bool = True  # False: timing-only jobs
    preset: str = ""  # recorded in the manifest
    resume_hint: str | None = None  # the command that resumes this sweep (default: bench sweep --resume ID)
    report_hint: str | None = None  # the command that reports it (default: bench sweep --report ID)


def add_commands(sub) -> None:
    # fmt: off
    p = sub.add_parser("sweep", help="train every point of a grid of configurations, locally or on a Dask cluster",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("the grid")
    source = what.add_mutually_exclusive_group()
    source.add_argument("--grid", metavar="TEXT",
                        help="key=values;... with keys hidden (784-H-10) or layers (784-64-32-10), batch, lr, "
                             "seed, activation, loss, init, epochs, dtype (all: each backend's every dtype), "
                             "samples (train on the first N images); seed and epochs take ranges a-b")
    source.add_argument("--grid-file", type=Path, metavar="PATH", help="the grid as a TOML or YAML file of key = values")
    source.add_argument("--preset", choices=sorted(PRESETS),
                        help="; ".join(f"{k}: {v.summary}" for k, v in PRESETS.items()))
    what.add_argument("--backends", help="comma-separated backend names, or all: every available one (default: numpy)")
    what.add_argument("--epochs", type=number(int, 1), help="epochs of every point without an epochs key (default 30)")
    what.add_argument("--budget", type=number(float, 1), metavar="SECONDS",
                      help="per job: time the first batches of each epoch and extrapolate when full epochs do not fit")
    where = p.add_argument_group("where the jobs run (default: a local Dask cluster, one single-threaded worker per core)")
    place = where.add_mutually_exclusive_group()
    place.add_argument("--workers", type=number(int, 1), metavar="N",
                       help="local worker processes (default: os.cpu_count()); 1: no cluster, one job after another here")
    place.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="an existing Dask scheduler; its workers need: --nthreads 1 --resources train=1")
    where.add_argument("--wait-workers", type=number(float, 0), default=WAIT_FOR_WORKERS_S, metavar="SECONDS",
                       help="with --scheduler: how long to wait for a worker offering train=1 (default %(default)s)")
    state = p.add_argument_group("results")
    state.add_argument("--resume", nargs="?", const="", metavar="SWEEP_ID",
                       help="run only the points without a result in sweep.csv: of this grid, of SWEEP_ID, "
                            "or (alone) of the latest sweep")
    state.add_argument("--report", nargs="?", const="latest", metavar="SWEEP_ID",
                       help="run nothing: print and plot a sweep (default: the latest)")
    data_options(state)
    state.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    state.add_argument("--quiet", action="store_true", help="no progress bar and no line per job")
    p.set_defaults(func=cmd_sweep)
    # fmt: on


def cmd_sweep(args) -> int:
    if args.report is not None:
        return print_report(args.results, None if args.report == "latest" else args.report)
    preset = PRESETS[args.preset] if args.preset else None
    request = SweepRequest(
        grid=preset.grid if preset else args.grid, grid_file=args.grid_file,
        backends=args.backends or (preset.backends if preset else None),
        epochs=args.epochs or (preset.epochs if preset else None),
        budget_s=args.budget or (preset.budget_s if preset else None),
        data_dir=args.data_dir, unverified=args.unverified, results=args.results,
        workers=args.workers or (preset.workers if preset and not args.scheduler else None),
        scheduler=args.scheduler, resume=args.resume, wait_s=args.wait_workers, quiet=args.quiet,
        command="python -m bench " + shlex.join(sys.argv[1:]), evaluate=preset.evaluate if preset else True,
        preset=args.preset or "",
    )  # fmt: skip
    return run_sweep(request)


# ---------------------------------------------------------------- planning
def _data_dir(text: str | None) -> str | None:
    """--data-dir (or $MNIST_BENCH_DATA) made absolute when it exists here, so workers started elsewhere agree."""
    from core.mnist import DATA_ENV

    text = text or os.environ.get(DATA_ENV) or None
    if text and Path(text).expanduser().is_dir():
        return str(Path(text).expanduser().resolve())
    return text


def _points(grid, backend_names: str, epochs, budget_s, data_dir, unverified,
            evaluate: bool = True) -> tuple[list[str], list, str]:  # fmt: skip
    """(backend names, every point, the sweep id), every backend checked to be usable here.
    `backend_names` "all" is every backend available here (those that are not are left out)."""
    from core.backend import discover, get_backend
    from core.sweep import ALL_BACKENDS, data_identity

    registry = discover()
    if backend_names.strip() == ALL_BACKENDS:
        names = [name for name, entry in registry.items() if not entry.problem]
    else:
        names = list(dict.fromkeys(n.strip() for n in backend_names.split(",") if n.strip()))
    if not names:
        raise UserError("--backends names no backend; give names such as numpy,numba (see: python -m bench list)")
    backends = {name: tuple(get_backend(name, registry).dtypes) for name in names}
    points = expand(grid, backends, epochs)
    return names, points, sweep_id(points, data_identity(data_dir, unverified), budget_s, evaluate)


def plan(request: SweepRequest) -> tuple[Manifest, list]:
    """The sweep's manifest and its points, from the grid given or from a saved manifest (--resume ID)."""
    given = request.grid is not None or request.grid_file is not None
    if request.resume is not None and not given:
        if request.backends or request.epochs or request.budget_s:
            raise UserError("--resume without a grid takes --backends, --epochs and --budget from the sweep it "
                            "resumes; drop them, or give the grid again")  # fmt: skip
        saved = (Manifest.read(request.results, request.resume) if request.resume
                 else Manifest.latest(request.results))  # fmt: skip
        data_dir = _data_dir(request.data_dir) if request.data_dir else saved.data_dir
        unverified = saved.unverified or request.unverified
        _, points, sid = _points(parse_grid(saved.grid), ",".join(saved.backends), saved.epochs, saved.budget_s,
                                 data_dir, unverified, saved.evaluate)  # fmt: skip
        if sid != saved.sweep_id:
            raise UserError(f"sweep {saved.sweep_id} ran on other data than --data-dir {data_dir} gives "
                            f"(this would be sweep {sid}); drop --data-dir to use the sweep's own")  # fmt: skip
        saved.data_dir, saved.unverified = data_dir, unverified
        return saved, points
    if not given:
        raise UserError("say what to sweep: --grid 'hidden=16,36;seed=0-2', --grid-file PATH or --preset NAME "
                        "(see: python -m bench sweep --help)")  # fmt: skip
    grid = read_grid_file(request.grid_file) if request.grid_file else parse_grid(request.grid)
    data_dir = _data_dir(request.data_dir)
    names, points, sid = _points(grid, request.backends or "numpy", request.epochs, request.budget_s, data_dir,
                                 request.unverified, request.evaluate)  # fmt: skip
    if request.resume and request.resume != sid:
        raise UserError(f"--resume {request.resume} names another sweep than this grid's ({sid}); "
                        f"drop the grid to resume {request.resume}, or drop the id")  # fmt: skip
    manifest = Manifest(sweep_id=sid, grid=grid_text(grid), backends=names, epochs=request.epochs,
                        budget_s=request.budget_s, data_dir=data_dir, unverified=request.unverified,
                        points=len(points), command=request.command, evaluate=request.evaluate,
                        preset=request.preset)  # fmt: skip
    return manifest, points


# ---------------------------------------------------------------- recording
class Recorder:
    """Appends each finished job's row to sweep.csv at once, exactly once per point, and shows progress."""

    def __init__(self, path: Path, sweep: str, total: int, done: int, todo: int, quiet: bool):
        from tqdm import tqdm

        self.path, self.todo, self.quiet = path, todo, quiet
        self.counts: Counter = Counter()
        self.recorded: set[str] = set()
        self.bar = tqdm(total=total, initial=done, unit="job", desc=sweep, dynamic_ncols=True,
                        disable=quiet or not sys.stderr.isatty())  # fmt: skip
        self._postfix()

    def _postfix(self) -> None:
        finished, failed = self.counts["finished"], self.counts["failed"]
        self.bar.set_postfix(finished=finished, failed=failed, remaining=self.todo - finished - failed)

    def record(self, job: Job, row: dict) -> None:
        from tqdm import tqdm

        from core import results

        if row.get("status") == "interrupted":  # stopped by Ctrl-C: not a result, runs again on --resume
            self.counts["interrupted"] += 1
            return
        if job.point.key in self.recorded:  # never two rows for one point from one sweep run
            return
        results.append_rows(self.path, SWEEP_COLUMNS, [row])
        self.recorded.add(job.point.key)
        self.counts["failed" if row.get("status") == "failed" else "finished"] += 1
        self.bar.update(1)
        self._postfix()
        if not self.quiet:
            n = len(self.recorded)
            tqdm.write(f"[{n}/{self.todo}] {job_line(job, row)}", file=sys.stdout)
            sys.stdout.flush()

    def lost(self, job: Job) -> None:
        self.counts["lost"] += 1

    def close(self) -> None:
        self.bar.close()


def human_seconds(s: float) -> str:
    """3 significant digits in the unit that suits: 1.23 s, 45.6 ms, 789 µs, 12.3 ns."""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


def job_line(job: Job, row: dict) -> str:
    p = job.point
    what = (f"{p.backend} {p.dtype} {'-'.join(map(str, p.layers))} {p.activation} {p.loss} batch {p.batch_size} "
            f"lr {p.lr:g} seed {p.seed}" + (f" samples {p.samples}" if p.samples is not None else ""))  # fmt: skip
    host = row.get("host") or "?"
    if row.get("status") == "failed":
        return f"FAILED  {what}: {row.get('reason')} (on {host})"
    where = f"on {host}, {row['job_s']:.1f} s"
    if not job.evaluate:  # timing only: the rate is the result
        timed = row.get("samples_timed")
        how = f"timed on {timed:,} samples per epoch, extrapolated" if row.get("extrapolated") else "full epochs"
        return (f"{row['status']:<7} {what}: {human_seconds(row['s_per_sample'])}/sample, median of {row['epochs_run']} "
                f"epoch(s), {how} ({where})")  # fmt: skip
    return (f"{row['status']:<7} {what}: {row['median_train_s']:.3f} s/epoch, {100 * row['final_accuracy']:.2f}% "
            f"after {row['epochs_run']} epochs ({where})")  # fmt: skip


# ---------------------------------------------------------------- running
def run_sweep(request: SweepRequest, planned: tuple[Manifest, list] | None = None) -> int:
    """Plan (unless `planned` is plan(request)'s answer already), then run every point without a result;
    0 when all have one, 1 on failures, 130 when interrupted."""
    from filelock import FileLock, Timeout

    manifest, points = planned or plan(request)
    sid, path = manifest.sweep_id, Path(request.results) / SWEEP_FILE
    lock = FileLock(str(Manifest.path(request.results, sid).with_suffix(".lock")))
    try:
        Manifest.path(request.results, sid).parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"sweep {sid} is already running from another process on these results; "
                        "wait for it, or use another --results folder") from None  # fmt: skip
    except OSError as exc:
        raise UserError(f"cannot write to {request.results}: {exc.strerror or exc}; pass --results DIR") from None
    try:
        return _run_locked(request, manifest, points, path)
    finally:
        lock.release()


def _results_option(request: SweepRequest) -> str:
    return "" if Path(request.results) == DEFAULT_RESULTS else f" --results {shlex.quote(str(request.results))}"


def _resume_hint(request: SweepRequest, sid: str) -> str:
    return request.resume_hint or f"python -m bench sweep --resume {sid}{_results_option(request)}"


def _report_hint(request: SweepRequest, sid: str) -> str:
    return request.report_hint or f"python -m bench sweep --report {sid}{_results_option(request)}"


def _run_locked(request: SweepRequest, manifest: Manifest, points: list, path: Path) -> int:
    sid = manifest.sweep_id
    done = done_points(path, sid)
    todo = [p for p in points if p.key not in done]
    if done and request.resume is None:
        if todo:
            raise UserError(f"sweep {sid} already has {len(done)} of {len(points)} points in {path}; to run the "
                            f"other {len(todo)}: {_resume_hint(request, sid)}")  # fmt: skip
        raise UserError(f"sweep {sid} is complete in {path}; see: {_report_hint(request, sid)} "
                        "(or pass another --results DIR to run it again apart)")  # fmt: skip
    if not todo:
        print(f"sweep {sid}: all {len(points)} points have results in {path}; nothing to run")
        return 0
    if request.scheduler is None:  # the jobs run here: fetch and verify MNIST once, before any worker needs it
        from core.sweep import cached_mnist

        cached_mnist(manifest.data_dir, manifest.unverified)
    manifest.write(request.results)
    jobs = [Job(sid, p, manifest.data_dir, manifest.unverified, manifest.budget_s, manifest.evaluate) for p in todo]
    n_workers = min(request.workers or os.cpu_count() or 1, len(jobs))
    where = (f"on the Dask cluster at {request.scheduler}" if request.scheduler
             else "in this process, one job after another" if n_workers == 1
             else f"on a local Dask cluster of {n_workers} single-threaded workers")  # fmt: skip
    print(f"sweep {sid}: {len(points)} point(s) ({', '.join(manifest.backends)}; grid {manifest.grid}), "
          f"{len(done)} already done, {len(todo)} to run {where}", flush=True)  # fmt: skip

    recorder = Recorder(path, sid, len(points), len(done), len(todo), request.quiet)
    started = perf_counter()
    interrupted = False
    try:
        if request.scheduler:
            with _remote_client(request.scheduler) as client:
                _run_on_dask(client, jobs, recorder, request.wait_s, request.scheduler)
        elif n_workers == 1:
            _run_in_process(jobs, recorder)
        else:
            with _local_cluster(n_workers) as cluster, _client(cluster) as client:
                _run_on_dask(client, jobs, recorder, request.wait_s, "the local cluster")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        recorder.close()
    counts = recorder.counts
    have = len(done_points(path, sid))
    missing = len(points) - have
    print(f"sweep {sid}: {have} of {len(points)} points have results ({counts['finished']} finished and "
          f"{counts['failed']} failed in this run, {perf_counter() - started:.1f} s); rows in {path}")  # fmt: skip
    if missing:
        why = "interrupted; " if interrupted else ("lost with the scheduler; " if counts["lost"] else "")
        print(f"{why}{missing} point(s) still need a result: {_resume_hint(request, sid)}",
              file=sys.stderr if interrupted else sys.stdout)  # fmt: skip
    print(f"report: {_report_hint(request, sid)}")
    if interrupted:
        return 130
    return 1 if missing else 0


def _run_in_process(jobs: list[Job], recorder: Recorder) -> None:
    for job in jobs:
        row = run_point(job)
        recorder.record(job, row)
        if row.get("status") == "interrupted":
            raise KeyboardInterrupt


def _local_cluster(n_workers: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, resources={RESOURCE: 1},
                        host="127.0.0.1", dashboard_address=None, memory_limit=0,
                        silence_logs=logging.ERROR)  # fmt: skip


def _client(cluster):
    from distributed import Client

    return Client(cluster)


def _remote_client(address: str):
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler at {address} ({first}); start one with: dask scheduler, "
                        "and give its address as tcp://HOST:PORT") from None  # fmt: skip


def _trainers(client) -> tuple[list[dict], list[dict]]:
    """(every worker of the cluster, those offering the train resource)."""
    workers = list(client.scheduler_info(n_workers=-1)["workers"].values())
    return workers, [w for w in workers if (w.get("resources") or {}).get(RESOURCE, 0) >= 1]


def _free_slots(client, running: int) -> int:
    """How many jobs to submit now: the workers' `train` resources added up, less the jobs running; one
    when none runs (it waits for a worker)."""
    try:
        free = sum(int(w["resources"][RESOURCE]) for w in _trainers(client)[1]) - running
    except (OSError, TimeoutError):  # the scheduler is going away; its futures will say so
        free = 0
    return max(free, 0 if running else 1)


def _wait_for_trainers(client, wait_s: float, where: str) -> list[dict]:
    """The workers offering the train resource, waiting up to `wait_s` for the first one to join."""
    deadline = monotonic() + wait_s
    while True:
        workers, trainers = _trainers(client)
        if trainers:
            return trainers
        if monotonic() >= deadline:
            start = f"dask worker {where if '://' in where else 'SCHEDULER'} --nthreads 1 --resources {RESOURCE}=1"
            if workers:
                raise UserError(f"none of the {len(workers)} worker(s) of {where} offers the {RESOURCE!r} resource; "
                                f"start workers with: {start}")  # fmt: skip
            raise UserError(f"no worker joined {where} within {wait_s:g} s; start workers with: {start}")
        sleep(0.25)


def _submit(client, job: Job):
    key = f"train-{job.sweep_id}-{hashlib.sha256(job.point.key.encode()).hexdigest()[:12]}"
    return client.submit(run_point, job, key=key, resources={RESOURCE: 1}, retries=RETRIES, pure=False)


def _run_on_dask(client, jobs: list[Job], recorder: Recorder, wait_s: float, where: str) -> None:
    """Run every job (one `train` resource each), record each as it completes, in completion order.

    A job is submitted only when a `train` slot is free for it (checked each second, so workers that
    join are used). Why not submit all at once: the scheduler hands a job with a resource to a worker
    at once, queued behind the one running there, and when a worker dies it counts every job it held
    as a suspect, so one crashing job would also fail the innocent jobs queued behind it. A worker
    that dies mid-job has that job rescheduled on another worker (up to
    distributed.scheduler.allowed-failures times, then KilledWorker: recorded as failed); `retries`
    covers an exception raised outside the job's own handling. Either way the future completes once,
    so each point is recorded once.
    """
    from distributed import wait

    trainers = _wait_for_trainers(client, wait_s, where)
    hosts = sorted({str(w.get("host") or w.get("id")) for w in trainers})
    print(f"{len(trainers)} worker(s) with {RESOURCE}=1 on {', '.join(hosts)}", flush=True)
    waiting = list(reversed(jobs))  # popped from the end: in the order given
    futures = {}
    lost = False
    try:
        while waiting or futures:
            if waiting and not lost:
                for _ in range(min(_free_slots(client, len(futures)), len(waiting))):
                    job = waiting.pop()
                    futures[_submit(client, job)] = job
            if not futures:
                break  # the scheduler was lost: what is still waiting is left for --resume
            try:
                done = wait(list(futures), timeout=1, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for future in done:
                job = futures.pop(future)
                if future.status == "finished":
                    row = future.result()
                elif future.cancelled():  # the scheduler went away: not the job's fault, so not recorded
                    recorder.lost(job)
                    lost = True
                    continue
                else:
                    row = failed_row(job, reason_of(future.exception()))
                recorder.record(job, row)
                future.release()
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


# ---------------------------------------------------------------- the report
def read_sweep(results: Path, sweep: str | None = None):
    """(one row per point of the sweep, the sweep id): the point's result row, or its last failure."""
    import pandas as pd

    path = Path(results) / SWEEP_FILE
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run a sweep first: python -m bench sweep --grid ...")
    text_columns = ["sweep_id", "point", "layers", "hidden", "reason", "status", "epoch_accuracy", "epoch_train_s",
                    "host", "cpu", "worker", "dtype", "backend", "activation", "loss", "init", "data",
                    "samples"]  # fmt: skip
    numbers = ("median_train_s", "min_train_s", "max_train_s", "s_per_sample", "final_accuracy", "eval_s", "job_s")
    df = pd.read_csv(path, dtype=dict.fromkeys(text_columns, str), keep_default_na=False,
                     na_values={c: [""] for c in numbers})  # fmt: skip
    if "samples" not in df:  # a sweep.csv from before the samples columns: every point trained on all images
        df["samples"], df["s_per_sample"] = "", math.nan
    if df.empty:
        raise UserError(f"{path} holds no sweep yet; run one: python -m bench sweep --grid ...")
    sweep = sweep or df["sweep_id"].iloc[-1]
    rows = df[df["sweep_id"] == sweep].copy()
    if rows.empty:
        known = ", ".join(df["sweep_id"].unique()[-5:])
        raise UserError(f"no sweep {sweep!r} in {path}; sweeps there: {known}")
    rows["_done"] = rows["status"].isin(DONE)
    rows["_order"] = range(len(rows))
    rows = rows.sort_values(["_done", "_order"]).groupby("point", sort=False).tail(1)
    return rows.sort_values("_order").reset_index(drop=True), sweep


def _natural(column: str, value):
    """Sort order of a grid value: layers by their sizes, numbers as numbers."""
    if column == "layers":
        return tuple(int(n) for n in str(value).split(","))
    if column == "samples":  # "" (the whole training set) after every N
        return int(value) if str(value).strip() else math.inf
    return value


def summarize(points):
    """Mean and sample std over seeds of final accuracy and median epoch seconds, per configuration."""
    done = points[points["_done"]]
    grouped = done.groupby(CONFIG, sort=False)
    table = grouped.agg(seeds=("seed", "nunique"), acc_mean=("final_accuracy", "mean"),
                        acc_std=("final_accuracy", "std"), s_mean=("median_train_s", "mean"),
                        s_std=("median_train_s", "std")).reset_index()  # fmt: skip
    failed = points[~points["_done"]].groupby(CONFIG, sort=False).size().rename("failed").reset_index()
    table = table.merge(failed, on=CONFIG, how="outer")
    table["failed"] = table["failed"].fillna(0).astype(int)
    table["seeds"] = table["seeds"].fillna(0).astype(int)
    order = sorted(range(len(table)), key=lambda i: tuple(_natural(c, table[c].iloc[i]) for c in CONFIG))
    return table.iloc[order].reset_index(drop=True)


def varying(points) -> list[str]:
    return [c for c in CONFIG if points[c].nunique() > 1]


def _layers_label(layers: str) -> str:
    return str(layers).replace(",", "-")


def _config_label(row, keys: list[str]) -> str:
    parts = []
    for k in keys:
        value = row[k]
        if k == "layers":
            parts.append(_layers_label(value))
        elif k == "batch_size":
            parts.append(f"batch {value}")
        elif k == "lr":
            parts.append(f"lr {float(value):g}")
        elif k == "epochs":
            parts.append(f"{value} epochs")
        elif k == "samples":
            parts.append(f"{value} samples" if str(value).strip() else "all samples")
        else:
            parts.append(str(value))
    return " ".join(parts)


def _pm(mean: float, std: float, scale: float, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    text = f"{scale * mean:.{digits}f}"
    return text + (f" ± {scale * std:.{digits}f}" if not math.isnan(std) else "")


def render_report(points, sweep: str, total: int | None) -> str:
    from tabulate import tabulate

    table = summarize(points)
    keys = [c for c in varying(points) if c not in ("backend", "dtype")]
    shown = ["backend", "dtype", *keys]
    headers = [{"batch_size": "batch"}.get(c, c) for c in shown] + ["seeds", "accuracy % (mean ± std)",
                                                                    "s/epoch (mean ± std)", "failed"]  # fmt: skip
    body = [[_layers_label(r[c]) if c == "layers" else r[c] for c in shown]
            + [r["seeds"], _pm(r["acc_mean"], r["acc_std"], 100, 2), _pm(r["s_mean"], r["s_std"], 1, 3),
               r["failed"] or ""] for _, r in table.iterrows()]  # fmt: skip
    done = points[points["_done"]]
    failed = points[~points["_done"]]
    total = total or len(points)
    hosts = done.groupby("host", sort=True).size() if "host" in done else []
    machine = "; ".join(f"{h} ({done[done['host'] == h]['cpu'].iloc[0]}, {n} jobs)" for h, n in hosts.items())
    seeds = sorted(points["seed"].unique())
    lines = [
        f"sweep {sweep}: {len(done)} of {total} points have results, {len(failed)} failed, "
        f"{total - len(done) - len(failed)} not run",
        f"ran on: {machine or 'no host'}; one BLAS/numba thread per job, one job per worker",
        f"over seeds {', '.join(map(str, seeds))}: accuracy is the test accuracy after the last epoch; "
        f"s/epoch is each job's median epoch",
        "",
        tabulate(body, headers=headers, disable_numparse=True),
        "",
    ]
    config_keys = keys or ["layers"]
    ranked = table[(table["seeds"] > 0) & table["acc_mean"].notna()]  # timing-only points have no accuracy
    if len(ranked):
        lines.append("best per backend (highest mean accuracy; fastest: lowest mean seconds per epoch):")
        for (backend, dtype), group in ranked.groupby(["backend", "dtype"], sort=False):
            best = group.loc[group["acc_mean"].idxmax()]
            fast = group.loc[group["s_mean"].idxmin()]
            lines.append(f"  {backend} {dtype}: most accurate {_config_label(best, config_keys)}: "
                         f"{_pm(best['acc_mean'], best['acc_std'], 100, 2)}% over {best['seeds']} seed(s), "
                         f"{best['s_mean']:.3f} s/epoch")  # fmt: skip
            lines.append(f"  {' ' * len(f'{backend} {dtype}')}  fastest {_config_label(fast, config_keys)}: "
                         f"{fast['s_mean']:.3f} s/epoch, {100 * fast['acc_mean']:.2f}%")  # fmt: skip
    elif len(table[table["seeds"] > 0]):
        lines.append(
            "timing only: no accuracy was measured (python -m bench scaling --replot SWEEP_ID draws the rates)"
        )
    timed = table[table["seeds"] > 1]
    noisy = timed[timed["s_std"] > NOISE * timed["s_mean"]]
    if len(noisy):
        lines.append(f"noise: seconds per epoch vary by more than {NOISE:.0%} of the mean across seeds in {len(noisy)} "
                     f"of {len(timed)} configurations (the seeds train the same network at the same cost): other "
                     "work shared the machine; for timings to publish, run with fewer --workers than cores")  # fmt: skip
    if len(failed):
        lines.append(f"failed points ({len(failed)}; rerun them with --resume {sweep}):")
        for _, r in failed.head(10).iterrows():
            lines.append(f"  {r['point']}: {r['reason']}")
        if len(failed) > 10:
            lines.append(f"  ... and {len(failed) - 10} more in sweep.csv")
    return "\n".join(lines)


def write_plot(points, sweep: str, out: Path) -> Path | None:
    """results/sweep-SWEEP_ID.png: accuracy and seconds per epoch across the grid, mean ± std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(points)
    table = table[table["seeds"] > 0]
    if table.empty:
        return None
    keys = varying(points)
    order = ["layers", "batch_size", "lr", "samples", "epochs", "activation", "loss", "init"]
    x_key = next((k for k in order if k in keys), "layers")
    series_keys = ["backend", "dtype", *[k for k in keys if k not in ("backend", "dtype", x_key)]]
    xs = sorted(set(table[x_key]), key=lambda v: _natural(x_key, v))
    series = list(table.groupby(series_keys, sort=False))
    palette = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    fig, (ax_acc, ax_s) = plt.subplots(1, 2, figsize=(14, 6.2), dpi=DPI)
    width = min(0.12, 0.5 / max(1, len(series)))
    clipped = False
    for i, (name, group) in enumerate(series):
        group = group.set_index(x_key).reindex(xs)
        pos = [j + (i - (len(series) - 1) / 2) * width for j in range(len(xs))]
        label = _config_label(dict(zip(series_keys, name if isinstance(name, tuple) else (name,))), series_keys)
        style = dict(marker="os^Dv<>"[i // len(palette) % 7], color=palette[i % len(palette)], capsize=3,
                     linewidth=1.2, markersize=5, label=label)  # fmt: skip
        ax_acc.errorbar(pos, 100 * group["acc_mean"], yerr=100 * group["acc_std"].fillna(0), **style)
        s_std = group["s_std"].fillna(0)
        below = s_std.clip(upper=CLIP * group["s_mean"])  # a log axis cannot draw mean - std <= 0
        clipped |= bool((below < s_std).any())
        ax_s.errorbar(pos, group["s_mean"], yerr=[below, s_std], **style)
    x_name = {"layers": "hidden layer sizes", "batch_size": "batch size", "lr": "learning rate"}.get(x_key, x_key)
    labels = ["-".join(str(v).split(",")[1:-1]) if x_key == "layers" else str(v) for v in xs]
    for ax, what in ((ax_acc, "test accuracy after the last epoch (%)"), (ax_s, "seconds per epoch (log)")):
        ax.set_xticks(range(len(xs)), labels)
        ax.set_xlabel(x_name)
        ax.set_ylabel(what)
        ax.grid(True, alpha=0.3)
    ax_s.set_yscale("log")
    ax_acc.legend(fontsize=8, loc="best")
    done = points[points["_done"]]
    cpu = ", ".join(sorted(done["cpu"].astype(str).unique()))
    seeds = sorted(done["seed"].unique())
    fig.suptitle(f"Sweep {sweep}: mean ± std over seeds {', '.join(map(str, seeds))}", x=0.01, ha="left",
                 fontsize=13, fontweight="bold")  # fmt: skip
    fig.text(0.01, 0.915, f"{cpu} · {len(done)} jobs on {done['host'].nunique()} host(s), "
             f"{done['worker'].nunique()} worker(s) · 1 thread per job · "
             f"epochs {', '.join(map(str, sorted(done['epochs'].unique())))}"
             + (f" · lower whiskers of seconds cut at {CLIP:.0%} of the mean where the std is larger" if clipped else ""),
             fontsize=9, color="0.25")  # fmt: skip
    fig.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.1, wspace=0.2)
    path = Path(out) / f"sweep-{sweep}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
    tmp.replace(path)  # never a half-written PNG under the real name
    return path


def print_report(results: Path, sweep: str | None = None) -> int:
    points, sweep = read_sweep(results, sweep)
    manifest_path = Manifest.path(results, sweep)
    total = Manifest.read(results, sweep).points if manifest_path.exists() else None
    print(render_report(points, sweep, total))
    try:
        path = write_plot(points, sweep, results)
    except Exception as exc:  # noqa: BLE001 - the table is printed; a plotting failure must not hide it
        print(f"warning: plot not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 0
    if path:
        print(f"plot: {path}")
    return 0
