"""Bad input, odd environments and closed outputs end in one line and the right exit code, or in the
right behaviour, with nothing half recorded."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from core.driver import train_backend
from core.model_format import metadata
from core.persist import load_model, save_model
from core.spec import Spec
from tests.bench.helpers import main_here
from tests.conftest import ROOT, run_cli
from tests.core.test_driver import Recorder, tiny


def one_line_error(done, code: int, *words: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def cli(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        **kwargs,
    )


def run_args(idx_dir, tmp_path, *more):
    return [
        "run",
        "--quiet",
        "--data-dir",
        str(idx_dir),
        "--unverified",
        "--results",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        *more,
    ]


def test_more_threads_than_cores_is_refused(idx_dir, tmp_path):
    one_line_error(cli(*run_args(idx_dir, tmp_path, "--threads", "99")), 2, "--threads 99", "cores")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value, words", [("abc", ["NUMBA_NUM_THREADS", "'abc'"]), ("0", ["at least 1"])])
def test_a_bad_thread_variable_is_refused(idx_dir, tmp_path, value, words):
    one_line_error(cli(*run_args(idx_dir, tmp_path), env={"NUMBA_NUM_THREADS": value}), 2, *words)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_a_thread_variable_that_overrides_threads_is_refused(idx_dir, tmp_path):
    done = cli(*run_args(idx_dir, tmp_path, "--threads", "2"), env={"NUMBA_NUM_THREADS": "1"})
    one_line_error(done, 2, "NUMBA_NUM_THREADS=1", "--threads 1")


@pytest.mark.parametrize(
    "args, words",
    [
        (["all", "--backends", ""], ["names no backend"]),
        (["all", "--backends", " , "], ["names no backend"]),
        (["all", "--quick", "--full"], ["not allowed with"]),
        (["all", "--quick", "--epochs", "3"], ["--quick", "conflicts with --epochs 3"]),
        (["all", "--quick", "--epochs", "30"], ["conflicts with --epochs 30"]),  # the default, typed: still given
        (["all", "--quick", "--budget", "9"], ["conflicts with --budget 9"]),
        (["all", "--full", "--budget", "9"], ["--full", "conflicts with --budget 9"]),
        (["all", "--quick", "--full", "--epochs", "3"], ["not allowed with"]),
        (["run", "--backend", "numpy"], ["pick one of", "numpy-plain", "numpy-tuned"]),
    ],
)
def test_empty_or_conflicting_options_are_refused(args, words):
    one_line_error(main_here(*args), 2, *words)


def test_a_closed_pipe_still_records_the_run(idx_dir, tmp_path):
    cmd = [sys.executable, "-m", "bench", *run_args(idx_dir, tmp_path, "--epochs", "3")]
    done = subprocess.run(
        f"{' '.join(cmd)} | head -1", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in done.stderr and len(done.stdout.splitlines()) == 1
    with open(tmp_path / "r" / "summary.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert row["status"] == "ok" and row["epochs_run"] == "3"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_a_full_standard_output_is_one_line(args):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "bench", *args], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
        )
    one_line_error(done, 1, "standard output", "device is full")


def test_a_command_whose_output_is_a_full_device_says_so_in_one_line(capsys):
    """`bench list` in this process (the backends are imported already), its output on /dev/full."""
    import contextlib

    from bench.cli import main

    with open("/dev/full", "w") as full, contextlib.redirect_stdout(full):  # restores main's wrapped stdout
        code = main(["list"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "error: standard output: the device is full; free space on it or redirect the output"
    )


def test_a_network_too_big_for_memory_is_refused_before_training(idx_dir, tmp_path):
    limit = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
    script = limit + "sys.argv = ['bench', *sys.argv[1:]]; runpy.run_module('bench', run_name='__main__')"
    done = subprocess.run(
        [sys.executable, "-c", script, *run_args(idx_dir, tmp_path, "--layers", "784,200000,10")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    one_line_error(done, 2, "GiB of memory", "is available")
    assert not (tmp_path / "r" / "epochs.csv").exists()


def test_a_model_of_nan_weights_is_refused(tmp_path):
    spec = Spec(layers=(784, 4, 10))
    weights = [(np.full((4, 784), np.nan), np.zeros(4)), (np.zeros((10, 4)), np.zeros(10))]
    meta = metadata(
        spec,
        backend="numpy-plain",
        dtype="float64",
        epochs_trained=1,
        samples_per_epoch=60_000,
        test_correct=980,
        test_total=10_000,
        data_digest="d",
        run_id="r",
        status="diverged",
    )
    path = save_model(tmp_path / "nan.npz", weights, meta)
    from core.errors import ModelError

    with pytest.raises(ModelError, match="NaN or infinite"):
        load_model(path)
    one_line_error(run_cli("evaluate", str(path)), 2, "NaN or infinite")


def test_a_run_that_stays_at_chance_is_flagged():
    run = train_backend(Recorder(), Spec(epochs=1, lr=1000.0, n_train=200), tiny(), "float64")
    if run.status != "diverged":  # a huge step either overflows to NaN or saturates every unit
        assert run.status == "stalled" and "did not learn" in run.note


@pytest.mark.slow  # end to end in processes
def test_unverified_rows_are_marked_in_the_table(idx_dir, tmp_path):
    done = run_cli(
        "all",
        "--quick",
        "--backends",
        "numpy-plain",
        "--threads",
        "1",
        "--data-dir",
        str(idx_dir),
        "--unverified",
        "--results",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "UNVERIFIED data" in done.stdout
    wide = run_cli("report", "--wide", "--results", str(tmp_path))
    assert "UNVERIFIED data" in wide.stdout
