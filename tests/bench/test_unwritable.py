"""Places that cannot be written, made so whatever the user id (root writes through chmod, and CI may run
as root): a regular file where a folder is expected, and /dev/full for a full device. Each ends in one
line and a non-zero exit, without a traceback, with nothing half recorded (no epoch rows without a
summary row)."""

import os
import subprocess
import sys

import pytest

from core import results
from core.errors import UserError
from tests.bench.helpers import data_args, rows
from tests.conftest import ROOT, run_cli


def one_line(done, code: int, *words: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def blocker(tmp_path):
    """A regular file: `blocker / "sub"` can be neither created nor written, even by root."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results folder with one finished run and the model it saved."""
    from tests.conftest import write_idx_dir

    folder = tmp_path_factory.mktemp("finished")
    idx, out = write_idx_dir(folder / "idx"), folder / "results"
    model = folder / "model.npz"
    done = run_cli(
        "run", "--backend", "numpy-plain", "--quiet", *data_args(idx, out), "--epochs", "1", "--save", str(model)
    )
    assert done.returncode == 0, done.stderr
    return idx, out, model


def nothing_recorded(folder) -> None:
    assert rows(folder / "epochs.csv") == [] and rows(folder / "summary.csv") == []


def test_appending_under_a_file_is_refused_in_one_line(blocker):
    with pytest.raises(UserError, match="cannot write results to .*a-file/sub/x.csv: Not a directory"):
        results.append_rows(blocker / "sub" / "x.csv", ["a"], [{"a": 1}])
    with pytest.raises(UserError, match="cannot write results to"):
        results.check_writable(blocker / "sub")


@pytest.mark.parametrize("command", ["run", "all"])
def test_results_under_a_file_are_refused_before_training(idx_dir, blocker, command):
    args = ["--backend", "numpy-plain"] if command == "run" else ["--backends", "numpy-plain", "--threads", "1"]
    done = run_cli(command, *args, *data_args(idx_dir, blocker / "sub"), "--epochs", "1")
    one_line(done, 2, "cannot write results to", "a-file/sub")
    assert blocker.read_text() == "not a folder"


def test_save_under_a_file_is_refused_before_training(idx_dir, tmp_path, blocker):
    out = tmp_path / "results"
    done = run_cli(
        "run", "--backend", "numpy-plain", *data_args(idx_dir, out), "--epochs", "1", "--save", f"{blocker}/x.npz"
    )
    one_line(done, 2, "a-file")
    nothing_recorded(out)


def test_show_png_under_a_file_is_one_line(finished, blocker):
    idx, _, model = finished
    done = run_cli(
        "show", str(model), "--weights", "--png", str(blocker / "sub"), "--data-dir", str(idx), "--unverified"
    )
    one_line(done, 2, "a-file")


def test_plot_out_under_a_file_is_one_line(finished, blocker):
    _, out, _ = finished
    one_line(run_cli("plot", "--results", str(out), "--out", str(blocker / "sub")), 2, "a-file")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_run_whose_output_is_a_full_device_records_itself_whole_and_says_so_in_one_line(idx_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--backend", "numpy-plain", *data_args(idx_dir, out), "--epochs", "2"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(cmd, cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    one_line(done, 1, "standard output", "device is full")
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "ok" and summary["epochs_run"] == "2" and len(rows(out / "epochs.csv")) == 2
