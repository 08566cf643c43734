"""Results files survive damage: whole records on write, readers that read around a bad line."""

import os
import warnings

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core import results
from core.errors import UserError
from tests.bench.test_report import write_run
from tests.conftest import run_cli

COLUMNS = ["a", "b", "c"]


def test_a_last_line_cut_short_is_set_aside_not_glued_to(tmp_path):
    path = tmp_path / "epochs.csv"
    path.write_text("a,b,c\n1,2,3\n4,5")
    with pytest.warns(UserWarning, match="cut short"):
        results.append_rows(path, COLUMNS, [{"a": 7, "b": 8, "c": 9}])
    assert path.read_text() == "a,b,c\n1,2,3\n7,8,9\n"
    (aside,) = tmp_path.glob("epochs.*.cut-line.txt")
    assert aside.read_text() == "4,5\n"


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(tmp_path):
    path = tmp_path / "summary.csv"
    stale = tmp_path / ".summary.csv.99999.tmp"
    stale.write_bytes(b"x" * 1000)
    results.append_rows(path, COLUMNS, [{"a": 1}])
    assert not stale.exists() and path.read_text() == "a,b,c\n1,,\n"


def test_a_symlinked_results_file_is_written_through(tmp_path):
    real = tmp_path / "elsewhere" / "epochs.csv"
    real.parent.mkdir()
    real.write_text("a,b,c\n1,2,3\n")
    link = tmp_path / "epochs.csv"
    link.symlink_to(real)
    results.append_rows(link, COLUMNS, [{"a": 4, "b": 5, "c": 6}])
    assert link.is_symlink() and real.read_text() == "a,b,c\n1,2,3\n4,5,6\n"


def read_around(tmp_path, text: str, warning: str) -> list:
    """Column a of a results file holding `text`, read with one UserWarning that matches `warning`."""
    path = tmp_path / "x.csv"
    path.write_text(text)
    with pytest.warns(UserWarning, match=warning):
        return results.read_csv(path, ("a",))["a"].tolist()


def test_a_reader_skips_malformed_lines_with_one_warning(tmp_path):
    text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n"
    assert read_around(tmp_path, text, r"skipped 2 malformed line\(s\): line 3, 4") == [1, 10]


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="no column 'c'"):
        results.read_csv(path, ("a", "c"))


@settings(
    max_examples=50,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_any_damage_to_a_summary_is_read_around_or_refused_in_one_line(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("damaged")
    write_run(folder)
    path = folder / "summary.csv"
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(content) - 1))
        action = data.draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        if action == "cut":
            content = content[:at]
        elif action == "flip":
            content[at] = data.draw(st.sampled_from(list(b',"\n\r\x00x9')))
        elif action == "insert":
            content[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del content[at : at + data.draw(st.integers(1, 40))]
        if not content:
            break
    path.write_bytes(bytes(content))
    from bench import report
    from bench.report_rows import read_summary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report.render(read_summary(folder))
        except UserError:
            pass


def test_report_over_a_damaged_line_prints_the_good_rows_and_a_warning(tmp_path):
    write_run(tmp_path)
    path = tmp_path / "summary.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "garbage,line\n"
    path.write_text("".join(lines))
    done = run_cli("report", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "numba-tuned" in done.stdout and "python-plain" in done.stdout
    assert "skipped 1 malformed line(s): line 4" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(UserError, match="cannot write results"):
        results.append_rows(folder / "x.csv", COLUMNS, [{"a": 1}])


def test_another_versions_file_is_set_aside_whole_with_a_warning_that_says_how_it_differs(tmp_path):
    path = tmp_path / "epochs.csv"
    old = "a,b,old\n1,2,3\n4,5,6\n"
    path.write_text(old)
    with pytest.warns(UserWarning, match=r"another version \(it lacks c; it has old besides\): moved it whole to"):
        results.set_aside_other_columns(path, COLUMNS)
    (aside,) = tmp_path.glob("epochs.*.other-columns.csv")
    assert aside.read_text() == old and not path.exists()
    results.set_aside_other_columns(path, COLUMNS)  # nothing there: nothing to do, no file made
    results.append_rows(path, COLUMNS, [{"a": 7}])
    results.set_aside_other_columns(path, COLUMNS)  # this version's file stays
    assert path.read_text() == "a,b,c\n7,,\n"


def test_a_run_into_a_folder_of_an_older_version_warns_before_epoch_1_and_loses_nothing(idx_dir, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    old_epochs = ",".join(c for c in results.EPOCH_COLUMNS if c != "test_loss") + "\nold,row\n"
    old_summary = ",".join(c for c in results.SUMMARY_COLUMNS if "loss" not in c or c == "loss") + "\nold,row\n"
    (out / "epochs.csv").write_text(old_epochs)
    (out / "summary.csv").write_text(old_summary)
    data = ["--data-dir", str(idx_dir), "--unverified", "--results", str(out)]
    done = run_cli("run", "--backend", "numpy-plain", "--quiet", "--epochs", "2", *data)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 2 and "it lacks test_loss" in warned[0] and "it lacks initial_loss, final_loss" in warned[1]
    assert [a.read_text() for a in sorted(out.glob("*.other-columns.csv"))] == [old_epochs, old_summary]
    epochs = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2 and all(" loss " in line for line in epochs)
    import csv

    with open(out / "epochs.csv", newline="") as f:
        assert [float(r["test_loss"]) > 0 for r in csv.DictReader(f)] == [True, True]
    with open(out / "summary.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert float(row["final_loss"]) < float(row["initial_loss"]) and row["epochs_run"] == "2"


def test_a_stray_quote_does_not_swallow_the_lines_after_it(tmp_path):
    assert read_around(tmp_path, 'a,b,c\n1,"2,3\n4,5,6\n7,8,9\n', r"skipped 1 malformed line\(s\): line 2$") == [4, 7]
    path = tmp_path / "x.csv"
    path.write_text('a,b,c\n7,8,"multi\nline"\n10,11,12\n')  # a quoted newline is a field, not damage
    assert results.read_csv(path, ("a",))["c"].tolist() == ["multi\nline", "12"]
