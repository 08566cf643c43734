"""Running a planned sweep: every point without a result, each row recorded in sweep.csv as it finishes.

The jobs run in this process one after another (--workers 1), on a local Dask cluster or on an
existing scheduler (bench/sweep_dask.py). One sweep runs at a time per results folder (a lock beside
its manifest). Ctrl-C or SIGTERM ends a sweep with one line: what is recorded, and the command that
resumes it; a finished job is never lost and an interrupted one leaves no row.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from time import perf_counter

from bench.options import DEFAULT_RESULTS
from bench.sweep_plan import SweepRequest, plan
from core.errors import UserError, program_name
from core.sweep import SWEEP_COLUMNS, SWEEP_FILE, Job, Manifest, done_points, run_point


class Recorder:
    """Appends each finished job's row to sweep.csv at once, exactly once per point, and shows progress."""

    def __init__(self, path: Path, sweep: str, total: int, done: int, todo: int, quiet: bool):
        from tqdm import tqdm

        self.path, self.todo, self.quiet = path, todo, quiet
        self.counts: Counter = Counter()
        self.recorded: set[str] = set()
        show = not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=done, unit="job", desc=sweep, dynamic_ncols=True, disable=not show)
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
            tqdm.write(f"[{len(self.recorded)}/{self.todo}] {job_line(job, row)}", file=sys.stdout)
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
    what = (
        f"{p.backend} {p.dtype} {'-'.join(map(str, p.layers))} {p.activation} {p.loss} batch {p.batch_size} "
        f"lr {p.lr:g} seed {p.seed}" + (f" samples {p.samples}" if p.samples is not None else "")
    )
    host = row.get("host") or "?"
    if row.get("status") == "failed":
        return f"FAILED  {what}: {row.get('reason')} (on {host})"
    where = f"on {host}, {row['job_s']:.1f} s"
    if not job.evaluate:  # timing only: the rate is the result
        timed = row.get("samples_timed")
        how = f"timed on {timed:,} samples per epoch, extrapolated" if row.get("extrapolated") else "full epochs"
        rate = human_seconds(row["s_per_sample"])
        return f"{row['status']:<7} {what}: {rate}/sample, median of {row['epochs_run']} epoch(s), {how} ({where})"
    return (
        f"{row['status']:<7} {what}: {row['median_train_s']:.3f} s/epoch, {100 * row['final_accuracy']:.2f}% "
        f"after {row['epochs_run']} epochs ({where})"
    )


class Interrupts:
    """SIGINT, SIGTERM and SIGHUP while a sweep runs: the first raises KeyboardInterrupt here (a job running in
    this process then ends with status interrupted); later ones are ignored, so that pressing Ctrl-C
    again cannot break the shutdown into tracebacks. `signal` is the first one's number, or None."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.signal: int | None = None
        self._saved: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signum
            raise KeyboardInterrupt

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                if hasattr(signal, name):
                    number = getattr(signal, name)
                    self._saved[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)


def run_sweep(request: SweepRequest, planned: tuple[Manifest, list] | None = None) -> int:
    """Plan (unless `planned` is plan(request)'s answer already), then run every point without a result;
    0 when all have one, 1 on failures, 128 + the signal (130, 143) when interrupted."""
    from filelock import FileLock, Timeout

    manifest, points = planned or plan(request)
    sid, path = manifest.sweep_id, Path(request.results) / SWEEP_FILE
    lock = FileLock(str(Manifest.path(request.results, sid).with_suffix(".lock")))
    try:
        Manifest.path(request.results, sid).parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(
            f"sweep {sid} is already running from another process on these results; "
            "wait for it, or use another --results folder"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot write to {request.results}: {exc.strerror or exc}; pass --results DIR") from None
    try:
        return _run_locked(request, manifest, points, path)
    finally:
        lock.release()


def _results_option(request: SweepRequest) -> str:
    return "" if Path(request.results) == DEFAULT_RESULTS else f" --results {shlex.quote(str(request.results))}"


def _resume_hint(request: SweepRequest, sid: str) -> str:
    return request.resume_hint or f"{program_name()} sweep --resume {sid}{_results_option(request)}"


def _report_hint(request: SweepRequest, sid: str) -> str:
    return request.report_hint or f"{program_name()} sweep --report {sid}{_results_option(request)}"


def _where(request: SweepRequest, manifest: Manifest, n_workers: int) -> str:
    if request.scheduler:
        return f"on the Dask cluster at {request.scheduler}"
    where = (
        "in this process, one job after another"
        if n_workers == 1
        else f"on a local Dask cluster of {n_workers} single-threaded workers"
    )
    if request.workers is None and manifest.workers is not None:  # kept from the sweep's start (--resume)
        where += f" (--workers {manifest.workers}, as the sweep was started)"
    return where


def _run_locked(request: SweepRequest, manifest: Manifest, points: list, path: Path) -> int:
    sid = manifest.sweep_id
    done = done_points(path, sid)
    todo = [p for p in points if p.key not in done]
    if done and request.resume is None:
        if todo:
            raise UserError(
                f"sweep {sid} already has {len(done)} of {len(points)} points in {path}; to run the "
                f"other {len(todo)}: {_resume_hint(request, sid)}"
            )
        raise UserError(
            f"sweep {sid} is complete in {path}; see: {_report_hint(request, sid)} "
            "(or pass another --results DIR to run it again apart)"
        )
    if not todo:
        print(f"sweep {sid}: all {len(points)} points have results in {path}; nothing to run")
        return 0
    if request.scheduler is None:  # the jobs run here: fetch and verify MNIST once, before any worker needs it
        from core.sweep import cached_mnist

        cached_mnist(manifest.data_dir, manifest.unverified)
    manifest.write(request.results)
    jobs = [Job(sid, p, manifest.data_dir, manifest.unverified, manifest.budget_s, manifest.evaluate) for p in todo]
    n_workers = min(manifest.workers or os.cpu_count() or 1, len(jobs))
    print(
        f"sweep {sid}: {len(points)} point(s) ({', '.join(manifest.backends)}; grid {manifest.grid}), "
        f"{len(done)} already done, {len(todo)} to run {_where(request, manifest, n_workers)}",
        flush=True,
    )

    recorder = Recorder(path, sid, len(points), len(done), len(todo), request.quiet)
    started = perf_counter()
    with Interrupts() as interrupts:
        try:
            _run(request, jobs, recorder, n_workers)
        except KeyboardInterrupt:
            interrupts.signal = interrupts.signal or signal.SIGINT
        finally:
            recorder.close()
        counts = recorder.counts
        have = len(done_points(path, sid))
        missing = len(points) - have
        if interrupts.signal is not None:
            print(
                f"interrupted: {have} of {len(points)} points of sweep {sid} have results in {path} "
                f"({counts['finished'] + counts['failed']} recorded in this run); "
                f"to run the other {missing}: {_resume_hint(request, sid)}",
                file=sys.stderr,
                flush=True,
            )
            return interrupts.exit_code
    print(
        f"sweep {sid}: {have} of {len(points)} points have results ({counts['finished']} finished and "
        f"{counts['failed']} failed in this run, {perf_counter() - started:.1f} s); rows in {path}"
    )
    if missing:
        lost = "lost with the scheduler; " if counts["lost"] else ""
        print(f"{lost}{missing} point(s) still need a result: {_resume_hint(request, sid)}")
    print(f"report: {_report_hint(request, sid)}")
    return 1 if missing else 0


def _run(request: SweepRequest, jobs: list[Job], recorder: Recorder, n_workers: int) -> None:
    """Every job, where the request says: a scheduler, this process, or a local cluster."""
    from bench import sweep_dask

    if request.scheduler:
        with sweep_dask.remote_client(request.scheduler) as client:
            sweep_dask.run_on_dask(client, jobs, recorder, request.wait_s, request.scheduler)
    elif n_workers == 1:
        for job in jobs:
            row = run_point(job)
            recorder.record(job, row)
            if row.get("status") == "interrupted":
                raise KeyboardInterrupt
    else:
        with sweep_dask.local_client(n_workers) as client:
            sweep_dask.run_on_dask(client, jobs, recorder, request.wait_s, "the local cluster")
