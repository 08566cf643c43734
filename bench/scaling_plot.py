"""The figures of a scaling sweep: results/scaling_hidden.png (seconds per training sample against the
hidden size, a panel per batch size) and scaling_batch.png (against the batch size, at H near the seed's
36 and the largest H), log-log, extrapolated cells hollow, crossovers numbered and listed under their
panel. The cells and crossovers are bench/scaling_report.py's; the style bench/plots.py's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.plots import DPI, palette, save_figure
from bench.scaling_report import comparable_in, crossovers, panel
from bench.sweep import human_seconds

if TYPE_CHECKING:
    import pandas as pd

SEED_HIDDEN = 36  # the seed's network, for the against-batch-size figure
FILES = ("scaling_hidden.png", "scaling_batch.png")
AXES = {  # a figure's x -> (its axis label, its name in a crossover note, what the title plots against)
    "hidden": ("hidden size H (784-H-10)", "H", "hidden size"),
    "batch_size": ("batch size", "batch", "batch size"),
}
HOLLOW = "hollow: timed on fewer samples (budget)"
CROSSING = "crossover (each side >10% ahead), listed under its panel"


def _subtitle(frame: pd.DataFrame) -> str:
    import pandas as pd

    r = frame.iloc[0]
    dtypes = ", ".join(sorted(frame["dtype"].unique()))
    threads = int(r["threads"])
    samples = "all" if pd.isna(r["samples"]) else f"{int(r['samples']):,}"
    return (
        f"{r['cpu']} · {dtypes} · {threads} thread{'s' if threads != 1 else ''} · 784-H-10 {r['activation']}, "
        f"{samples} training samples per cell, lr {r['lr']:g} · sweep {r['sweep_id']}"
    )


def _draw(ax, xs, series, flags, colors, markers, comparable, what: str) -> list[str]:
    """One panel: a line per series, hollow markers where extrapolated, numbered crossovers; their legend."""
    for name, ys in series.items():
        ax.plot(xs, ys, "-", color=colors[name], lw=1.8, label=name, alpha=0.9)
        for x, y, extrapolated in zip(xs, ys, flags[name]):
            if not (isinstance(y, float) and math.isnan(y)):
                ax.plot(
                    x,
                    y,
                    markers[name],
                    ms=6,
                    color=colors[name],
                    mew=1.5,
                    mfc="white" if extrapolated else colors[name],
                )
    notes = []
    found = sorted(crossovers(xs, series, comparable=comparable), key=lambda c: c.x)
    for i, c in enumerate(found, start=1):
        ax.plot(c.x, c.y, "o", ms=13, color="black", mfc="gold", mew=1.2, zorder=5)
        ax.text(c.x, c.y, str(i), ha="center", va="center", fontsize=7.5, fontweight="bold", zorder=6)
        notes.append(f"{i}: {c.faster} overtakes {c.slower} near {what} {c.x:.0f}")
    return notes


def _log_axes(ax, xs) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: human_seconds(v)))
    ax.grid(which="major", alpha=0.3)
    ax.grid(which="minor", axis="y", alpha=0.1)


def _figure(frame, panels, x: str, fixed: str, title, path: Path) -> Path:
    """A figure of log-log panels (one per value of `fixed`), the legend and crossover notes beneath each."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    xlabel, what, against = AXES[x]
    names = list(dict.fromkeys(frame["series"]))
    comparable = comparable_in(frame)
    colors = {s: palette()[i % len(palette())] for i, s in enumerate(names)}
    markers = {s: "osD^vP*h"[i % 8] for i, s in enumerate(names)}
    data = [panel(frame, x, fixed, value) for value in panels]
    n_notes = max(len(crossovers(xs, series, comparable=comparable)) for xs, series, _ in data)
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    panel_h, gap_h, header_h = 3.6, 0.8 + 0.17 * n_notes, 1.8
    height = header_h + nrows * panel_h + nrows * gap_h
    fig = plt.figure(figsize=(6.4 * ncols, height), dpi=DPI)
    grid = fig.add_gridspec(
        nrows,
        ncols,
        left=0.08 if ncols > 1 else 0.14,
        right=0.98,
        top=1 - header_h / height,
        bottom=gap_h / height,
        hspace=gap_h / panel_h,
        wspace=0.16,
    )
    first = None
    for k, (value, (xs, series, flags)) in enumerate(zip(panels, data)):
        ax = fig.add_subplot(grid[k // ncols, k % ncols], sharey=first)
        first = first or ax
        notes = _draw(ax, xs, series, flags, colors, markers, comparable, what)
        _log_axes(ax, xs)
        ax.set_title(title(value), fontsize=11)
        ax.set_xlabel(xlabel, fontsize=9)
        if k % ncols == 0:
            ax.set_ylabel("seconds per training sample")
        ax.text(0, -0.17, "\n".join(notes), transform=ax.transAxes, fontsize=7.5, va="top", ha="left")
    handles = [Line2D([], [], color=colors[s], marker=markers[s], lw=1.8, label=s) for s in names] + [
        Line2D([], [], marker="o", ls="", color="0.3", mfc="white", mew=1.5, label=HOLLOW),
        Line2D([], [], marker="o", ls="", color="black", mfc="gold", ms=10, label=CROSSING),
    ]
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.01, 1 - 0.78 / height),
        ncol=4,
        fontsize=8.5,
        frameon=False,
        columnspacing=1.5,
    )
    fig.suptitle(
        f"Seconds per training sample against {against}, log-log",
        fontsize=13,
        fontweight="bold",
        x=0.01,
        y=1 - 0.1 / height,
        ha="left",
        va="top",
    )
    fig.text(0.01, 1 - 0.45 / height, _subtitle(frame), fontsize=8.5, color="0.25", ha="left", va="top")
    return save_figure(fig, path)


def plot_scaling(frame: pd.DataFrame, out: Path) -> list[Path]:
    """scaling_hidden.png (a panel per batch size) and scaling_batch.png (at H near 36, and the largest H)."""
    import matplotlib

    matplotlib.use("Agg")
    hiddens = sorted(frame["hidden"].unique())
    near_seed = min(hiddens, key=lambda h: abs(math.log(h / SEED_HIDDEN)))
    shown = [near_seed] + ([hiddens[-1]] if hiddens[-1] != near_seed else [])
    seed_note = lambda h: " (the seed's network)" if h == SEED_HIDDEN else ""
    batches = sorted(frame["batch_size"].unique())
    return [
        _figure(frame, batches, "hidden", "batch_size", lambda b: f"batch {b}", Path(out) / FILES[0]),
        _figure(frame, shown, "batch_size", "hidden", lambda h: f"784-{h}-10{seed_note(h)}", Path(out) / FILES[1]),
    ]
