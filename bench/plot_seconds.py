"""epoch_seconds.png: seconds per epoch by backend (log scale), the median with min-max whiskers;
extrapolated rows drawn hollow and labelled so; the two Rust rows quoted from the experiment set apart
in grey and labelled as quoted, never as measured; and, where the run measured the machine's ceiling,
the epoch time a backend running at that ceiling would take. Style and saving: bench/plots.py."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.plots import (
    DPI,
    QUOTED_COLOR,
    is_true,
    layout,
    row_label,
    save_figure,
    seconds_axis,
    styles,
    threads_text,
    title,
)
from bench.report_rows import QUOTED, QUOTED_NOTE
from bench.report_table import count, percent_of_ceiling

if TYPE_CHECKING:
    import pandas as pd

EXTRAPOLATED = "extrapolated: timed on the first samples of each epoch"
CEILING_DASHES = [(0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (2, 3))]


def _value_label(ax, text: str, x: float, y: float, color, **style) -> None:
    """The seconds written just right of a row's marker or whisker."""
    ax.annotate(text, (x, y), xytext=(9, 0), textcoords="offset points", va="center", fontsize=9, color=color, **style)


def _measured(ax, measured: pd.DataFrame, row_styles: dict) -> list[str]:
    """A row per measured backend, slowest at the top: the median and its whiskers; their labels."""
    labels = []
    for y, r in enumerate(measured.itertuples()):
        color, marker = row_styles[(r.backend, r.dtype, int(r.threads))]
        extrapolated = is_true(r.extrapolated)
        ax.errorbar(
            r.median_train_s,
            y,
            xerr=[[r.median_train_s - r.min_train_s], [r.max_train_s - r.median_train_s]],
            fmt=marker,
            ms=9,
            color=color,
            mfc="white" if extrapolated else color,
            mew=2,
            capsize=5,
            lw=2,
        )
        how = (
            f"extrapolated from {count(r.samples_timed)} samples/epoch"
            if extrapolated
            else f"measured, {count(r.epochs_run)} epoch{'s' if r.epochs_run != 1 else ''}"
        )
        pct = percent_of_ceiling(r.gflops, getattr(r, "ceiling_gflops", math.nan))
        rate = f"{r.gflops:.3g} GFLOP/s" + (f" = {pct} of ceiling" if pct else "")
        labels.append(f"{row_label(r.backend, r.dtype, r.threads)}\n{how}\n{rate}")
        _value_label(ax, f"{r.median_train_s:.3g} s", r.max_train_s, y, color, fontweight="bold")
    return labels


def _quoted(ax, y: int) -> list[str]:
    """The quoted Rust rows from row `y` down, below a rule and in grey; their labels."""
    labels = []
    if QUOTED:
        ax.axhline(y - 0.5, color="0.6", lw=0.8)
        ax.text(
            0.995,
            y - 0.45,
            "quoted, not measured here",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="top",
            fontsize=8,
            color=QUOTED_COLOR,
            style="italic",
        )
    for q in QUOTED:
        ax.plot(q["median_train_s"], y, "D", ms=8, color=QUOTED_COLOR, mfc="white", mew=1.5)
        _value_label(ax, f"{q['median_train_s']:.3g} s (quoted)", q["median_train_s"], y, QUOTED_COLOR, style="italic")
        labels.append(f"{q['backend']} {q['dtype']}\nQUOTED, not measured here:\nMac M2 Pro, the Rust experiment")
        y += 1
    return labels


def _ceilings(ax, measured: pd.DataFrame) -> tuple[list[float], list]:
    """The epoch time of a backend that ran at the machine's matmul ceiling for its dtype and threads, a
    vertical line each: (their seconds, their legend entries)."""
    from matplotlib.lines import Line2D

    known = measured[measured["ceiling_gflops"].notna()] if "ceiling_gflops" in measured else measured.iloc[:0]
    if known.empty:
        return [], []
    flops_per_epoch = float((known["gflops"] * 1e9 * known["median_train_s"]).iloc[0])
    ceilings = known.drop_duplicates(["dtype", "threads"]).sort_values(["dtype", "threads"])
    xs, handles = [], []
    for i, r in enumerate(ceilings.itertuples()):
        x, dashes = flops_per_epoch / (r.ceiling_gflops * 1e9), CEILING_DASHES[i % len(CEILING_DASHES)]
        ax.axvline(x, color="0.35", lw=1.1, ls=dashes)
        xs.append(x)
        label = (
            f"at the machine's ceiling, {r.dtype} {threads_text(int(r.threads))} "
            f"({r.ceiling_gflops:.0f} GFLOP/s): {x:.3g} s"
        )
        handles.append(Line2D([], [], color="0.35", lw=1.1, ls=dashes, label=label))
    return xs, handles


def plot_epoch_seconds(summary: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    row_styles = styles(summary)
    measured = summary[summary["median_train_s"].notna()].sort_values("median_train_s", ascending=False)
    failed = summary[summary["median_train_s"].isna()]
    height = 3.0 + 0.72 * (len(measured) + len(QUOTED))
    fig, ax = plt.subplots(figsize=(11, height), dpi=DPI)
    layout(fig, height, top_in=1.15, bottom_in=1.85, left=0.3)
    labels = _measured(ax, measured, row_styles)
    labels += _quoted(ax, len(labels))
    ceiling_xs, ceiling_handles = _ceilings(ax, measured)

    ax.set_xscale("log")
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    for tick, text in zip(ax.get_yticklabels(), labels):
        if "QUOTED" in text:
            tick.set_color(QUOTED_COLOR)
            tick.set_style("italic")
    ax.set_ylim(len(labels) - 0.5, -0.6)
    lo = min([*measured["min_train_s"], *(q["median_train_s"] for q in QUOTED), *ceiling_xs]) / 2
    hi = max([*measured["max_train_s"], *(q["median_train_s"] for q in QUOTED)]) * 5
    ax.set_xlim(lo, hi)
    seconds_axis(ax.xaxis, lo, hi)
    ax.set_xlabel("seconds per epoch of 60,000 images (log scale): the median, whiskers from min to max over epochs")
    ax.grid(axis="x", which="major", alpha=0.35)
    ax.grid(axis="x", which="minor", alpha=0.12)
    thread_markers = {k[2]: marker for k, (_, marker) in row_styles.items()}
    legend = [
        Line2D([], [], marker=m, ls="", color="0.2", ms=8, label=f"{threads_text(t)}, measured on full epochs")
        for t, m in sorted(thread_markers.items())
    ]
    if measured["extrapolated"].map(is_true).any():
        legend.append(Line2D([], [], marker="o", ls="", color="0.2", mfc="white", mew=2, ms=8, label=EXTRAPOLATED))
    legend.append(Line2D([], [], marker="D", ls="", color=QUOTED_COLOR, mfc="white", ms=7, label=QUOTED_NOTE))
    legend += ceiling_handles
    fig.legend(
        handles=legend, loc="lower left", bbox_to_anchor=(0.01, 0.25 / height), fontsize=8.5, ncol=2, frameon=False
    )
    if not failed.empty:
        notes = "; ".join(
            f"{r.backend} ({threads_text(int(r.threads))}): {r.status} {r.note if isinstance(r.note, str) else ''}"
            for r in failed.itertuples()
        )
        fig.text(0.01, 0.01, f"not plotted: {notes}", fontsize=8, color="firebrick", ha="left", va="bottom")
    title(fig, "Seconds per training epoch, by backend", summary, height)
    return save_figure(fig, path)
