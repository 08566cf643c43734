"""The comparison table: substrates grouped, plain beside tuned, and the seed's finding said per substrate."""

from bench import report, report_notes, report_table
from bench.report_rows import read_summary
from core import results

ROWS = [  # backend, tier, dtype, threads, median s/epoch, lines of code
    ("numba-tuned", "tuned", "float32", 2, 0.05, 600),
    ("jax-tuned", "tuned", "float32", 1, 0.30, 80),
    ("numpy-tuned", "tuned", "float32", 1, 0.40, 180),
    ("python-plain", "plain", "float64", 1, 60.0, 98),
    ("numpy-per-sample", "plain", "float32", 1, 2.0, 90),
    ("numba-tuned", "tuned", "float32", 1, 0.10, 600),
    ("numpy-plain", "plain", "float32", 1, 0.60, 60),
    ("numba-plain", "plain", "float32", 1, 1.20, 70),
    ("python-tuned", "tuned", "float64", 1, 40.0, 150),
]


def write_run(folder, extra=()):
    rows = []
    for backend, tier, dtype, threads, seconds, loc in [*ROWS, *extra]:
        rows.append(
            {
                "run_id": "r1",
                "backend": backend,
                "tier": tier,
                "substrate": backend.split("-")[0],
                "dtype": dtype,
                "threads": threads,
                "median_train_s": seconds,
                "min_train_s": seconds,
                "max_train_s": seconds,
                "epochs_run": 3,
                "final_accuracy": 0.95,
                "status": "ok",
                "loc": loc,
                "layers": "784,36,10",
                "activation": "sigmoid",
                "loss": "quadratic",
                "batch_size": 10,
                "lr": 3.0,
                "seed": 0,
                "cpu": "a CPU",
                "cores": 2,
            }
        )
    results.fill_speedups(rows)
    results.append_rows(folder / "summary.csv", results.SUMMARY_COLUMNS, rows)
    return read_summary(folder)


def test_rows_are_grouped_by_substrate_plain_before_tuned(tmp_path):
    names = [row[0] for row in report_table.table_rows(write_run(tmp_path))][: len(ROWS)]
    assert names == [
        "python-plain",
        "python-tuned",
        "numpy-plain",
        "numpy-per-sample",
        "numpy-tuned",
        "numba-plain",
        "numba-tuned",
        "numba-tuned",
        "jax-tuned",
    ]


def test_vs_plain_compares_a_row_with_its_substrates_plain_row(tmp_path):
    rows = {(r[0], r[3]): r for r in report_table.table_rows(write_run(tmp_path))}
    column = report_table.HEADERS.index("vs plain")
    assert rows[("numpy-tuned", 1)][column] == "1.50x"  # 0.60 / 0.40
    assert rows[("numpy-per-sample", 1)][column] == "0.30x"
    assert rows[("numba-tuned", 2)][column] == "24x"
    assert rows[("jax-tuned", 1)][column] == ""  # no jax-plain row in this run
    assert rows[("numba-tuned", 1)][report_table.HEADERS.index("lines")] == "600"


def test_the_headline_says_what_the_library_and_tuning_bought(tmp_path):
    text = " ".join(report_notes.ratios(write_run(tmp_path)))
    assert "numpy-plain (float32, 1t) 100.0x faster than python-plain (float64, 1t)" in text
    assert "numpy-plain (float32, 1t) 2.0x faster than numba-plain (float32, 1t)" in text
    assert "numba 12.00x (numba-plain -> numba-tuned, float32, 70 -> 600 lines)" in text
    assert "python 1.50x" in text and "numpy 1.50x" in text
    assert "Fastest row: numba-tuned (float32, 2t)" in text and "6.0x faster than jax-tuned" in text
    assert "3.0x at one thread each" in text
    assert "quoted" in text


def test_the_fastest_row_meets_the_peers_row_at_as_many_threads_where_there_is_one(tmp_path):
    text = " ".join(report_notes.ratios(write_run(tmp_path, [("jax-tuned", "tuned", "float32", 2, 0.25, 80)])))
    assert "5.0x faster than jax-tuned (float32, 2t), the strongest peer (3.0x at one thread each)" in text


def test_more_threads_says_what_each_row_gained_and_how_to_time_it_side_by_side(tmp_path):
    (line,) = [line for line in report_notes.thread_lines(write_run(tmp_path)) if line.startswith("More threads")]
    assert "against 1: numba-tuned 2.00x with 2" in line
    assert "python -m bench ab NAME NAME --threads-b 2" in line


def test_the_terminal_table_fits_80_columns(tmp_path):
    summary = write_run(tmp_path)
    widest = ["numpy-per-sample", "budget", 41 * summary.loc[0, "median_train_s"]]  # spread 4000%
    summary.loc[0, ["backend", "status", "max_train_s"]] = widest
    text = report.render(summary, wide=False)
    assert max(len(line) for line in text.splitlines()) <= 80
