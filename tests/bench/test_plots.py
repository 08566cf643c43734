"""Plots, the machine's ceiling and the scaling sweep, on a small synthetic IDX set (no benchmark numbers asserted)."""

import csv
import json
import math
import shutil

import pytest

from bench.options import default_thread_counts
from bench.scaling_report import crossovers
from core.ceiling import matmul_gflops
from core.sweep import SWEEP_COLUMNS
from tests.bench.helpers import data_args
from tests.conftest import run_cli, write_idx_dir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ("epoch_seconds.png", "accuracy_by_epoch.png", "time_to_accuracy.png")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assert_png(path, min_width=600):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= min_width and height >= 300, (path, width, height)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick synthetic `bench all` (numpy and python), shared by the tests that read its CSV files."""
    root = tmp_path_factory.mktemp("quick")
    idx = write_idx_dir(root / "idx")
    results = root / "results"
    done = run_cli("all", "--quick", "--backends", "numpy-tuned,python-plain", *data_args(idx, results))
    assert done.returncode == 0, done.stderr
    return results, done.stdout


@pytest.mark.slow
def test_all_writes_plots_and_measures_the_ceiling_under_its_run_id(quick_run):
    results, stdout = quick_run
    for name in PLOTS:
        assert_png(results / name)
    run_ids = {r["run_id"] for r in read_csv(results / "summary.csv")}
    ceiling = read_csv(results / "ceiling.csv")
    assert {r["run_id"] for r in ceiling} == run_ids
    counts = {str(t) for t in default_thread_counts()}  # the run's thread counts, each dtype
    assert {(r["dtype"], r["threads"]) for r in ceiling} == {(d, t) for d in ("float32", "float64") for t in counts}
    assert all(float(r["gflops"]) > 0 for r in ceiling)
    assert "% of ceiling" in stdout and "% of ceiling" in (results / "comparison.md").read_text()


@pytest.mark.slow
def test_plot_redraws_three_pngs_from_the_csv_files_alone(quick_run, tmp_path):
    results, _ = quick_run
    copy = tmp_path / "results"
    copy.mkdir()
    for name in ("epochs.csv", "summary.csv"):  # no ceiling.csv: the plots must not need it
        shutil.copy(results / name, copy / name)
    done = run_cli("plot", "--results", str(copy))
    assert done.returncode == 0, done.stderr
    for name in PLOTS:
        assert_png(copy / name)
    run_id = read_csv(copy / "summary.csv")[0]["run_id"]
    out = tmp_path / "out"
    done = run_cli("plot", run_id, "--results", str(copy), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(PLOTS)


@pytest.mark.slow
def test_report_shows_percent_of_ceiling_and_blank_without_ceiling_csv(quick_run, tmp_path):
    from bench.report import render
    from bench.report_rows import read_summary

    results, _ = quick_run
    summary = read_summary(results)
    assert (summary["ceiling_gflops"] > 0).all()
    assert "% of ceiling" in render(summary) and "Ceiling (this machine's best numpy matmul" in render(summary)
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(results / "summary.csv", bare / "summary.csv")
    summary = read_summary(bare)
    assert summary["ceiling_gflops"].isna().all()
    assert "Ceiling: not measured for this run" in render(summary)


def test_percent_of_ceiling_keeps_a_near_miss_visible():
    from bench.report_table import percent_of_ceiling

    assert percent_of_ceiling(95.83, 160.2) == "59.8%"  # not "60%"
    assert percent_of_ceiling(2.92, 160.0) == "1.8%"
    assert percent_of_ceiling(0.05, 80.0) == "0.062%"
    assert percent_of_ceiling(1.0, math.nan) == "" and percent_of_ceiling(math.nan, 160.0) == ""


@pytest.mark.slow
def test_plot_of_an_unknown_run_is_a_one_line_error(quick_run):
    results, _ = quick_run
    done = run_cli("plot", "nosuchrun", "--results", str(results))
    assert done.returncode == 2 and done.stderr.startswith("error: no run 'nosuchrun'"), done.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ceiling_of_a_small_matmul_is_positive(dtype):
    gflops, best_s = matmul_gflops(dtype, threads=1, n=64, repeats=2)
    assert gflops > 0 and math.isfinite(gflops) and best_s > 0


def test_ceiling_command_appends_rows(tmp_path):
    done = run_cli(
        "ceiling", "--threads", "1", "--dtypes", "float64", "--n", "64", "--repeats", "1", "--results", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "ceiling.csv")
    assert len(rows) == 1 and rows[0]["dtype"] == "float64" and rows[0]["n"] == "64" and float(rows[0]["gflops"]) > 0


@pytest.mark.slow  # end to end in processes
def test_scaling_runs_its_grid_as_a_sweep_and_plots_from_sweep_csv(idx_dir, tmp_path):
    """`bench scaling` is a timing-only sweep: one sweep.csv row per cell under one sweep id, no scaling.csv,
    the two figures drawn from those rows; --replot redraws them, and asking again is the sweep's refusal."""
    args = [
        "--backends",
        "numpy-tuned",
        "--dtypes",
        "all",
        "--hidden",
        "8,16",
        "--batch",
        "1,10",
        "--samples",
        "100",
        "--budget",
        "0.2",
        "--repeats",
        "2",
        "--data-dir",
        str(idx_dir),
        "--unverified",
        "--results",
        str(tmp_path),
    ]
    done = run_cli("scaling", *args)
    assert done.returncode == 0, done.stderr
    assert "in this process, one job after another" in done.stdout  # one cell at a time by default
    rows = read_csv(tmp_path / "sweep.csv")
    assert list(rows[0]) == SWEEP_COLUMNS
    assert not (tmp_path / "scaling.csv").exists()  # sweep.csv is the one record
    cells = {(r["dtype"], r["hidden"], r["batch_size"]) for r in rows}
    assert cells == {(d, h, b) for d in ("float32", "float64") for h in ("8", "16") for b in ("1", "10")}
    assert len(rows) == 8 and len({r["sweep_id"] for r in rows}) == 1
    sid = rows[0]["sweep_id"]
    for r in rows:
        assert (
            r["backend"] == "numpy-tuned" and r["status"] in ("ok", "budget") and r["layers"] == f"784,{r['hidden']},10"
        )
        assert r["samples"] == "100" and r["blas_threads"] == "1" and r["worker"].startswith("in-process")
        assert r["final_accuracy"] == "" and r["epoch_accuracy"] == ""  # timing only: nothing evaluated
        assert float(r["s_per_sample"]) == pytest.approx(float(r["median_train_s"]) / 100, rel=1e-4)
        assert 1 <= int(r["epochs_run"]) <= 2 and r["extrapolated"] in ("true", "false")
        assert (int(r["samples_timed"]) < 100) == (r["extrapolated"] == "true")
    manifest = json.loads((tmp_path / "sweeps" / f"{sid}.json").read_text())
    assert manifest["preset"] == "scaling" and manifest["evaluate"] is False and manifest["budget_s"] == 0.2
    for name in ("scaling_hidden.png", "scaling_batch.png"):
        assert_png(tmp_path / name)
        (tmp_path / name).unlink()

    replot = run_cli("scaling", "--replot", "--results", str(tmp_path))
    assert replot.returncode == 0, replot.stderr
    assert f"sweep {sid}: seconds per training sample" in replot.stdout
    for name in ("scaling_hidden.png", "scaling_batch.png"):
        assert_png(tmp_path / name)

    again = run_cli("scaling", *args)
    assert again.returncode == 2 and f"bench scaling --replot {sid}" in again.stderr, again.stderr
    assert len(read_csv(tmp_path / "sweep.csv")) == 8


def test_scaling_refuses_a_batch_larger_than_its_samples(idx_dir, tmp_path):
    done = run_cli(
        "scaling",
        "--batch",
        "64",
        "--samples",
        "10",
        "--data-dir",
        str(idx_dir),
        "--unverified",
        "--results",
        str(tmp_path),
    )
    assert done.returncode == 2 and "larger than --samples" in done.stderr
    assert not (tmp_path / "sweep.csv").exists()


def test_scaling_frame_comes_from_sweep_rows_and_ignores_other_sweeps(idx_dir, tmp_path):
    """read_scaling picks the latest scaling sweep from sweep.csv (not a later ordinary sweep) and gives
    the rates, extrapolation flags and GFLOP/s the figures and crossovers are drawn from."""
    from bench.scaling_report import read_scaling
    from bench.sweep import SweepRequest, run_sweep

    common = dict(data_dir=str(idx_dir), unverified=True, results=tmp_path, workers=1, quiet=True)
    scaling = SweepRequest(
        grid="hidden=8,16;batch=1,10;samples=60",
        backends="numpy-tuned",
        epochs=2,
        budget_s=5.0,
        evaluate=False,
        preset="scaling",
        **common,
    )
    assert run_sweep(scaling) == 0
    assert run_sweep(SweepRequest(grid="hidden=8", backends="numpy-tuned", epochs=1, **common)) == 0
    frame = read_scaling(tmp_path)
    assert len(frame) == 4 and frame["sweep_id"].nunique() == 1
    assert set(zip(frame["hidden"], frame["batch_size"])) == {(8, 1), (8, 10), (16, 1), (16, 10)}
    assert (frame["s_per_sample"] > 0).all() and (frame["gflops"] > 0).all() and (frame["samples"] == 60).all()
    assert set(frame["series"]) == {"numpy-tuned float32"} and frame["extrapolated"].dtype == bool


def test_crossovers_need_a_clear_lead_on_both_sides():
    xs = [1, 2, 4, 8]
    (c,) = crossovers(xs, {"a": [1.0, 1.0, 1.0, 1.0], "b": [0.5, 0.8, 1.05, 2.0]})
    assert (c.faster, c.slower, c.x_before, c.x_after) == ("a", "b", 2, 8)
    assert 2 < c.x < 4  # where b's line crosses 1.0, between the grid points 2 and 4
    assert crossovers(xs, {"a": [1.0] * 4, "b": [0.5, 1.02, 0.98, 0.95]}) == []  # b never clearly behind
    assert crossovers(xs, {"a": [1.0] * 4, "b": [0.5, 0.6, 0.7, 0.8]}) == []


def test_a_spread_of_epoch_times_says_whether_the_epochs_drifted_or_the_machine_was_busy():
    import pandas as pd

    from bench.report_notes import noise_warnings

    def row(backend, times):
        s = pd.Series(times)
        return {
            "backend": backend,
            "dtype": "float32",
            "threads": 1,
            "median_train_s": s.median(),
            "min_train_s": s.min(),
            "max_train_s": s.max(),
            "first_s": s.iloc[:5].median(),
            "last_s": s.iloc[-5:].median(),
        }

    steady, busy = [1.0] * 30, [1.0] * 15 + [1.5] + [1.0] * 14
    drifting = [1.0 + 0.01 * i for i in range(30)]  # 1.0 -> 1.29: the last five 27% slower
    warnings = noise_warnings(pd.DataFrame([row("steady", steady), row("busy", busy), row("drift", drifting)]))
    assert len(warnings) == 2  # the steady run is not flagged
    assert "busy (float32, 1t)" in warnings[0] and "the machine was busy" in warnings[0]
    assert "drift (float32, 1t)" in warnings[1] and "took 25% longer" in warnings[1]
    assert "slowed as training went on" in warnings[1] and "busy" not in warnings[1]


def test_an_epoch_1_slower_than_every_later_epoch_is_reported_as_a_warm_up_miss():
    import pandas as pd

    from bench.report_notes import warmup_warnings

    def row(backend, epoch1, later):
        return {"backend": backend, "dtype": "float32", "threads": 1, "epoch1_s": epoch1, "later_max_s": later}

    rows = [
        row("cold", 1.5, 1.0),
        row("warm", 0.9, 1.0),
        row("within noise", 1.005, 1.0),
        row("one epoch", 1.5, float("nan")),
    ]
    (warning,) = warmup_warnings(pd.DataFrame(rows))
    assert warning.startswith("warning: cold (float32, 1t) epoch 1 took 1.500 s")
    assert "at most 1.000 s" in warning and "warm-up" in warning
