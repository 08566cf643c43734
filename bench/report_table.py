"""The comparison table's cells: every column for markdown and `report --wide`, or a compact table that
fits 80 columns of a terminal. The rows are bench/report_rows.py's."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.report_rows import QUOTED, QUOTED_NOTE, lines_of_code, ordered, unverified, vs_plain

if TYPE_CHECKING:
    import pandas as pd

HEADERS = [  # the wide table's columns: the row, its speed and effort; its accuracy, costs and how it was timed
    *("backend", "tier", "dtype", "threads", "s/epoch (median)", "min-max", "speedup", "vs plain", "lines"),
    *("test acc", "s to 95%", "compile s", "setup s", "GFLOP/s", "% of ceiling", "timing"),
]
# The compact table's columns: its header -> the cell it shows (a wide column, or `spread` and `short timing`).
COMPACT = {
    "backend": "backend",
    "run": "short run",
    "s/epoch": "s/epoch (median)",
    "spread": "spread",
    "vs plain": "vs plain",
    "lines": "lines",
    "acc": "test acc",
    "timing": "short timing",
}
COMPACT_HEADERS = list(COMPACT)


def count(value) -> str:
    """A whole number with thousands separators; "?" where the results file left it empty."""
    return f"{int(value):,}" if value == value else "?"


def percent_of_ceiling(gflops: float, ceiling: float) -> str:
    """The share of the ceiling as a percentage: one decimal from 10% up (so that a share just under a
    round target does not print as the target), two significant figures below; blank when either is unknown."""
    if gflops is None or ceiling is None or math.isnan(gflops) or math.isnan(ceiling) or ceiling <= 0:
        return ""
    pct = 100 * gflops / ceiling
    return f"{pct:.1f}%" if pct >= 10 else f"{pct:.2g}%"


def _s(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _x(ratio: float) -> str:
    return "" if math.isnan(ratio) else f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def _timing(row) -> str:
    return ("UNVERIFIED data: " if unverified(row) else "") + _timing_alone(row)


def _timing_alone(row) -> str:
    status, note = row.get("status", "ok"), row.get("note")
    note = "" if not isinstance(note, str) else note
    if status == "failed":
        return f"FAILED: {note}"
    if status in ("diverged", "stalled"):
        return f"{status.upper()}: {note}"
    if row.get("extrapolated") in (True, "true", "True"):
        return f"extrapolated from {count(row['samples_timed'])} samples/epoch, {count(row['epochs_run'])} epochs"
    text = f"measured, {count(row['epochs_run'])} epochs"
    return text + (f" ({status})" if status not in ("ok", None) else "")


def _short_timing(row) -> str:
    status = row.get("status", "ok")
    if status in ("failed", "diverged", "stalled"):
        return status.upper() + " (below)"
    if unverified(row):
        return "UNVERIFIED data"
    epochs = int(row["epochs_run"]) if not math.isnan(row.get("epochs_run", math.nan)) else 0
    if row.get("extrapolated") in (True, "true", "True"):
        return f"{epochs} ep*"
    return f"{epochs} ep" + (f" {status}" if status not in ("ok", None) else "")


def _cells(summary: pd.DataFrame, r: dict) -> dict:
    """A measured row's cells, by column; `summary` in the table's order."""
    loc = lines_of_code(r.get("loc"))
    median, low, high = r["median_train_s"], r["min_train_s"], r["max_train_s"]
    spread = (high - low) / median if median > 0 else math.nan
    return {
        "backend": r["backend"],
        "tier": r["tier"],
        "dtype": r["dtype"] if isinstance(r["dtype"], str) else "",
        "threads": r["threads"],
        "s/epoch (median)": _s(median),
        "min-max": f"{_s(low)}-{_s(high)}" if not math.isnan(low) else "",
        "spread": "" if math.isnan(spread) else f"{100 * spread:.0f}%",
        "speedup": "" if math.isnan(r["speedup"]) else f"{r['speedup']:.1f}x",
        "vs plain": _x(vs_plain(summary, r)),
        "lines": "" if loc is None else str(loc),
        "test acc": "" if math.isnan(r["final_accuracy"]) else f"{100 * r['final_accuracy']:.2f}%",
        "s to 95%": _s(r["time_to_95_s"], 1),
        "compile s": _s(r["compile_s"], 2),
        "setup s": _s(r["setup_s"], 2),
        "GFLOP/s": _s(r["gflops"], 2),
        "% of ceiling": percent_of_ceiling(r["gflops"], r.get("ceiling_gflops", math.nan)),
        "timing": _timing(r),
        "short timing": _short_timing(r),
        "short run": _short_run(r["dtype"], r["threads"]),
    }


def _short_run(dtype, threads) -> str:
    """'f32 1t': the dtype and the threads in six characters."""
    dtype = dtype.replace("float", "f") if isinstance(dtype, str) else "?"
    return f"{dtype} {int(threads)}t" if not math.isnan(threads) else dtype


def _quoted_cells(q: dict) -> dict:
    """A quoted Rust row's cells: what the experiment published, nothing measured."""
    return {
        "backend": q["backend"],
        "dtype": q["dtype"],
        "threads": q["threads"],
        "s/epoch (median)": f"{q['median_train_s']:.2f}",
        "test acc": f"{100 * q['final_accuracy']:.2f}%",
        "timing": QUOTED_NOTE,
        "short timing": "quoted",
        "short run": _short_run(q["dtype"], q["threads"]),
    }


def table_rows(summary: pd.DataFrame, wide: bool = True) -> list[list[str]]:
    """The table's rows in its order, then the quoted ones: the cells under HEADERS, or COMPACT_HEADERS."""
    summary = ordered(summary)
    cells = [_cells(summary, r.to_dict()) for _, r in summary.iterrows()] + [_quoted_cells(q) for q in QUOTED]
    columns = HEADERS if wide else list(COMPACT.values())
    return [[row.get(c, "") for c in columns] for row in cells]
