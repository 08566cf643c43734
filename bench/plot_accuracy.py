"""accuracy_by_epoch.png, test accuracy after each epoch, one line per backend; and time_to_accuracy.png,
test accuracy against the training seconds spent so far (log x), with the 95% line: what a second of
training buys on each backend. Style and saving: bench/plots.py."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.plots import DPI, QUOTED_COLOR, is_true, layout, row_label, save_figure, seconds_axis, styles, title
from bench.report_rows import QUOTED
from bench.report_table import count

if TYPE_CHECKING:
    import pandas as pd

N_TRAIN = 60_000  # train_s is always the seconds of one full 60,000-image epoch (docs/timing.md)
HEIGHT = 6.6  # inches
SAME_NETWORK = (
    "Lines on top of one another are expected: every backend trains the same network from the same "
    "weights on the same batches."
)


def _series(summary: pd.DataFrame, epochs: pd.DataFrame):
    """(style key, label, rows of epochs.csv in epoch order, extrapolated?) per measured summary row."""
    for r in summary[summary["dtype"].notna()].itertuples():
        same = (epochs["backend"] == r.backend) & (epochs["dtype"] == r.dtype) & (epochs["threads"] == r.threads)
        rows = epochs[same].sort_values("epoch")
        if rows.empty:
            continue
        extrapolated = bool(rows["extrapolated"].map(is_true).any())
        label = row_label(r.backend, r.dtype, r.threads)
        if extrapolated:
            label += f"\n(trained on {count(rows['samples_timed'].iloc[-1])} samples per epoch)"
        yield (r.backend, r.dtype, int(r.threads)), label, rows, extrapolated


def _figure():
    """A figure of one accuracy panel, the legend to its right."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, HEIGHT), dpi=DPI)
    layout(fig, HEIGHT, top_in=1.2, bottom_in=0.85, right=0.7)
    return fig, ax


def _accuracy_axes(fig, ax, lowest: float) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.axhline(95, color="0.3", lw=1, ls=":")
    ax.text(0.005, 95, "95%", transform=ax.get_yaxis_transform(), va="bottom", ha="left", fontsize=9, color="0.3")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.set_ylim(max(0, min(lowest, 95) - 3), 100)
    ax.set_ylabel("test accuracy (10,000 test images)")
    ax.grid(which="major", alpha=0.3)
    ax.grid(which="minor", alpha=0.1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8.5, frameon=False, labelspacing=0.9)
    fig.text(0.01, 0.012, SAME_NETWORK, fontsize=8, color="0.35", ha="left", va="bottom")


def _line(ax, x, y, key, label, extrapolated, row_styles) -> None:
    color, marker = row_styles[key]
    ax.plot(
        x,
        y,
        marker=marker,
        ms=6,
        lw=2,
        color=color,
        ls="--" if extrapolated else "-",
        alpha=0.9,
        mfc="white" if extrapolated else color,
        mew=1.5,
        label=label,
    )


def plot_accuracy_by_epoch(summary: pd.DataFrame, epochs: pd.DataFrame, path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator

    row_styles = styles(summary)
    fig, ax = _figure()
    lowest, last_epoch = 100.0, 1
    for key, label, rows, extrapolated in _series(summary, epochs):
        acc = 100 * rows["test_accuracy"]
        _line(ax, rows["epoch"], acc, key, label, extrapolated, row_styles)
        lowest, last_epoch = min(lowest, acc.min()), max(last_epoch, int(rows["epoch"].max()))
    q = QUOTED[0]
    if last_epoch >= 30:  # the Rust experiment's figure is after 30 epochs
        ax.plot(
            30,
            100 * q["final_accuracy"],
            "*",
            ms=15,
            color=QUOTED_COLOR,
            mfc="white",
            mew=1.5,
            label=f"Rust, quoted (not measured here):\n{100 * q['final_accuracy']:.2f}% after 30 epochs",
        )
    ax.set_xlim(0.5, last_epoch + 0.5)
    if last_epoch <= 30:
        ax.set_xticks(range(1, last_epoch + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (60,000 training images each)")
    _accuracy_axes(fig, ax, lowest)
    title(fig, "Test accuracy after each epoch", summary, HEIGHT)
    return save_figure(fig, path)


def plot_time_to_accuracy(summary: pd.DataFrame, epochs: pd.DataFrame, path: Path) -> Path:
    row_styles = styles(summary)
    fig, ax = _figure()
    lowest, xs = 100.0, []
    for key, label, rows, extrapolated in _series(summary, epochs):
        # An extrapolated row trained on samples_timed images per epoch: plot the seconds it really spent,
        # which bought its accuracy, not the extrapolated full-epoch seconds.
        seconds = (rows["train_s"] * (rows["samples_timed"] / N_TRAIN if extrapolated else 1.0)).cumsum()
        acc = 100 * rows["test_accuracy"]
        if extrapolated:
            label += "\nx = the seconds it really spent"
        _line(ax, seconds, acc, key, label, extrapolated, row_styles)
        reached = (acc >= 95).to_numpy()
        if reached.any() and not extrapolated:
            color = row_styles[key][0]
            x, y = seconds.iloc[int(reached.argmax())], acc.iloc[int(reached.argmax())]
            ax.plot(x, y, "o", ms=13, mfc="none", mec=color, mew=2)
            ax.annotate(
                f"{x:.3g} s",
                (x, y),
                xytext=(0, -19),
                textcoords="offset points",
                fontsize=8.5,
                ha="center",
                color=color,
                fontweight="bold",
            )
        lowest = min(lowest, acc.min())
        xs += list(seconds)
    ax.set_xscale("log")
    if xs:
        ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
        seconds_axis(ax.xaxis, min(xs) / 1.6, max(xs) * 1.6)
    ax.set_xlabel("training seconds so far (log scale; evaluation, setup and compile excluded); circled: first at 95%")
    _accuracy_axes(fig, ax, lowest)
    title(fig, "Time to accuracy: test accuracy against training seconds", summary, HEIGHT)
    return save_figure(fig, path)
