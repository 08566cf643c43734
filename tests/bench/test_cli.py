"""The command line end to end, in fresh processes, on a small synthetic IDX set."""

import re

import pytest

from bench.options import default_thread_counts
from core.results import EPOCH_COLUMNS, SUMMARY_COLUMNS
from tests.bench.helpers import data_args, main_here, rows
from tests.conftest import ROOT, run_cli


def documented_epoch_columns() -> list[str]:
    """The columns of results/epochs.csv as docs/design.md lists them."""
    design = (ROOT / "docs" / "design.md").read_text()
    listed = re.search(r"`results/epochs\.csv`, one row per backend and epoch: `([^`]*)`", design).group(1)
    return [c.strip() for c in listed.split(",")]


def test_run_appends_epochs_and_summary_and_keeps_earlier_runs(idx_dir, tmp_path):
    results = tmp_path / "results"
    args = ["run", "--backend", "numpy-tuned", "--epochs", "2", *data_args(idx_dir, results), "--quiet"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "epoch  1/2" in first.stdout and "/ 100" in first.stdout
    with open(results / "epochs.csv") as f:
        header = f.readline().strip().split(",")
    assert header == EPOCH_COLUMNS == documented_epoch_columns()
    before = {name: (results / name).read_bytes() for name in ("epochs.csv", "summary.csv")}

    second = run_cli(*args, "--dtype", "float64", "--seed", "3")
    assert second.returncode == 0, second.stderr
    for name, old in before.items():
        assert (results / name).read_bytes().startswith(old)  # earlier rows intact, byte for byte
    epochs, summary = rows(results / "epochs.csv"), rows(results / "summary.csv")
    assert [r["epoch"] for r in epochs] == ["1", "2", "1", "2"]
    assert [r["dtype"] for r in summary] == ["float32", "float64"] and len({r["run_id"] for r in summary}) == 2
    assert list(summary[0]) == SUMMARY_COLUMNS
    row = epochs[-1]
    assert int(row["test_total"]) == 100 and 0 <= float(row["test_accuracy"]) <= 1 and float(row["train_s"]) > 0
    assert summary[-1]["numpy"] and summary[-1]["blas"] and summary[-1]["cpu"]


@pytest.mark.slow
def test_all_compares_backends_with_the_quoted_rust_rows(idx_dir, tmp_path):
    results = tmp_path / "results"
    done = run_cli("all", "--quick", "--backends", "numpy-tuned,python-plain", *data_args(idx_dir, results))
    assert done.returncode == 0, done.stderr
    for text in ("rust Vec<f32>", "rust ndarray", "not measured here", "6.2x", "numpy-tuned", "python-plain"):
        assert text in done.stdout
    assert "not measured here" in (results / "comparison.md").read_text()
    summary = rows(results / "summary.csv")
    assert {r["backend"] for r in summary} == {"numpy-tuned", "python-plain"}
    assert max(float(r["speedup"]) for r in summary) >= 1 and min(float(r["speedup"]) for r in summary) == 1
    # every thread count for numpy; python, which cannot use threads, at the first only
    counts = [str(t) for t in default_thread_counts()]
    assert sorted((r["backend"], r["threads"]) for r in summary) == sorted(
        [("numpy-tuned", t) for t in counts] + [("python-plain", counts[0])]
    )
    if len(counts) > 1:
        assert "At one thread only: python-plain" in done.stdout


def test_list_shows_backends_and_check_passes():
    listed = main_here("list")
    assert listed.returncode == 0 and "numpy-plain" in listed.stdout and "float32, float64" in listed.stdout
    checked = main_here("check", "numpy-tuned", "--dtype", "float64")
    assert checked.returncode == 0 and "matches the reference" in checked.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--backend", "nosuch"], "unknown backend 'nosuch'; known: "),
        (["run", "--batch-size", "0"], "argument --batch-size: must be at least 1"),
        (["run", "--lr", "nan"], "argument --lr: must be finite"),
        (["run", "--lr", "-2"], "--lr must be a positive"),
        (["run", "--epochs", "many"], "argument --epochs: expected an integer"),
        (["run", "--layers", "784,36,9"], "must start with 784"),
        (["run", "--activation", "swish"], "invalid choice"),
        (["run", "--backend", "python-plain", "--dtype", "float32"], "does not support --dtype float32"),
        (["run", "--data-dir", "/nonexistent/mnist"], "does not exist"),
        (["frobnicate"], "invalid choice"),
        (["run", "--frob"], "unrecognized arguments"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message):
    done = main_here(*args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


def test_every_command_is_listed_described_and_says_its_defaults():
    import argparse

    from bench.cli import COMMANDS, build_parser

    def commands(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    full, listed_only = commands(build_parser()), commands(build_parser(""))
    assert list(full) == list(listed_only) == list(COMMANDS)
    for name, parser in full.items():
        assert parser.description, f"{name} --help has no description"
        for action in parser._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                formatter = parser._get_formatter()
                formatter.add_argument(action)
                assert "default" in formatter.format_help(), f"{name} {action.option_strings[0]} hides its default"


def test_help_names_the_program_as_typed_and_imports_no_command(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys\nfrom bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pandas') or "
        "m.startswith('bench.') and m not in ('bench.cli', 'bench.options')), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.startswith("usage: python -m bench "), done.stdout
    assert done.stderr.strip() == "[]", done.stderr  # no library and no command's module
    script = shutil.which("mnist-bench", path=str(Path(sys.executable).parent))
    if script:  # installed with pip
        done = subprocess.run([script, "run", "--help"], capture_output=True, text=True)
        assert done.stdout.startswith("usage: mnist-bench run "), done.stdout
        done = subprocess.run([script, "report", "--results", str(tmp_path)], capture_output=True, text=True)
        assert done.returncode == 2 and "run `mnist-bench all` first" in done.stderr, done.stderr  # hints too
