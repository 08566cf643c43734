"""`bench sweep`: the grid language, and that a sweep loses nothing and records every point once,
whether it runs in this process, on a local Dask cluster, or on a real scheduler with a worker killed.

Every process these tests start listens on 127.0.0.1 only, is waited for with a deadline, and is
ended in a `finally` (also when the test fails).
"""

import csv
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from distributed import Client

from bench.sweep import SweepRequest, print_report, run_sweep
from core.errors import UserError
from core.sweep import (
    Job,
    Point,
    expand,
    parse_grid,
    read_grid_file,
    run_point,
    sweep_id,
)
from tests.conftest import ROOT, run_cli

SLOW_JOB = ["--backends", "python-plain", "--epochs", "1"]  # slow enough per job to be stopped mid-job


def rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def data_args(idx_dir, results) -> list[str]:
    return ["--data-dir", str(idx_dir), "--unverified", "--results", str(results)]


def wait_for(condition, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def stop(procs) -> None:
    """Terminate each process in turn (workers before their scheduler), killing any that lingers."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def child_env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MNIST_BENCH_DATA", None)
    return env


# ---------------------------------------------------------------- the grid
def test_grid_takes_lists_ranges_and_layer_lists():
    grid = parse_grid(" hidden=16,36,128 ; batch=1,10,32;lr=0.5,3;seed=0-4;activation=sigmoid,relu;epochs=1-2")
    assert grid == {
        "hidden": [16, 36, 128],
        "batch": [1, 10, 32],
        "lr": [0.5, 3.0],
        "seed": [0, 1, 2, 3, 4],
        "activation": ["sigmoid", "relu"],
        "epochs": [1, 2],
    }
    assert parse_grid("layers=784-64-32-10,784-36-10;seed=0-1,5")["layers"] == [(784, 64, 32, 10), (784, 36, 10)]
    assert parse_grid("seed=0-1,5,1")["seed"] == [0, 1, 5]  # repeats dropped, order kept


def test_grid_expands_to_every_point_with_the_seed_defaults():
    backends = {"numpy-tuned": ("float32", "float64"), "python-plain": ("float64",)}
    points = expand(parse_grid("hidden=16,36;seed=0-1"), backends, 3)
    assert len(points) == 2 * 2 * 2
    assert {p.dtype for p in points if p.backend == "numpy-tuned"} == {"float32"}  # each backend's default dtype
    p = points[0]
    seed_program = ((784, 16, 10), "sigmoid", "quadratic", "uniform", 10, 3.0, 3)
    assert (p.layers, p.activation, p.loss, p.init, p.batch_size, p.lr, p.epochs) == seed_program


def test_point_key_is_stable():
    point = Point("numba-tuned", "float32", (784, 64, 32, 10), "relu", "cross-entropy", "he", 10, 0.5, 3, 2)
    assert point.key == (
        "backend=numba-tuned dtype=float32 layers=784-64-32-10 activation=relu loss=cross-entropy "
        "init=he batch=10 lr=0.5 seed=3 epochs=2"
    )


def test_sweep_id_does_not_depend_on_how_the_grid_is_spelled():
    backends = {"numpy-tuned": ("float32", "float64")}
    a = expand(parse_grid("seed=0-2;hidden=16,36;lr=3"), backends, 2)
    b = expand(parse_grid("hidden=36,16;seed=2,1,0"), backends, 2)
    c = expand(parse_grid("hidden=36,16;seed=2,1,0"), backends, 3)
    assert sweep_id(a, "mnist") == sweep_id(b, "mnist") != sweep_id(c, "mnist")
    assert sweep_id(a, "mnist") != sweep_id(a, "unverified /elsewhere")


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".toml", 'hidden = [16, 36]\nseed = "0-2"\nlr = 3.0\n'),
        (".toml", '[grid]\nhidden = "16,36"\nseed = [0, 1, 2]\nlr = [3]\n'),
        (".yaml", "hidden: [16, 36]\nseed: 0-2\nlr: 3.0\n"),
    ],
)
def test_grid_file_in_toml_or_yaml_is_the_same_grid(tmp_path, suffix, text):
    path = tmp_path / f"grid{suffix}"
    path.write_text(text)
    assert read_grid_file(path) == parse_grid("hidden=16,36;seed=0-2;lr=3")


@pytest.mark.parametrize(
    "text, message",
    [
        ("hiden=16", "unknown grid key 'hiden'; keys: hidden, layers, batch"),
        ("seed=4-2", "runs backwards; write seed=2-4"),
        ("hidden=16;hidden=32", "given twice"),
        ("hidden=", "empty value"),
        ("hidden=16;layers=784-10", "not both"),
        ("batch=x", "batch takes integers"),
        ("activation=swish", "choose from sigmoid, tanh, relu"),
        ("hidden=64-32", "write layers=784-64-32-10"),
        ("layers=784-36", "must run from 784 to 10"),
        ("lr=nan", "finite"),
        ("hidden 16", "key=values separated by ';'"),
    ],
)
def test_bad_grid_is_one_line_user_error(text, message):
    with pytest.raises(UserError, match=message) as caught:
        expand(parse_grid(text), {"numpy-tuned": ("float32",)}, 1)
    assert "\n" not in str(caught.value)


def test_bad_values_and_conflicting_epochs_are_refused_before_anything_runs():
    with pytest.raises(UserError, match="in the grid: --batch-size must be between 1"):
        expand(parse_grid("batch=0"), {"numpy-tuned": ("float32",)}, 1)
    with pytest.raises(UserError, match="epochs in the grid or as --epochs, not both"):
        expand(parse_grid("epochs=1-2"), {"numpy-tuned": ("float32",)}, 3)
    with pytest.raises(UserError, match="does not support dtype float32"):
        expand(parse_grid("dtype=float32"), {"python-plain": ("float64",)}, 1)


def test_bad_grid_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    done = run_cli("sweep", "--grid", "hidden=16;sed=0-2", "--results", str(tmp_path), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: unknown grid key 'sed'; keys: hidden, layers, batch, lr, seed, activation, "
        "loss, init, epochs, dtype, samples"
    )
    assert not (tmp_path / "sweep.csv").exists()


def test_samples_and_dtype_all_in_the_grid():
    grid = parse_grid("hidden=8;batch=1,10;samples=2000;dtype=all")
    assert grid["samples"] == [2000] and grid["dtype"] == ["all"]
    points = expand(grid, {"numpy-tuned": ("float32", "float64"), "python-plain": ("float64",)}, 5)
    pairs = [("numpy-tuned", "float32"), ("numpy-tuned", "float64"), ("python-plain", "float64")]
    assert sorted({(p.backend, p.dtype) for p in points}) == pairs
    assert all(p.samples == 2000 and p.key.endswith(" samples=2000") for p in points)
    assert Point("numpy-tuned", "float32", (784, 8, 10), "sigmoid", "quadratic", "uniform", 10, 3.0, 0, 1).key.endswith(
        "epochs=1"
    )  # a point on the whole training set keeps the key it had before samples existed
    assert sweep_id(points, "mnist", 2.0) != sweep_id(points, "mnist", 2.0, evaluate=False)
    with pytest.raises(UserError, match="--batch-size must be between 1 and 5, got 10"):
        expand(parse_grid("batch=10;samples=5"), {"numpy-tuned": ("float32",)}, 1)
    with pytest.raises(UserError, match="at least 1"):
        parse_grid("samples=0")
    with pytest.raises(UserError, match="give it alone"):
        parse_grid("dtype=all,float32")


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
def test_stopped_sweep_resumes_only_the_missing_points_on_its_own_workers(idx_dir, tmp_path, capsys):
    """SIGTERM (as a service manager stops it) ends a sweep running in this process as Ctrl-C does: the
    job under way leaves no row, one line says how to resume, and --resume alone runs the rest the way
    the sweep was started (--workers 1: here, not on a cluster)."""
    out = tmp_path / "results"
    grid = ["--grid", "hidden=32;seed=0-2", *SLOW_JOB, "--workers", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "sweep", *grid, *data_args(idx_dir, out)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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


def test_failing_jobs_are_recorded_as_failed_and_the_rest_complete(idx_dir, tmp_path):
    """On the default local Dask cluster: a job that raises (a batch larger than the training set) and a
    job that kills its worker process are each recorded once as failed, with the reason; the others run,
    including those that would have waited on the dying worker."""
    site = tmp_path / "site"
    (site / "crash_backend-0.1.dist-info").mkdir(parents=True)
    (site / "crash_backend.py").write_text(CRASH_PLUGIN)
    info = site / "crash_backend-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crash-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mnist_bench.backends]\ncrash = crash_backend\n")
    env = child_env(
        PYTHONPATH=f"{site}{os.pathsep}{ROOT}", DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0"
    )  # one lost worker fails the job
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "sweep",
            "--grid",
            "hidden=8;batch=10,1000;seed=0,1",
            "--backends",
            "crash,numpy-tuned",
            "--epochs",
            "1",
            "--workers",
            "2",
            *data_args(idx_dir, out),
        ],
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
        start(
            "scheduler",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        )
        wait_for(scheduler_file.exists, 30, "the scheduler", procs)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = [
            start(
                f"worker{i}",
                "distributed.cli.dask_worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--resources",
                "train=1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
            )
            for i in range(2)
        ]
        yield address, workers
    finally:
        stop(procs[::-1])
        for proc in procs:
            proc.log.close()


def executing(client, worker: str) -> list[str]:
    """Keys of the tasks the worker is running now (not those merely queued on it)."""
    found = client.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing], workers=[worker])
    return found[worker]


def test_sweep_on_a_real_scheduler_survives_a_killed_worker(dask_cluster, idx_dir, tmp_path):
    address, workers = dask_cluster
    out = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "sweep",
        "--grid",
        "hidden=32;seed=0-3",
        *SLOW_JOB,
        "--scheduler",
        address,
        "--wait-workers",
        "30",
        *data_args(idx_dir, out),
    ]
    client = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(address, timeout="10s") as watcher:  # to see which job the doomed worker holds
            watcher.wait_for_workers(2, timeout=30)
            by_name = {w["name"]: a for a, w in watcher.scheduler_info(n_workers=-1)["workers"].items()}
            doomed, survivor = by_name["w0"], by_name["w1"]
            wait_for(lambda: len(rows(out / "sweep.csv")) >= 1, 60, "the first row", [client, *workers])
            wait_for(lambda: executing(watcher, doomed), 30, "a job running on w0", [client, *workers])
            (lost_key,) = executing(watcher, doomed)
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
