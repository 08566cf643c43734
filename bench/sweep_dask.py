"""Running a sweep's jobs on Dask: a local cluster of single-threaded workers, or an existing scheduler.

Each worker offers one `train` resource and each job takes one, so a worker runs one training job at
a time. Jobs are submitted as slots free up and recorded (by the caller's recorder) in the order they
complete. Stopping is quiet: on Ctrl-C or SIGTERM the futures are cancelled, distributed's logging is
silenced and the client and cluster are closed before the caller prints its one line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from contextlib import contextmanager
from time import monotonic, sleep

from core.errors import UserError
from core.sweep import Job, failed_row, reason_of, run_point

RESOURCE = "train"  # each worker offers one; each job takes one: one training job per worker at a time
RETRIES = 1  # for an exception outside the job's own handling; a lost worker is retried by the scheduler
QUIET_LOGGERS = ("distributed", "tornado", "asyncio")
# multiprocessing's resource tracker, started with the cluster, removes at exit the semaphores of workers
# killed mid-job (as stopping a sweep does) and warns about them: noise to someone who pressed Ctrl-C. It
# takes its warning filters from the environment it starts in.
TRACKER_QUIET = "ignore:resource_tracker:UserWarning:multiprocessing.resource_tracker"


def silence() -> None:
    """distributed's loggers (and those of the libraries under it) to CRITICAL: what a shutdown that
    the user asked for logs is noise (connections closed, tasks cancelled, workers gone)."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in QUIET_LOGGERS]
    for name in [*QUIET_LOGGERS, *names]:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def dask_setup(worker) -> None:
    """Run by each local worker as it starts (the cluster's preload): it ignores SIGINT (see local_client)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread of the worker process: nothing to protect there
        pass


class _HeldSignals:
    """While the cluster starts: SIGINT ignored, so that the worker processes started meanwhile inherit
    that (a spawned process keeps ignored signals, not handlers or the signal mask), and SIGINT and
    SIGTERM blocked in this thread, so that one arriving meanwhile waits (a blocked signal is kept even
    when ignored). `release` puts the handlers back and delivers a signal that waited."""

    def __init__(self):
        self.mask = self.handler = None
        if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
            self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            self.handler = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def release(self) -> None:
        if self.mask is not None:
            signal.signal(signal.SIGINT, self.handler)
            mask, self.mask = self.mask, None
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextmanager
def _quiet_on_interrupt():
    """Silence distributed before what follows a Ctrl-C closes: the client, then the cluster."""
    try:
        yield
    except KeyboardInterrupt:
        silence()
        raise


@contextmanager
def local_client(n_workers: int):
    """A client of a new local cluster of `n_workers` single-threaded worker processes, closed on exit.

    A Ctrl-C at a terminal goes to the whole process group, and a worker process that took it would
    print its own tracebacks: the workers ignore SIGINT from their start (_HeldSignals, then
    dask_setup for a worker restarted later), and this process stops them itself.
    """
    from distributed import Client, LocalCluster

    held, filters = _HeldSignals(), os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [filters, TRACKER_QUIET]))
    try:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            resources={RESOURCE: 1},
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=0,
            silence_logs=logging.ERROR,
            preload=[__name__],
        )
    except BaseException:
        held.release()
        raise
    finally:
        if filters is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = filters
    with cluster:
        with _quiet_on_interrupt():
            held.release()  # a signal that waited is raised here, and the cluster closes
        with Client(cluster) as client, _quiet_on_interrupt():
            yield client


def remote_client(address: str):
    from distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"cannot reach the Dask scheduler at {address} ({first}); start one with: dask scheduler, "
            "and give its address as tcp://HOST:PORT"
        ) from None


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
                raise UserError(
                    f"none of the {len(workers)} worker(s) of {where} offers the {RESOURCE!r} resource; "
                    f"start workers with: {start}"
                )
            raise UserError(f"no worker joined {where} within {wait_s:g} s; start workers with: {start}")
        sleep(0.25)


def _submit(client, job: Job):
    key = f"train-{job.sweep_id}-{hashlib.sha256(job.point.key.encode()).hexdigest()[:12]}"
    return client.submit(run_point, job, key=key, resources={RESOURCE: 1}, retries=RETRIES, pure=False)


def run_on_dask(client, jobs: list[Job], recorder, wait_s: float, where: str) -> None:
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

    futures = {}
    try:
        trainers = _wait_for_trainers(client, wait_s, where)
        hosts = sorted({str(w.get("host") or w.get("id")) for w in trainers})
        print(f"{len(trainers)} worker(s) with {RESOURCE}=1 on {', '.join(hosts)}", flush=True)
        waiting = list(reversed(jobs))  # popped from the end: in the order given
        lost = False
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
        silence()
        client.cancel(list(futures))
        raise
