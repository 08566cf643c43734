"""`bench sweep` against the signals that tests/bench/test_sweep.py and test_sweep_hostile.py do not send:
Ctrl-C and SIGHUP to a sweep running in this process (--workers 1), and a closed pipe. Each ends with
the finished points recorded whole, one line and no traceback."""

import signal
import subprocess
import sys

import pytest

from tests.bench.helpers import SLOW_JOB, child_env, data_args, rows, start_sweep, stop, wait_for
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_a_sweep_with_its_finished_points_recorded(idx_dir, tmp_path, signum):
    out = tmp_path / "results"
    grid = ["--grid", "hidden=32;seed=0-2", *SLOW_JOB, "--workers", "1"]
    proc = start_sweep(idx_dir, out, *grid)
    try:
        wait_for(lambda: len(rows(out / "sweep.csv")) >= 1, 60, "the first row", [proc])
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        stop([proc])
    recorded = rows(out / "sweep.csv")
    assert 1 <= len(recorded) < 3 and all(r["status"] == "ok" for r in recorded)
    assert "Traceback" not in stderr and stderr.startswith("interrupted: ") and len(stderr.splitlines()) == 1, stderr
    assert (out / "sweep.csv").read_bytes().endswith(b"\n") and not list(out.glob(".*.tmp"))
    assert proc.returncode == 128 + signum


def test_a_sweep_with_a_closed_pipe_still_records_every_point(idx_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "sweep", "--grid", "'hidden=16;seed=0-2'", "--backends", "numpy-plain"]
    cmd += ["--epochs", "1", "--workers", "1", *data_args(idx_dir, out)]
    done = subprocess.run(
        f"{' '.join(cmd)} | head -1", shell=True, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr and len(done.stdout.splitlines()) == 1, done.stderr
    assert [r["status"] for r in rows(out / "sweep.csv")] == ["ok"] * 3
