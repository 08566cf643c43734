"""Every reader of a run's results against random damage to each of its CSV files: `bench report` (summary,
epochs and ceiling), `bench plot` (summary and epochs) and the sweep report (tests/bench/test_sweep_damage.py).
Each gives its result, reading around a bad line, or a one-line UserError; nothing else escapes."""

import shutil
import warnings

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.errors import UserError
from tests.bench.helpers import data_args
from tests.bench.test_sweep_damage import damaged
from tests.conftest import run_cli, write_idx_dir

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all

FILES = ("summary.csv", "epochs.csv", "ceiling.csv")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A results folder of one `bench all --quick` run of two backends, ceiling included."""
    folder = tmp_path_factory.mktemp("finished")
    idx, out = write_idx_dir(folder / "idx"), folder / "results"
    done = run_cli("all", "--quick", "--backends", "numpy-plain,numpy-tuned", "--threads", "1", *data_args(idx, out))
    assert done.returncode == 0, done.stderr
    assert all((out / name).exists() for name in FILES)
    return out


def reads_or_refuses(read) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a warning about skipped lines is what reading around damage says
        try:
            read()
        except UserError as exc:
            assert "\n" not in str(exc), repr(str(exc))


def damaged_copy(finished, folder, name: str, content: bytes):
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(finished, folder)
    (folder / name).write_bytes(content)
    return folder


def with_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@with_settings(40)
@given(st.data())
def test_report_reads_around_damage_to_any_of_its_files(finished, tmp_path, data):
    from bench import report
    from bench.report_rows import read_summary

    name = data.draw(st.sampled_from(FILES))
    folder = damaged_copy(finished, tmp_path / "r", name, data.draw(damaged((finished / name).read_bytes())))
    reads_or_refuses(lambda: report.render(read_summary(folder), wide=data.draw(st.booleans())))


@with_settings(12)
@given(st.data())
def test_plot_reads_around_damage_to_any_of_its_files(finished, tmp_path, data):
    from bench import plots

    name = data.draw(st.sampled_from(FILES[:2]))
    folder = damaged_copy(finished, tmp_path / "p", name, data.draw(damaged((finished / name).read_bytes())))
    reads_or_refuses(lambda: plots.write_run_plots(folder, None, tmp_path / "png"))


def test_report_and_plot_over_a_damaged_epochs_line_print_and_warn(finished, tmp_path):
    folder = damaged_copy(finished, tmp_path / "r", "epochs.csv", b"")
    lines = (finished / "epochs.csv").read_bytes().splitlines(keepends=True)
    (folder / "epochs.csv").write_bytes(b"".join([*lines[:2], b"1,2,3\n", *lines[2:]]))
    for done in (run_cli("report", "--results", str(folder)), run_cli("plot", "--results", str(folder))):
        assert done.returncode == 0, done.stderr
        assert "skipped 1 malformed line(s): line 3" in done.stderr and "Traceback" not in done.stderr
