"""`bench sweep` running: a timing-only job, and that a sweep loses nothing and records every point once,
whether it runs in this process, on a local Dask cluster, or on a real scheduler with a worker killed.
The grid language: tests/bench/test_sweep_grid.py.

Every process these tests start listens on 127.0.0.1 only, is waited for with a deadline, and is
ended in a `finally` (also when the test fails).
"""

import hashlib
import json
import math
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from distributed import Client

from bench.sweep import SweepRequest, print_report, run_sweep
from core.errors import UserError
from core.sweep import Job, Point, run_point
from tests.bench.helpers import SLOW_JOB, child_env, data_args, plugin_env, rows, start_sweep, stop, wait_for
from tests.conftest import ROOT, run_cli


def test_a_timing_only_job_on_the_first_samples_reports_seconds_per_sample(idx_dir):
    """What `bench scaling` asks of a sweep job: the first N images, no test-set evaluation, s/sample."""
    point = Point("numpy-tuned", "float64", (784, 8, 10), "sigmoid", "quadratic", "uniform", 10, 3.0, 0, 3, samples=50)
    row = run_point(Job("sw-test", point, str(idx_dir), unverified=True, evaluate=False))
    assert row["status"] == "ok", row.get("reason")
    assert row["samples"] == 50 and row["samples_timed"] == 50 and row["extrapolated"] is False
    assert row["s_per_sample"] == pytest.approx(row["median_train_s"] / 50) and row["s_per_sample"] > 0
    assert math.isnan(row["final_accuracy"]) and math.isnan(row["eval_s"]) and row["epoch_accuracy"] == ""
    assert len(row["epoch_train_s"].split(";")) == 3 and row["blas_threads"] == 1

    evaluated = run_point(Job("sw-test", point, str(idx_dir), unverified=True))  # the same point, evaluated
    assert 0 <= evaluated["final_accuracy"] <= 1 and len(evaluated["epoch_accuracy"].split(";")) == 3

    too_many = run_point(Job("sw-test", replace(point, samples=10_000), str(idx_dir), unverified=True))
    assert too_many["status"] == "failed" and "samples=10000 is more than the 300 training images" in too_many["reason"]


# ---------------------------------------------------------------- running, stopping, resuming
@pytest.mark.slow  # end to end in processes
def test_stopped_sweep_resumes_only_the_missing_points_on_its_own_workers(idx_dir, tmp_path, capsys):
    """SIGTERM (as a service manager stops it) ends a sweep running in this process as Ctrl-C does: the
    job under way leaves no row, one line says how to resume, and --resume alone runs the rest the way
    the sweep was started (--workers 1: here, not on a cluster)."""
    out = tmp_path / "results"
    grid = ["--grid", "hidden=32;seed=0-2", *SLOW_JOB, "--workers", "1"]
    proc = start_sweep(idx_dir, out, *grid)
    try:
        wait_for(lambda: len(rows(out / "sweep.csv")) >= 1, 60, "the first row", [proc])
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        stop([proc])
    assert proc.returncode == 128 + signal.SIGTERM
    first = rows(out / "sweep.csv")
    assert 1 <= len(first) < 3 and all(r["status"] == "ok" for r in first)  # the interrupted job left no row
    sid = first[0]["sweep_id"]
    assert stderr.startswith("interrupted: ") and f"--resume {sid}" in stderr and len(stderr.splitlines()) == 1

    same = SweepRequest(
        grid="hidden=32;seed=0-2",
        backends="python-plain",
        epochs=1,
        workers=1,
        data_dir=str(idx_dir),
        unverified=True,
        results=out,
    )
    with pytest.raises(UserError, match=f"already has {len(first)} of 3 points .* --resume {sid}"):
        run_sweep(same)  # the same sweep again, without --resume

    resumed = run_cli("sweep", "--resume", sid, "--results", str(out), timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        f"{len(first)} already done, {3 - len(first)} to run in this process, one job after another " in resumed.stdout
    )
    assert "(--workers 1, as the sweep was started)" in resumed.stdout
    final = rows(out / "sweep.csv")
    assert Counter(r["seed"] for r in final) == {"0": 1, "1": 1, "2": 1}  # every point exactly once
    assert {r["status"] for r in final} == {"ok"} and {r["sweep_id"] for r in final} == {sid}
    assert all(r["host"] and r["blas_threads"] == "1" and r["final_accuracy"] for r in final)

    capsys.readouterr()
    assert print_report(out) == 0  # what `bench sweep --report` prints and draws
    report = capsys.readouterr().out
    assert f"sweep {sid}: 3 of 3 points have results" in report
    assert "python-plain float64: most accurate" in report and "fastest" in report
    assert (out / f"sweep-{sid}.png").stat().st_size > 10_000


CRASH_PLUGIN = """
import os
from backends import numpy_tuned as _np

name, summary, dtypes, tier = "crash", "numpy whose train() kills its process", ("float32",), "tuned"
available, load, load_data, predict, weights = _np.available, _np.load, _np.load_data, _np.predict, _np.weights

def train(model, data, rows, batch_size, lr):
    os._exit(3)
"""


@pytest.mark.slow  # end to end in processes
def test_failing_jobs_are_recorded_as_failed_and_the_rest_complete(idx_dir, tmp_path):
    """On the default local Dask cluster: a job that raises (a batch larger than the training set) and a
    job that kills its worker process are each recorded once as failed, with the reason; the others run,
    including those that would have waited on the dying worker."""
    one_loss_fails = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # one lost worker fails the job
    env = plugin_env(tmp_path, "crash_backend", "crash", CRASH_PLUGIN, **one_loss_fails)
    out = tmp_path / "results"
    grid = ["--grid", "hidden=8;batch=10,1000;seed=0,1", "--backends", "crash,numpy-tuned", "--epochs", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "sweep", *grid, "--workers", "2", *data_args(idx_dir, out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # something failed, and the exit code says so
    by_point = {(r["backend"], r["batch_size"], r["seed"]): r for r in rows(out / "sweep.csv")}
    assert len(by_point) == len(rows(out / "sweep.csv")) == 8
    for seed in "01":
        ok = by_point[("numpy-tuned", "10", seed)]
        assert ok["status"] == "ok" and ok["worker"].startswith("tcp://127.0.0.1:")  # ran on a worker of the cluster
        failed = by_point[("numpy-tuned", "1000", seed)]
        assert failed["status"] == "failed" and failed["reason"] == "--batch-size must be between 1 and 300, got 1000"
        assert failed["host"]  # a job that raised still says where it ran
        assert by_point[("crash", "1000", seed)]["status"] == "failed"  # raised before training: never reached train()
        killed = by_point[("crash", "10", seed)]
        assert killed["status"] == "failed" and killed["reason"].startswith("KilledWorker")
    assert done.stdout.count("FAILED") == 6 and "2 of 8 points have results" in done.stdout


@pytest.fixture
def dask_cluster(tmp_path):
    """A real Dask scheduler and two single-threaded workers offering train=1, separate processes on 127.0.0.1."""
    procs = []
    logs = tmp_path / "dask-logs"
    logs.mkdir()

    def start(name: str, *args: str) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT
        )
        proc.log = log
        procs.append(proc)
        return proc

    scheduler_file = tmp_path / "scheduler.json"
    try:
        here = ["--host", "127.0.0.1", "--no-dashboard"]
        start(
            "scheduler", "distributed.cli.dask_scheduler", *here, "--port", "0", "--scheduler-file", str(scheduler_file)
        )
        wait_for(scheduler_file.exists, 30, "the scheduler", procs)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        one_job = ["--nthreads", "1", "--resources", "train=1", "--no-nanny"]
        workers = [
            start(f"worker{i}", "distributed.cli.dask_worker", address, *here, *one_job, "--name", f"w{i}")
            for i in range(2)
        ]
        with Client(address, timeout="10s") as client:  # both joined: a sweep started now finds the two
            client.wait_for_workers(2, timeout=30)
        yield address, workers
    finally:
        stop(procs[::-1])
        for proc in procs:
            proc.log.close()


def executing(client, worker: str) -> list[str]:
    """Keys of the tasks the worker is running now (not those merely queued on it)."""
    found = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing], workers=[worker])
    return found[worker]


@pytest.mark.slow  # end to end in processes
def test_sweep_on_a_real_scheduler_survives_a_killed_worker(dask_cluster, idx_dir, tmp_path):
    address, workers = dask_cluster
    out = tmp_path / "results"
    cluster = ["--scheduler", address, "--wait-workers", "30"]
    cmd = [sys.executable, "-m", "bench", "sweep", "--grid", "hidden=32;seed=0-3", *SLOW_JOB, *cluster]
    cmd += data_args(idx_dir, out)
    client = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(address, timeout="10s") as watcher:  # to see which job the doomed worker holds
            by_name = {w["name"]: a for a, w in watcher.scheduler_info(n_workers=-1)["workers"].items()}
            doomed, survivor = by_name["w0"], by_name["w1"]
            wait_for(lambda: len(rows(out / "sweep.csv")) >= 1, 60, "the first row", [client, *workers])
            held = []  # what w0 runs when seen, kept: asking again may find it between two jobs
            wait_for(lambda: held.extend(executing(watcher, doomed)) or held, 30, "a job on w0", [client, *workers])
            lost_key = held[0]
            workers[0].send_signal(signal.SIGKILL)  # mid-job
            killed_at = datetime.now(UTC).isoformat(timespec="seconds")
        stdout, stderr = client.communicate(timeout=90)
    finally:
        stop([client])
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert client.returncode == 0, stderr
    final = rows(out / "sweep.csv")
    assert Counter(r["seed"] for r in final) == {str(s): 1 for s in range(4)}  # every point exactly once
    assert {r["status"] for r in final} == {"ok"}
    (rerun,) = [r for r in final if lost_key.endswith(hashlib.sha256(r["point"].encode()).hexdigest()[:12])]
    # The killed job ran again on the other worker (unless it finished in the instant before the kill).
    assert rerun["worker"] == survivor or rerun["finished_utc"] <= killed_at
    assert "2 worker(s) with train=1 on 127.0.0.1" in stdout and "4 of 4 points have results" in stdout
