"""Faults and interruptions: a backend that raises, dies, diverges or is interrupted loses nothing else.

The misbehaving backend is a plugin in another "distribution" (a dist-info folder on PYTHONPATH),
which also proves the entry-point discovery works.
"""

import csv
import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from core import results
from core.errors import UserError
from tests.conftest import ROOT

PLUGIN = """
import os, time
from backends import numpy_tuned as _np

name, summary, dtypes, tier = "fault", "numpy with a fault chosen by $FAULT", ("float32",), "tuned"
load, load_data, weights = _np.load, _np.load_data, _np.weights
evaluated = 0  # the driver evaluates once after each epoch: this counts finished epochs

def available():
    return "it needs the moon" if os.environ.get("FAULT") == "unavailable" else None

def predict(model, data):
    global evaluated
    evaluated += 1
    return _np.predict(model, data)

def train(model, data, rows, batch_size, lr):
    mode = os.environ.get("FAULT", "")
    if evaluated == 1 and mode == "raise":
        raise RuntimeError("boom in epoch 2")
    if evaluated == 1 and mode == "die":
        os._exit(9)
    if evaluated == 1 and mode == "nan":
        model.W[1][0, 0] = float("nan")
    if mode == "slow":
        time.sleep(0.3)
    _np.train(model, data, rows, batch_size, lr)
"""


@pytest.fixture
def plugin_env(tmp_path):
    site = tmp_path / "site"
    (site / "fault_backend-0.1.dist-info").mkdir(parents=True)
    (site / "fault_backend.py").write_text(PLUGIN)
    (site / "fault_backend-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fault-backend\nVersion: 0.1\n"
    )
    (site / "fault_backend-0.1.dist-info" / "entry_points.txt").write_text(
        "[mnist_bench.backends]\nfault = fault_backend\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    env.pop("MNIST_BENCH_DATA", None)
    return env


def bench(env, *args, fault="", timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=dict(env, FAULT=fault),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def common(idx_dir, results_dir):
    args = ["--data-dir", str(idx_dir), "--unverified", "--results", str(results_dir), "--epochs", "3"]
    return args + ["--threads", "1"]


def test_plugin_backend_is_discovered_through_its_entry_point(plugin_env):
    listed = bench(plugin_env, "list")
    assert "fault" in listed.stdout and "numpy with a fault" in listed.stdout


def test_unavailable_backend_says_why(plugin_env, idx_dir, tmp_path):
    listed = bench(plugin_env, "list", fault="unavailable")
    assert "no: it needs the moon" in listed.stdout
    done = bench(plugin_env, "run", "--backend", "fault", *common(idx_dir, tmp_path), fault="unavailable")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: backend 'fault' is unavailable: it needs the moon"


@pytest.mark.parametrize("fault, reason", [("raise", "RuntimeError: boom in epoch 2"), ("die", "exited with code 9")])
def test_failing_backend_is_reported_and_the_others_complete(plugin_env, idx_dir, tmp_path, fault, reason):
    out = tmp_path / "results"
    done = bench(plugin_env, "all", "--backends", "fault,numpy-tuned", *common(idx_dir, out), fault=fault)
    assert done.returncode == 1  # something failed, and the run says so
    summary = {r["backend"]: r for r in rows(out / "summary.csv")}
    assert summary["fault"]["status"] == "failed" and reason in summary["fault"]["note"]
    assert summary["numpy-tuned"]["status"] == "ok" and summary["numpy-tuned"]["epochs_run"] == "3"
    assert "FAILED" in done.stdout and reason in done.stdout
    epochs = rows(out / "epochs.csv")
    assert [r["epoch"] for r in epochs if r["backend"] == "fault"] == ["1"]  # the finished epoch is kept


def test_divergence_stops_that_backend_with_a_diverged_row(plugin_env, idx_dir, tmp_path):
    out = tmp_path / "results"
    done = bench(plugin_env, "all", "--backends", "fault,numpy-tuned", *common(idx_dir, out), fault="nan")
    summary = {r["backend"]: r for r in rows(out / "summary.csv")}
    assert summary["fault"]["status"] == "diverged" and "diverged at epoch 2" in summary["fault"]["note"]
    assert summary["numpy-tuned"]["status"] == "ok"
    assert [r["status"] for r in rows(out / "epochs.csv") if r["backend"] == "fault"] == ["ok", "diverged"]
    assert "DIVERGED" in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_keeps_finished_epochs_and_valid_csv(plugin_env, idx_dir, tmp_path, signum):
    out = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "run", "--backend", "fault", "--quiet", *common(idx_dir, out)]
    args[args.index("3")] = "50"
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(plugin_env, FAULT="slow"), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "epochs.csv").exists() or len(rows(out / "epochs.csv")) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 128 + signum
    epochs = rows(out / "epochs.csv")
    assert 2 <= len(epochs) < 50 and all(r["test_accuracy"] for r in epochs)
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(epochs)


def test_sigterm_to_all_stops_its_child_and_records_the_finished_epochs(plugin_env, idx_dir, tmp_path):
    out = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "all", "--backends", "fault", "--settle", "0", *common(idx_dir, out)]
    args[args.index("3")] = "50"
    proc = subprocess.Popen(
        args, cwd=ROOT, env=dict(plugin_env, FAULT="slow"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not (out / "epochs.csv").exists() or len(rows(out / "epochs.csv")) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # to the parent alone, as a service manager would
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(rows(out / "epochs.csv"))


def test_concurrent_runs_lose_no_rows(idx_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--quiet",
        "--data-dir",
        str(idx_dir),
        "--unverified",
        "--results",
        str(out),
        "--epochs",
        "8",
    ]
    procs = [subprocess.Popen([*cmd, "--seed", str(s)], cwd=ROOT, stdout=subprocess.DEVNULL) for s in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert len(rows(out / "epochs.csv")) == 32 and len(rows(out / "summary.csv")) == 4


def test_full_disk_leaves_earlier_results_intact(tmp_path, monkeypatch):
    path = tmp_path / "epochs.csv"
    results.append_rows(path, ["a", "b"], [{"a": 1, "b": 2}])
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match="No space left on device; earlier results are intact"):
        results.append_rows(path, ["a", "b"], [{"a": 3, "b": 4}])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_unwritable_results_location_is_one_line(idx_dir, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the results folder should be")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--quiet",
            "--data-dir",
            str(idx_dir),
            "--unverified",
            "--results",
            str(blocker),
            "--epochs",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: cannot write results to") and "--results" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_results_file_with_other_columns_is_set_aside_whole(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text("something,else\n1,2\n")
    with pytest.warns(UserWarning, match="other version"):
        results.append_rows(path, ["a", "b"], [{"a": 1, "b": 2}])
    assert path.read_text() == "a,b\n1,2\n"
    (aside,) = tmp_path.glob("summary.*.other-columns.csv")
    assert aside.read_text() == "something,else\n1,2\n"


def test_plugin_text_is_valid_python():
    compile(textwrap.dedent(PLUGIN), "plugin", "exec")
