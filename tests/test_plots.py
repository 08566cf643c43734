"""Plots, the machine's ceiling and the scaling grid, on a small synthetic IDX set (no benchmark numbers asserted)."""

import csv
import math
import shutil

import pytest

from bench.scaling import SCALING_COLUMNS, crossovers
from core.ceiling import matmul_gflops
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
    done = run_cli("all", "--quick", "--backends", "numpy,python", "--data-dir", str(idx), "--unverified",
                   "--results", str(results))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return results, done.stdout


def test_all_writes_plots_and_measures_the_ceiling_under_its_run_id(quick_run):
    results, stdout = quick_run
    for name in PLOTS:
        assert_png(results / name)
    run_ids = {r["run_id"] for r in read_csv(results / "summary.csv")}
    ceiling = read_csv(results / "ceiling.csv")
    assert {r["run_id"] for r in ceiling} == run_ids
    assert {(r["dtype"], r["threads"]) for r in ceiling} == {("float32", "1"), ("float64", "1")}
    assert all(float(r["gflops"]) > 0 for r in ceiling)
    assert "% of ceiling" in stdout and "% of ceiling" in (results / "comparison.md").read_text()


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


def test_report_shows_percent_of_ceiling_and_blank_without_ceiling_csv(quick_run, tmp_path):
    from bench.report import read_summary, render

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


def test_plot_of_an_unknown_run_is_a_one_line_error(quick_run):
    results, _ = quick_run
    done = run_cli("plot", "nosuchrun", "--results", str(results))
    assert done.returncode == 2 and done.stderr.startswith("error: no run 'nosuchrun'"), done.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ceiling_of_a_small_matmul_is_positive(dtype):
    gflops, best_s = matmul_gflops(dtype, threads=1, n=64, repeats=2)
    assert gflops > 0 and math.isfinite(gflops) and best_s > 0


def test_ceiling_command_appends_rows(tmp_path):
    done = run_cli("ceiling", "--threads", "1", "--dtypes", "float64", "--n", "64", "--repeats", "1",
                   "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "ceiling.csv")
    assert len(rows) == 1 and rows[0]["dtype"] == "float64" and rows[0]["n"] == "64" and float(rows[0]["gflops"]) > 0


def test_scaling_on_a_tiny_grid_writes_one_row_per_cell_and_two_plots(idx_dir, tmp_path):
    done = run_cli("scaling", "--backends", "numpy", "--dtypes", "all", "--hidden", "8,16", "--batch", "1,10",
                   "--samples", "100", "--budget", "0.2", "--repeats", "2", "--data-dir", str(idx_dir), "--unverified",
                   "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "scaling.csv")
    assert list(rows[0]) == SCALING_COLUMNS
    cells = {(r["dtype"], r["hidden"], r["batch_size"]) for r in rows}
    assert cells == {(d, h, b) for d in ("float32", "float64") for h in ("8", "16") for b in ("1", "10")}
    assert len(rows) == 8 and len({r["run_id"] for r in rows}) == 1
    for r in rows:
        assert r["backend"] == "numpy" and r["threads"] == "1" and r["layers"] == f"784,{r['hidden']},10"
        assert float(r["s_per_sample"]) > 0 and float(r["gflops"]) > 0
        assert 0 < int(r["samples_timed"]) <= 2 * 100 and r["extrapolated"] in ("true", "false")
        assert 1 <= int(r["passes"]) <= 2
    for name in ("scaling_hidden.png", "scaling_batch.png"):
        assert_png(tmp_path / name)
    replot = run_cli("scaling", "--replot", "--results", str(tmp_path))
    assert replot.returncode == 0, replot.stderr


def test_scaling_refuses_a_batch_larger_than_its_samples(idx_dir, tmp_path):
    done = run_cli("scaling", "--batch", "64", "--samples", "10", "--data-dir", str(idx_dir), "--unverified",
                   "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "larger than --samples" in done.stderr


def test_crossovers_need_a_clear_lead_on_both_sides():
    xs = [1, 2, 4, 8]
    (c,) = crossovers(xs, {"a": [1.0, 1.0, 1.0, 1.0], "b": [0.5, 0.8, 1.05, 2.0]})
    assert (c.faster, c.slower, c.x_before, c.x_after) == ("a", "b", 2, 8)
    assert 2 < c.x < 4  # where b's line crosses 1.0, between the grid points 2 and 4
    assert crossovers(xs, {"a": [1.0] * 4, "b": [0.5, 1.02, 0.98, 0.95]}) == []  # b never clearly behind
    assert crossovers(xs, {"a": [1.0] * 4, "b": [0.5, 0.6, 0.7, 0.8]}) == []
