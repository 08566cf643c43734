"""The rows of a run's comparison table: results/summary.csv read back, with each row's epoch statistics
(results/epochs.csv) and machine ceiling (results/ceiling.csv), put in the table's order, and the plain
row each is compared with. bench/report_table.py and bench/report_notes.py turn them into text.

Measured rows come from the CSV; the Rust experiment's two rows are quoted, marked as such, and
never mixed into the measured ratios.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import program_name
from core.results import SUMMARY_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

# Quoted from the published Rust experiment (Mac M2 Pro), not measured here.
QUOTED = [
    {"backend": "rust Vec<f32>", "dtype": "float32", "threads": 1, "median_train_s": 4.0, "final_accuracy": 0.9556},
    {"backend": "rust ndarray", "dtype": "float32", "threads": 1, "median_train_s": 0.65, "final_accuracy": 0.9556},
]
QUOTED_NOTE = "quoted from the Rust experiment (Mac M2 Pro), not measured here"

# The columns of summary.csv that the report requires; it does without the others (which older versions
# did not write) where a file lacks them.
OPTIONAL = set(
    "init initial_loss final_loss substrate tier loc data blas_threads numba_threads llvmlite torch jax commit".split()
)
SUMMARY_READ = tuple(c for c in SUMMARY_COLUMNS if c not in OPTIONAL)
SUMMARY_NUMBERS = tuple(  # a line with anything but a number or nothing in one of these is skipped
    "threads batch_size lr seed epochs_run median_train_s min_train_s max_train_s setup_s compile_s "
    "final_accuracy initial_loss final_loss time_to_95_s samples_timed speedup gflops cores".split()
)
DRIFT_EPOCHS = 5  # the first and the last this many epochs are compared
SUBSTRATE_ORDER = ("python", "numpy", "numba", "torch", "jax")  # the seed's story: no library, then libraries


def read_summary(results: Path, run_id: str | None = None) -> pd.DataFrame:
    """The summary rows of `run_id` (default: the latest run) from results/summary.csv."""
    from core.errors import UserError
    from core.results import read_csv

    path = Path(results) / "summary.csv"
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run `{program_name()} all` first")
    df = read_csv(path, SUMMARY_READ, SUMMARY_NUMBERS, dtype={"run_id": str, "layers": str, "note": str})
    counted = (df["threads"] >= 1) & (df["threads"] < math.inf)
    if not counted.all():
        warnings.warn(f"{path}: skipped {(~counted).sum()} row(s) without a thread count", stacklevel=2)
        df = df[counted].copy()
    if df.empty:
        raise UserError(f"{path} holds no runs yet; run `{program_name()} all` first")
    seconds = ["median_train_s", "min_train_s", "max_train_s"]
    df[seconds] = df[seconds].where((df[seconds] > 0) & (df[seconds] < math.inf))  # else not a time: damage
    run_id = run_id or df["run_id"].iloc[-1]
    rows = df[df["run_id"] == run_id]
    if rows.empty:
        raise UserError(f"no run {run_id!r} in {path}; runs there: {', '.join(df['run_id'].unique()[-5:])}")
    return with_epoch_stats(with_ceiling(rows.reset_index(drop=True), results), results)


def with_epoch_stats(summary: pd.DataFrame, results: Path) -> pd.DataFrame:
    """Add each row's median epoch seconds over its first and its last 5 epochs (`first_s`, `last_s`)
    from results/epochs.csv; NaN where the file or the epochs (10 at least) are missing. Also epoch 1's
    seconds and the slowest later epoch's (`epoch1_s`, `later_max_s`), where there are 2 epochs or more."""
    summary = summary.copy()
    summary["first_s"] = summary["last_s"] = summary["epoch1_s"] = summary["later_max_s"] = math.nan
    path = Path(results) / "epochs.csv"
    if not path.exists():
        return summary
    from core.results import read_csv

    epochs = read_csv(
        path,
        ("run_id", "backend", "dtype", "threads", "epoch", "train_s", "status"),
        ("threads", "epoch", "train_s"),
        dtype={"run_id": str},
    )
    epochs = epochs[(epochs["run_id"] == summary["run_id"].iloc[0]) & (epochs["status"] == "ok")]
    for i, r in summary.iterrows():
        seconds = epochs[
            (epochs["backend"] == r["backend"]) & (epochs["dtype"] == r["dtype"]) & (epochs["threads"] == r["threads"])
        ].sort_values("epoch")["train_s"]
        if len(seconds) >= 2 * DRIFT_EPOCHS:
            summary.loc[i, "first_s"] = seconds.iloc[:DRIFT_EPOCHS].median()
            summary.loc[i, "last_s"] = seconds.iloc[-DRIFT_EPOCHS:].median()
        if len(seconds) >= 2:
            summary.loc[i, "epoch1_s"], summary.loc[i, "later_max_s"] = seconds.iloc[0], seconds.iloc[1:].max()
    return summary


def with_ceiling(summary: pd.DataFrame, results: Path) -> pd.DataFrame:
    """Add each row's machine ceiling (GFLOP/s for its dtype and threads, and the matrix size) from
    results/ceiling.csv, measured under the same run_id; NaN where it was not measured."""
    from bench.ceiling import read_ceiling

    ceiling = read_ceiling(results, summary["run_id"].iloc[0])
    keys = [(r.dtype, int(r.threads)) if isinstance(r.dtype, str) else None for r in summary.itertuples()]
    summary = summary.copy()
    summary["ceiling_gflops"] = [ceiling.get(k, (math.nan, 0))[0] for k in keys]
    summary["ceiling_n"] = [ceiling.get(k, (math.nan, 0))[1] for k in keys]
    return summary


def ordered(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows by substrate (the known ones first, in SUBSTRATE_ORDER), plain before tuned, then dtype and threads."""
    df = summary.copy()
    substrate = (
        df["substrate"].fillna(df["backend"].str.split("-").str[0])
        if "substrate" in df
        else df["backend"].str.split("-").str[0]
    )
    df["substrate"] = substrate
    if "tier" not in df:
        df["tier"] = ""
    df["tier"] = df["tier"].fillna("")
    rank = {s: i for i, s in enumerate(SUBSTRATE_ORDER)}
    df["_rank"] = [rank.get(s, len(rank)) for s in substrate]
    df["_plain_named"] = df["backend"] != df["substrate"] + "-plain"  # numpy-plain before numpy-per-sample
    df = df.sort_values(["_rank", "substrate", "tier", "_plain_named", "backend", "dtype", "threads"], kind="stable")
    return df.drop(columns=["_rank", "_plain_named"]).reset_index(drop=True)


def plain_baseline(summary: pd.DataFrame, row) -> pd.Series | None:
    """The plain row that `row` is compared with: its substrate's `<substrate>-plain` (else another plain
    row of it), at the same dtype and one thread; None where the run has none."""
    same = summary[
        (summary["substrate"] == row["substrate"])
        & (summary["tier"] == "plain")
        & (summary["dtype"] == row["dtype"])
        & (summary["threads"] == 1)
        & summary["median_train_s"].notna()
    ]
    if same.empty:
        return None
    named = same[same["backend"] == row["substrate"] + "-plain"]
    return (named if not named.empty else same).iloc[0]


def vs_plain(summary: pd.DataFrame, row) -> float:
    """How many times faster than its substrate's plain row `row` ran (NaN where there is none)."""
    base = plain_baseline(summary, row)
    if base is None or not row["median_train_s"] > 0:
        return math.nan
    return base["median_train_s"] / row["median_train_s"]


def lines_of_code(value) -> int | None:
    """A row's `loc`, or None where it was not recorded (blank, NaN, or a file from before the column)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value == "" else int(value)


def unverified(row) -> bool:
    """Whether the row trained on data other than MNIST's checked files (`--unverified`)."""
    return str(row.get("data", "")).startswith("UNVERIFIED")
