"""Faults and interruptions: a backend that raises, dies, diverges or is interrupted loses nothing else.

The misbehaving backend is a plugin in another "distribution" (a dist-info folder on PYTHONPATH),
which also proves the entry-point discovery works.
"""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from core import results
from core.errors import UserError
from tests.bench.helpers import at_a_terminal, ctrl_c, data_args, plugin_env, rows, wait_for
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all

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
def fault_env(tmp_path):
    return plugin_env(tmp_path, "fault_backend", "fault", PLUGIN)


def bench(env, *args, fault="", timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=dict(env, FAULT=fault),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def common(idx_dir, results_dir, epochs: int = 3):
    return [*data_args(idx_dir, results_dir), "--epochs", str(epochs), "--threads", "1"]


def interrupt_after_two_epochs(proc, out, signum) -> int:
    """Send `signum` to `proc` once epochs.csv holds two rows; its exit code."""
    wait_for(lambda: len(rows(out / "epochs.csv")) >= 2, 60, "two finished epochs", [proc])
    proc.send_signal(signum)
    return proc.wait(timeout=60)


def test_plugin_backend_is_discovered_through_its_entry_point(fault_env):
    listed = bench(fault_env, "list")
    assert "fault" in listed.stdout and "numpy with a fault" in listed.stdout


def test_unavailable_backend_says_why(fault_env, idx_dir, tmp_path):
    listed = bench(fault_env, "list", fault="unavailable")
    assert "no: it needs the moon" in listed.stdout
    done = bench(fault_env, "run", "--backend", "fault", *common(idx_dir, tmp_path), fault="unavailable")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: backend 'fault' is unavailable: it needs the moon"


@pytest.mark.parametrize("fault, reason", [("raise", "RuntimeError: boom in epoch 2"), ("die", "exited with code 9")])
def test_failing_backend_is_reported_and_the_others_complete(fault_env, idx_dir, tmp_path, fault, reason):
    out = tmp_path / "results"
    done = bench(fault_env, "all", "--backends", "fault,numpy-tuned", *common(idx_dir, out), fault=fault)
    assert done.returncode == 1  # something failed, and the run says so
    summary = {r["backend"]: r for r in rows(out / "summary.csv")}
    assert summary["fault"]["status"] == "failed" and reason in summary["fault"]["note"]
    assert summary["numpy-tuned"]["status"] == "ok" and summary["numpy-tuned"]["epochs_run"] == "3"
    assert "FAILED" in done.stdout and reason in done.stdout
    epochs = rows(out / "epochs.csv")
    assert [r["epoch"] for r in epochs if r["backend"] == "fault"] == ["1"]  # the finished epoch is kept


def test_divergence_stops_that_backend_with_a_diverged_row(fault_env, idx_dir, tmp_path):
    out = tmp_path / "results"
    done = bench(fault_env, "all", "--backends", "fault,numpy-tuned", *common(idx_dir, out), fault="nan")
    summary = {r["backend"]: r for r in rows(out / "summary.csv")}
    assert summary["fault"]["status"] == "diverged" and "diverged at epoch 2" in summary["fault"]["note"]
    assert summary["numpy-tuned"]["status"] == "ok"
    assert [r["status"] for r in rows(out / "epochs.csv") if r["backend"] == "fault"] == ["ok", "diverged"]
    assert "DIVERGED" in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_keeps_finished_epochs_and_valid_csv(fault_env, idx_dir, tmp_path, signum):
    out = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "run", "--backend", "fault", "--quiet", *common(idx_dir, out, epochs=50)]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(fault_env, FAULT="slow"), stdout=subprocess.PIPE, text=True)
    assert interrupt_after_two_epochs(proc, out, signum) == 128 + signum
    epochs = rows(out / "epochs.csv")
    assert 2 <= len(epochs) < 50 and all(r["test_accuracy"] for r in epochs)
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(epochs)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_all_stops_its_child_and_records_the_finished_epochs(fault_env, idx_dir, tmp_path, signum):
    out = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "all", "--backends", "fault", "--settle", "0", *common(idx_dir, out, 50)]
    proc = subprocess.Popen(
        args, cwd=ROOT, env=dict(fault_env, FAULT="slow"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # to the parent alone, as a service manager (SIGTERM) or a closed terminal's session leader (SIGHUP) would
    assert interrupt_after_two_epochs(proc, out, signum) == 128 + signum
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(rows(out / "epochs.csv"))
    assert not list(out.glob(".*.tmp"))


def test_ctrl_c_at_a_terminal_stops_all_and_its_child_and_records_the_finished_epochs(fault_env, idx_dir, tmp_path):
    """Ctrl-C signals the whole process group: `bench all` and the `bench run` it started."""
    out = tmp_path / "results"
    args = [sys.executable, "-m", "bench", "all", "--backends", "fault", "--settle", "0", *common(idx_dir, out, 50)]
    with at_a_terminal(args, dict(fault_env, FAULT="slow")) as proc:
        stderr = ctrl_c(proc, lambda: len(rows(out / "epochs.csv")) >= 1, 60, "a finished epoch")
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(rows(out / "epochs.csv")) >= 1


def test_all_with_a_closed_pipe_still_records_every_row(idx_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "all", "--backends", "numpy-plain,numpy-tuned", *common(idx_dir, out, 2)]
    done = subprocess.run(
        f"{' '.join(cmd)} --settle 0 | head -1", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr and len(done.stdout.splitlines()) == 1, done.stderr
    assert [r["status"] for r in rows(out / "summary.csv")] == ["ok", "ok"]
    assert len(rows(out / "epochs.csv")) == 4


def test_concurrent_runs_lose_no_rows(idx_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--quiet", *data_args(idx_dir, out), "--epochs", "8"]
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
    done = run_cli("run", "--quiet", *data_args(idx_dir, blocker), "--epochs", "1")
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
