"""`bench report`: the comparison table of one run, read back from results/summary.csv, for the terminal
and markdown (results/comparison.md).

This module is the command and the page: the rows are bench/report_rows.py's (reading and ordering
them), their cells bench/report_table.py's and the sentences under the table bench/report_notes.py's.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from bench.options import DEFAULT_RESULTS, folder

if TYPE_CHECKING:
    import pandas as pd


def add_command(sub) -> None:
    p = sub.add_parser("report")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    p.add_argument(
        "--wide", action="store_true", help="every column (as in results/comparison.md), not the 80-column table"
    )
    p.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from bench.report_rows import read_summary

    print(render(read_summary(args.results, args.run_id), wide=args.wide))
    return 0


def render(summary: pd.DataFrame, fmt: str = "simple", wide: bool = True) -> str:
    """The table and its notes; `wide`: every column (markdown, `report --wide`), else one that fits 80
    columns of a terminal."""
    from bench.report_notes import notes
    from bench.report_rows import QUOTED_NOTE
    from bench.report_table import COMPACT_HEADERS, HEADERS, table_rows

    table = _tabulate(table_rows(summary, wide), HEADERS if wide else COMPACT_HEADERS, fmt, padding=2 if wide else 0)
    if not wide:
        table += (
            "\n"
            + textwrap.fill(
                "run: dtype and threads (f32 1t: float32, one thread); s/epoch: median; spread: (max - min) / "
                "median; vs plain: times faster than its substrate's plain row (same dtype, one thread); lines: "
                "its lines of code; ep*: epochs timed on part of each epoch and extrapolated (see --wide)",
                80,
            )
            + f"\nrust rows: {QUOTED_NOTE}"
        )
    lines = notes(summary)
    if not wide:  # a terminal: lines of at most 80 columns
        lines = [
            textwrap.fill(n, 80, subsequent_indent="  ", break_on_hyphens=False) for n in "\n".join(lines).splitlines()
        ]
    return table + "\n\n" + ("\n\n" if fmt == "github" else "\n").join(lines)  # markdown: one paragraph each


def _tabulate(rows, headers, fmt: str, padding: int) -> str:
    """tabulate with `padding` spaces beside each header (its default of 2 widens every narrow column)."""
    import tabulate

    saved, tabulate.MIN_PADDING = tabulate.MIN_PADDING, padding
    try:
        return tabulate.tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
    finally:
        tabulate.MIN_PADDING = saved


def write_markdown(summary: pd.DataFrame, path: Path, command: str) -> None:
    text = "\n".join(
        [
            "# Comparison",
            "",
            "Seconds per epoch are the median over the epochs run (60,000 training images each), min-max beside it; "
            "test accuracy is after the last epoch; s to 95% is training time until the test accuracy first reached "
            "95%. Rows marked extrapolated trained on the first samples of each epoch only.",
            "",
            render(summary, fmt="github"),
            "",
            f"Produced by `{command}`.",
            "",
            "![seconds per epoch by backend](epoch_seconds.png)",
            "",
            "![test accuracy by epoch](accuracy_by_epoch.png)",
            "",
            "![test accuracy against training seconds](time_to_accuracy.png)",
            "",
        ]
    )
    from core.files import write_atomic

    write_atomic(path, text)
