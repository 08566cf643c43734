"""The comparison table of one run, read back from results/summary.csv, for the terminal and markdown.

Measured rows come from the CSV; the Rust experiment's two rows are quoted, marked as such, and
never mixed into the measured ratios.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

# Quoted from the published Rust experiment (Mac M2 Pro), not measured here.
QUOTED = [
    {"backend": "rust Vec<f32>", "dtype": "float32", "threads": 1, "median_train_s": 4.0, "final_accuracy": 0.9556},
    {"backend": "rust ndarray", "dtype": "float32", "threads": 1, "median_train_s": 0.65, "final_accuracy": 0.9556},
]
QUOTED_NOTE = "quoted from the Rust experiment (Mac M2 Pro), not measured here"
NOISE = 0.10  # warn when (max - min) / median of epoch times exceeds this, as pyperf does


def read_summary(results: Path, run_id: str | None = None) -> pd.DataFrame:
    """The summary rows of `run_id` (default: the latest run) from results/summary.csv."""
    from core.errors import UserError

    path = Path(results) / "summary.csv"
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run `python -m bench all` first")
    df = pd.read_csv(path, dtype={"run_id": str, "layers": str, "note": str})
    if df.empty:
        raise UserError(f"{path} holds no runs yet; run `python -m bench all` first")
    run_id = run_id or df["run_id"].iloc[-1]
    rows = df[df["run_id"] == run_id]
    if rows.empty:
        raise UserError(f"no run {run_id!r} in {path}; runs there: {', '.join(df['run_id'].unique()[-5:])}")
    return rows.reset_index(drop=True)


def _s(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _timing(row) -> str:
    status, note = row.get("status", "ok"), row.get("note")
    note = "" if not isinstance(note, str) else note
    if status == "failed":
        return f"FAILED: {note}"
    if status == "diverged":
        return f"DIVERGED: {note}"
    if row.get("extrapolated") in (True, "true", "True"):
        return f"extrapolated from {int(row['samples_timed']):,} samples/epoch, {int(row['epochs_run'])} epochs"
    text = f"measured, {int(row['epochs_run'])} epochs"
    return text + (f" ({status})" if status not in ("ok", None) else "")


def table_rows(summary: pd.DataFrame) -> list[list[str]]:
    rows = []
    for _, r in summary.iterrows():
        r = r.to_dict()
        spread = f"{_s(r['min_train_s'])}-{_s(r['max_train_s'])}" if not math.isnan(r["min_train_s"]) else ""
        accuracy = "" if math.isnan(r["final_accuracy"]) else f"{100 * r['final_accuracy']:.2f}%"
        rows.append([
            r["backend"], r["dtype"], r["threads"], _s(r["median_train_s"]), spread,
            "" if math.isnan(r["speedup"]) else f"{r['speedup']:.1f}x", accuracy, _s(r["time_to_95_s"], 1),
            _s(r["compile_s"], 2), _s(r["setup_s"], 2), _s(r["gflops"], 2), _timing(r),
        ])  # fmt: skip
    for q in QUOTED:
        rows.append([q["backend"], q["dtype"], q["threads"], f"{q['median_train_s']:.2f}", "", "",
                     f"{100 * q['final_accuracy']:.2f}%", "", "", "", "", QUOTED_NOTE])  # fmt: skip
    return rows


HEADERS = ["backend", "dtype", "threads", "s/epoch (median)", "min-max", "speedup", "test acc",
           "s to 95%", "compile s", "setup s", "GFLOP/s", "timing"]  # fmt: skip


def ratios(summary: pd.DataFrame) -> list[str]:
    """The finding in words: the quoted Rust ratio beside the ratios measured in this run."""
    quoted = QUOTED[0]["median_train_s"] / QUOTED[1]["median_train_s"]
    lines = [f"Rust, quoted: ndarray {quoted:.1f}x faster than Vec<f32> (4.0 s vs 0.65 s per epoch, Mac M2 Pro)."]
    ok = summary[~summary["median_train_s"].isna()].sort_values("median_train_s", ascending=False)
    if len(ok) >= 2:
        slowest = ok.iloc[0]
        parts = [f"{r.backend} ({r.dtype}, {r.threads}t) {slowest.median_train_s / r.median_train_s:.1f}x"
                 for r in ok.iloc[1:].itertuples()]  # fmt: skip
        lines.append(
            f"Measured here, against {slowest.backend} ({slowest.median_train_s:.3f} s/epoch): "
            + ", ".join(parts)
            + "."
        )
    return lines


def noise_warnings(summary: pd.DataFrame) -> list[str]:
    out = []
    for r in summary.itertuples():
        if r.median_train_s > 0 and (r.max_train_s - r.min_train_s) / r.median_train_s > NOISE:
            out.append(f"warning: {r.backend} ({r.dtype}, {r.threads}t) epoch times spread "
                       f"{100 * (r.max_train_s - r.min_train_s) / r.median_train_s:.0f}% of the median "
                       f"({r.min_train_s:.3f}-{r.max_train_s:.3f} s); the machine was busy, rerun to confirm")  # fmt: skip
    return out


def environment_line(summary: pd.DataFrame) -> str:
    r = summary.iloc[0]
    return (f"{r['cpu']} ({r['cores']} cores), {r['os']}, Python {r['python']}, numpy {r['numpy']}, "
            f"numba {r['numba']}, BLAS {r['blas']}; host {r['host']}, run {r['run_id']} at {r['started_utc']}")  # fmt: skip


def render(summary: pd.DataFrame, fmt: str = "simple") -> str:
    r = summary.iloc[0]
    config = (f"layers {r['layers']}, {r['activation']}, {r['loss']} cost, batch {r['batch_size']}, "
              f"lr {r['lr']}, seed {r['seed']}")  # fmt: skip
    table = tabulate(table_rows(summary), headers=HEADERS, tablefmt=fmt, disable_numparse=True)
    return "\n".join([table, "", *ratios(summary), *noise_warnings(summary), "", f"Configuration: {config}.",
                      f"Machine: {environment_line(summary)}."])  # fmt: skip


def write_markdown(summary: pd.DataFrame, path: Path, command: str) -> None:
    text = "\n".join([
        "# Comparison", "",
        "Seconds per epoch are the median over the epochs run (60,000 training images each), min-max beside it; "
        "test accuracy is after the last epoch; s to 95% is training time until the test accuracy first reached "
        "95%. Rows marked extrapolated trained on the first samples of each epoch only.", "",
        render(summary, fmt="github"), "", f"Produced by `{command}`.", "",
    ])  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
