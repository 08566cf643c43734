"""Hostile input to `bench sweep`: a grid too large to hold, an empty --backends, a damaged sweep.csv,
a resume that must keep the sweep's workers, and Ctrl-C at the terminal of a local-cluster sweep.
Each ends in one line and the right exit code, never a traceback.
"""

import csv
import math
import sys
import time
from pathlib import Path

import pytest

from bench.sweep import SweepRequest, plan, print_report, read_sweep
from core import results
from core.errors import UserError
from core.sweep import MAX_POINTS, SWEEP_COLUMNS, Job, Manifest, expand, parse_grid, read_grid_file
from tests.bench.helpers import SLOW_JOB, at_a_terminal, child_env, ctrl_c, data_args, group_gone, rows, wait_for
from tests.conftest import run_cli


# ---------------------------------------------------------------- a grid too large
@pytest.mark.parametrize(
    "text, count",
    [
        ("seed=0-1000000", "1,000,001"),
        ("seed=0-1000000000000", "1,000,000,000,001"),  # a list of this would never fit in memory
        ("hidden=1,2,3,4,5,6,7,8,9,10;batch=1,2,3,4,5,6,7,8,9,10;seed=0-1999", "200,000"),
    ],
)
def test_a_huge_grid_is_refused_in_one_line_before_it_is_expanded(text, count):
    started = time.perf_counter()
    with pytest.raises(UserError) as caught:
        parse_grid(text)
    assert time.perf_counter() - started < 1
    message = str(caught.value)
    assert count in message and f"{MAX_POINTS:,}" in message and "narrow it" in message and "\n" not in message


def test_a_grid_over_the_limit_with_its_backends_and_dtypes_is_refused_before_any_point_is_built():
    grid = parse_grid("seed=0-49999;dtype=all")  # 50,000 points per backend and dtype: fine alone
    started = time.perf_counter()
    with pytest.raises(UserError, match=r"has 150,000 points \(3 backend and dtype pair\(s\) x 50,000 seed\)"):
        expand(grid, {"numpy-tuned": ("float32", "float64"), "python-plain": ("float64",)}, 1)
    assert time.perf_counter() - started < 1


def test_a_huge_range_in_a_grid_file_is_refused_too(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('seed = "0-1000000000000"\n')
    with pytest.raises(UserError, match="seed lists 1,000,000,000,001 values"):
        read_grid_file(path)


def test_a_huge_grid_and_an_empty_backends_on_the_command_line_are_one_line_and_exit_2(tmp_path):
    huge = run_cli("sweep", "--grid", "seed=0-1000000", "--results", str(tmp_path), timeout=60)
    assert huge.returncode == 2 and huge.stdout == ""
    assert huge.stderr.startswith("error: grid key seed lists 1,000,001 values, more than the 100,000 points")
    assert len(huge.stderr.splitlines()) == 1
    empty = run_cli("sweep", "--grid", "hidden=8", "--backends", "", "--results", str(tmp_path), timeout=60)
    assert empty.returncode == 2 and empty.stderr.startswith("error: --backends '' names no backend")
    assert len(empty.stderr.splitlines()) == 1 and not (tmp_path / "sweep.csv").exists()


@pytest.mark.parametrize("backends", ["", " , ", ","])
def test_backends_naming_nothing_are_refused(backends):
    with pytest.raises(UserError, match="names no backend"):
        plan(SweepRequest(grid="hidden=8", backends=backends))


# ---------------------------------------------------------------- resume keeps the workers
def test_resume_keeps_the_workers_the_sweep_was_started_with(idx_dir, tmp_path):
    common = dict(data_dir=str(idx_dir), unverified=True, results=tmp_path)
    started, _ = plan(SweepRequest(grid="hidden=8;seed=0-1", epochs=1, workers=1, **common))
    started.write(tmp_path)
    sid = started.sweep_id
    assert plan(SweepRequest(resume=sid, results=tmp_path))[0].workers == 1
    assert plan(SweepRequest(resume="", results=tmp_path))[0].workers == 1  # the latest sweep
    assert plan(SweepRequest(grid="seed=0-1;hidden=8", epochs=1, resume="", **common))[0].workers == 1
    assert plan(SweepRequest(resume=sid, workers=3, results=tmp_path))[0].workers == 3  # given: it wins
    assert plan(SweepRequest(resume=sid, scheduler="tcp://127.0.0.1:1", results=tmp_path))[0].workers is None
    assert Manifest.read(tmp_path, sid).workers == 1  # the manifest on disk keeps what the sweep started with


# ---------------------------------------------------------------- a damaged sweep.csv
def write_sweep(results_dir: Path, grid: str = "hidden=8,16;seed=0-1") -> str:
    """A sweep.csv of a finished sweep, as run_point's rows would be, without training anything."""
    points = expand(parse_grid(grid), {"numpy-tuned": ("float32",)}, 2)
    sid = "sw-0123456789"
    written = []
    for i, p in enumerate(points):
        row = {**Job(sid, p).base_row(), "status": "ok", "epochs_run": 2, "final_accuracy": 0.5 + i / 100}
        row.update(median_train_s=0.1 + i / 10, min_train_s=0.1, max_train_s=0.2 + i / 10, s_per_sample=1e-6)
        row.update(extrapolated=False, samples_timed=300, host="h", cpu="c", worker="w", blas_threads=1, job_s=1.0)
        row.update(epoch_accuracy="0.4;0.5", epoch_train_s="0.1;0.1")
        written.append(row)
    results.append_rows(results_dir / "sweep.csv", SWEEP_COLUMNS, written)
    return sid


def test_a_damaged_sweep_csv_is_reported_around_the_damage(tmp_path, capsys):
    sid = write_sweep(tmp_path)
    path = tmp_path / "sweep.csv"
    good = path.read_text().splitlines()
    fields = next(csv.reader([good[1]]))
    text_in_a_number = list(fields)
    text_in_a_number[SWEEP_COLUMNS.index("median_train_s")] = "fast"
    bad_layers = list(fields)
    bad_layers[SWEEP_COLUMNS.index("layers")] = "784,x,10"
    nan_accuracy = list(fields)
    nan_accuracy[SWEEP_COLUMNS.index("final_accuracy")] = "nan"  # a number: read, shown as no accuracy
    with open(path, "a", newline="") as f:
        f.write(good[2][: len(good[2]) // 2] + "\n")  # a line cut in half (line 6)
        csv.writer(f, lineterminator="\n").writerows([text_in_a_number, bad_layers, nan_accuracy])
    with pytest.warns(UserWarning) as caught:
        assert print_report(tmp_path) == 0
    said = [str(w.message) for w in caught]
    assert any("skipped 2 malformed line(s): line 6, 7" in s and str(path) in s for s in said), said
    assert any("skipped 1 row(s) whose grid values are damaged" in s for s in said), said
    out = capsys.readouterr().out
    assert f"sweep {sid}: 4 of 4 points have results, 0 failed" in out
    assert "numpy-tuned float32: most accurate 784-16-10" in out
    assert (tmp_path / f"sweep-{sid}.png").exists()


@pytest.mark.parametrize("column", ["seed", "status", "median_train_s", "layers"])
def test_a_sweep_csv_without_a_column_the_report_reads_is_one_line(tmp_path, column):
    write_sweep(tmp_path)
    path = tmp_path / "sweep.csv"
    table = list(csv.reader(path.read_text().splitlines()))
    at = table[0].index(column)
    path.write_text("\n".join(",".join(r[:at] + r[at + 1 :]) for r in table) + "\n")
    with pytest.raises(UserError, match=f"has no column '{column}'") as caught:
        read_sweep(tmp_path)
    assert "\n" not in str(caught.value)


def test_report_of_a_sweep_csv_without_a_column_is_exit_2_in_one_line(tmp_path):
    write_sweep(tmp_path)
    path = tmp_path / "sweep.csv"
    path.write_text(path.read_text().replace("sweep_id,point,", "point,", 1))
    done = run_cli("sweep", "--report", "--results", str(tmp_path), timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: ") and "has no column 'sweep_id'" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_sweep_row_with_no_accuracy_or_seconds_is_reported_without_them(tmp_path, capsys):
    write_sweep(tmp_path, "hidden=8")
    path = tmp_path / "sweep.csv"
    table = list(csv.reader(path.read_text().splitlines()))
    for column in ("final_accuracy", "median_train_s"):
        table[1][SWEEP_COLUMNS.index(column)] = ""
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    points, _ = read_sweep(tmp_path)
    assert math.isnan(points["final_accuracy"].iloc[0])
    assert print_report(tmp_path) == 0
    assert "1 of 1 points have results" in capsys.readouterr().out


# ---------------------------------------------------------------- Ctrl-C at the terminal
@pytest.mark.slow  # end to end in processes
def test_ctrl_c_of_a_local_cluster_sweep_is_one_line_and_loses_nothing(idx_dir, tmp_path):
    """Ctrl-C at a terminal signals the whole process group: the sweep and its worker processes."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "sweep", "--grid", "hidden=32;seed=0-3", *SLOW_JOB, "--workers", "2"]
    with at_a_terminal([*cmd, "--quiet", *data_args(idx_dir, out)], child_env()) as proc:
        stderr = ctrl_c(proc, lambda: len(rows(out / "sweep.csv")) >= 1, 90, "the first row")
        wait_for(lambda: group_gone(proc.pid), 20, "the worker processes to end")
    assert proc.returncode == 130
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    recorded = rows(out / "sweep.csv")
    sid = recorded[0]["sweep_id"]
    assert stderr.startswith(f"interrupted: {len(recorded)} of 4 points of sweep {sid} have results")
    assert f"--resume {sid}" in stderr
    with open(out / "sweep.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == SWEEP_COLUMNS and all(len(r) == len(SWEEP_COLUMNS) for r in table)  # whole lines only
    assert 1 <= len(recorded) < 4 and len({r["point"] for r in recorded}) == len(recorded)
    assert {r["status"] for r in recorded} == {"ok"}
