"""A real Ctrl-C (or SIGTERM) that arrives while rows are appended: no row is counted that is not in the
file, and no line is left half written. The files are made large, so that most of the time goes to
rewriting them and the signal lands mid-append."""

import csv
import signal
import subprocess
import sys
import time

import pytest

from core import results
from tests.bench.helpers import data_args, rows, wait_for
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # processes end to end: a minute or more in all

APPENDER = """
import sys
from core import results
path, n = sys.argv[1], 0
try:
    while True:
        results.append_rows(path, ["i", "text"], [{"i": n, "text": "x" * 50}])
        n += 1
        print(n, flush=True)  # reported as appended only once append_rows has returned
except KeyboardInterrupt:
    sys.exit(130)
"""


def whole_lines(path, fields: int) -> list[list[str]]:
    content = path.read_bytes()
    assert content.endswith(b"\n"), "the file ends in half a line"
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert all(len(line) == fields for line in lines), "a line with the wrong number of fields"
    return lines


@pytest.mark.parametrize("delay", [0.05, 0.29])
def test_an_interrupt_during_appends_leaves_every_reported_row_and_no_half_line(tmp_path, delay):
    path = tmp_path / "big.csv"
    path.write_text("i,text\n" + "-1,padding\n" * 800_000)  # some megabytes to rewrite per append
    proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "1"  # appending has begun
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    reported = [line.strip() for line in proc.stdout]
    assert proc.wait(timeout=60) == 130
    lines = whole_lines(path, 2)
    appended = [line[0] for line in lines[1:] if line[0] != "-1"]
    assert appended[: len(reported) + 1] == [str(i) for i in range(len(appended))][: len(reported) + 1]
    assert len(appended) >= 1 + len(reported)  # the first line was read before the others
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("signum, delay", [(signal.SIGINT, 0.3), (signal.SIGINT, 0.75), (signal.SIGTERM, 0.5)])
def test_a_run_interrupted_mid_append_counts_exactly_the_epochs_in_the_file(idx_dir, tmp_path, signum, delay):
    out = tmp_path / "results"
    out.mkdir()
    filler = {c: "" for c in results.EPOCH_COLUMNS} | {"run_id": "old", "backend": "padding", "epoch": 1}
    with open(out / "epochs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, results.EPOCH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows([filler] * 150_000)  # some megabytes: each epoch's append rewrites them
    cmd = [sys.executable, "-m", "bench", "run", "--backend", "numpy-plain", "--quiet", "--threads", "1"]
    proc = subprocess.Popen(
        [*cmd, *data_args(idx_dir, out), "--epochs", "400"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    wait_for(lambda: any(r["run_id"] != "old" for r in rows(out / "epochs.csv")), 60, "the first epoch", [proc])
    time.sleep(delay)
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 128 + signum
    whole_lines(out / "epochs.csv", len(results.EPOCH_COLUMNS))
    ours = [r for r in rows(out / "epochs.csv") if r["run_id"] != "old"]
    (summary,) = rows(out / "summary.csv")
    assert summary["status"] == "interrupted" and int(summary["epochs_run"]) == len(ours) >= 1
    assert [int(r["epoch"]) for r in ours] == list(range(1, len(ours) + 1))
    assert len(rows(out / "epochs.csv")) == 150_000 + len(ours)
