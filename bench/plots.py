"""`bench plot`: the PNG figures of one run, drawn from the CSV files alone.

Three figures, each titled with the machine, the dtypes and the thread counts it shows:

- epoch_seconds.png: seconds per epoch by backend (log scale), the median with min-max whiskers;
  extrapolated rows drawn hollow and labelled so; the two Rust rows quoted from the experiment set
  apart in grey and labelled as quoted, never as measured; and, where the run measured the machine's
  ceiling, the epoch time a backend running at that ceiling would take.
- accuracy_by_epoch.png: test accuracy after each epoch, one line per backend.
- time_to_accuracy.png: test accuracy against the training seconds spent so far (log x), with the 95%
  line: what a second of training buys on each backend.

`bench all` writes them into its results folder at the end of a run; `bench plot RUN_ID` redraws any
run from results/epochs.csv, results/summary.csv and results/ceiling.csv.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from bench.options import DEFAULT_RESULTS

if TYPE_CHECKING:
    import pandas as pd

FILES = ("epoch_seconds.png", "accuracy_by_epoch.png", "time_to_accuracy.png")
N_TRAIN = 60_000  # train_s is always the seconds of one full 60,000-image epoch (docs/timing.md)
DPI = 130
QUOTED_COLOR = "0.45"
EXTRAPOLATED = "extrapolated: timed on the first samples of each epoch"


def add_command(sub) -> None:
    p = sub.add_parser("plot", help="draw a run's PNG plots from results/epochs.csv and results/summary.csv")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--out", type=Path, help="folder for the PNG files (default: the results folder)")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args) -> int:
    paths = write_run_plots(args.results, args.run_id, args.out)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


# ---------------------------------------------------------------- reading the run back
def read_epochs(results: Path, run_id: str) -> pd.DataFrame:
    from core.errors import UserError
    from core.results import read_csv

    path = Path(results) / "epochs.csv"
    if not path.exists():
        raise UserError(f"{path} does not exist; run `python -m bench all` first")
    df = read_csv(
        path,
        ("run_id", "backend", "dtype", "threads", "epoch", "train_s", "test_accuracy"),
        dtype={"run_id": str, "layers": str},
    )
    return df[df["run_id"] == run_id].reset_index(drop=True)


def _is_true(value) -> bool:
    return value in (True, "true", "True")


def _threads(t: int) -> str:
    return f"{t} thread{'s' if t != 1 else ''}"


def row_label(backend: str, dtype: str, threads: int) -> str:
    return f"{backend} {dtype}, {_threads(int(threads))}"


def _machine_line(summary: pd.DataFrame) -> str:
    r = summary.iloc[0]
    ok = summary[summary["dtype"].notna()]
    dtypes = ", ".join(sorted(ok["dtype"].astype(str).unique()))
    threads = sorted(int(t) for t in ok["threads"].unique())
    threads_text = _threads(threads[0]) if len(threads) == 1 else f"{', '.join(map(str, threads))} threads"
    cores = f", {int(r['cores'])} cores" if r.get("cores") == r.get("cores") else ""  # NaN: not recorded
    return f"{r['cpu']}{cores} · {dtypes} · {threads_text} · run {r['run_id']}"


def _config_line(summary: pd.DataFrame) -> str:
    ok = summary[summary["median_train_s"].notna()]
    r = (ok if not ok.empty else summary).iloc[0]
    return (
        f"{str(r['layers']).replace(',', '-')} {r['activation']}, {r['loss']} cost, batch {int(r['batch_size'])}, "
        f"lr {r['lr']:g}, seed {int(r['seed'])}"
    )


def palette() -> list:
    """The qualitative colors of every figure: matplotlib's tab10 without its grey (kept for quoted rows)."""
    import matplotlib

    return [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]


def _shades() -> list[list]:
    """Hues of four shades each, darkest first: tab20c's and tab20b's, without tab20c's greys."""
    import matplotlib

    colors = list(matplotlib.colormaps["tab20c"].colors[:16]) + list(matplotlib.colormaps["tab20b"].colors)
    return [colors[i : i + 4] for i in range(0, len(colors), 4)]


def _styles(summary: pd.DataFrame) -> dict:
    """{(backend, dtype, threads): (color, marker)}: one hue per substrate, its tuned rows dark and its
    plain rows light; one marker per thread count; the same in every figure."""
    from bench.report import ordered

    ok = ordered(summary[summary["dtype"].notna()])
    hues = _shades()
    substrates = list(dict.fromkeys(ok["substrate"]))
    threads = sorted({int(t) for t in ok["threads"]})
    styles = {}
    for substrate, rows in ok.groupby("substrate", sort=False):
        hue = hues[substrates.index(substrate) % len(hues)]
        names = list(dict.fromkeys(rows.sort_values("tier", ascending=False, kind="stable")["backend"]))  # tuned first
        for r in rows.itertuples():
            styles[(r.backend, r.dtype, int(r.threads))] = (
                hue[names.index(r.backend) % 4],
                "os^Dv"[threads.index(int(r.threads)) % 5],
            )
    return styles


def _layout(
    fig, height_in: float, top_in: float = 1.25, bottom_in: float = 0.75, left: float = 0.08, right: float = 0.97
) -> None:
    """Margins in inches at the top (the titles) and bottom (the axis label), whatever the figure's height."""
    fig.subplots_adjust(left=left, right=right, top=1 - top_in / height_in, bottom=bottom_in / height_in)


def _title(fig, what: str, summary: pd.DataFrame, height_in: float) -> None:
    fig.suptitle(what, fontsize=13, fontweight="bold", x=0.01, y=1 - 0.12 / height_in, ha="left", va="top")
    fig.text(
        0.01,
        1 - 0.5 / height_in,
        f"{_machine_line(summary)}\n{_config_line(summary)}",
        fontsize=9,
        color="0.25",
        ha="left",
        va="top",
    )


def _seconds_axis(axis, lo: float, hi: float) -> None:
    """Log axis labelled '0.1 s', '1 s'; over less than three decades the 2s and 5s are labelled too."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} s"))
    if hi / lo < 1000:
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g} s"))
    else:
        axis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------- (a) seconds per epoch
def plot_epoch_seconds(summary: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from bench.report import QUOTED, QUOTED_NOTE, percent_of_ceiling

    styles = _styles(summary)
    measured = summary[summary["median_train_s"].notna()].sort_values("median_train_s", ascending=False)
    failed = summary[summary["median_train_s"].isna()]
    n_rows = len(measured) + len(QUOTED)
    height = 3.0 + 0.72 * n_rows
    fig, ax = plt.subplots(figsize=(11, height), dpi=DPI)
    _layout(fig, height, top_in=1.15, bottom_in=1.85, left=0.3)

    labels, y = [], 0
    for r in measured.itertuples():
        color, marker = styles[(r.backend, r.dtype, int(r.threads))]
        extrapolated = _is_true(r.extrapolated)
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
            f"extrapolated from {int(r.samples_timed):,} samples/epoch"
            if extrapolated
            else f"measured, {int(r.epochs_run)} epoch{'s' if r.epochs_run != 1 else ''}"
        )
        pct = percent_of_ceiling(r.gflops, getattr(r, "ceiling_gflops", math.nan))
        rate = f"{r.gflops:.3g} GFLOP/s" + (f" = {pct} of ceiling" if pct else "")
        labels.append(f"{row_label(r.backend, r.dtype, r.threads)}\n{how}\n{rate}")
        ax.annotate(
            f"{r.median_train_s:.3g} s",
            (r.max_train_s, y),
            xytext=(9, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=color,
            fontweight="bold",
        )
        y += 1
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
        ax.annotate(
            f"{q['median_train_s']:.3g} s (quoted)",
            (q["median_train_s"], y),
            xytext=(9, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=QUOTED_COLOR,
            style="italic",
        )
        labels.append(f"{q['backend']} {q['dtype']}\nQUOTED, not measured here:\nMac M2 Pro, the Rust experiment")
        y += 1

    # The epoch time of a backend that ran at the machine's matmul ceiling for its dtype and threads.
    ceiling_handles, xs = [], [*measured["min_train_s"], *(q["median_train_s"] for q in QUOTED)]
    known = measured[measured["ceiling_gflops"].notna()] if "ceiling_gflops" in measured else measured.iloc[:0]
    if not known.empty:
        flops_per_epoch = float((known["gflops"] * 1e9 * known["median_train_s"]).iloc[0])
        dashes = [(0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)), (0, (2, 3))]
        ceilings = known.drop_duplicates(["dtype", "threads"]).sort_values(["dtype", "threads"])
        for i, r in enumerate(ceilings.itertuples()):
            x = flops_per_epoch / (r.ceiling_gflops * 1e9)
            ax.axvline(x, color="0.35", lw=1.1, ls=dashes[i % len(dashes)])
            xs.append(x)
            ceiling_handles.append(
                Line2D(
                    [],
                    [],
                    color="0.35",
                    lw=1.1,
                    ls=dashes[i % len(dashes)],
                    label=f"at the machine's ceiling, {r.dtype} {_threads(int(r.threads))} "
                    f"({r.ceiling_gflops:.0f} GFLOP/s): {x:.3g} s",
                )
            )

    ax.set_xscale("log")
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    for tick, text in zip(ax.get_yticklabels(), labels):
        if "QUOTED" in text:
            tick.set_color(QUOTED_COLOR)
            tick.set_style("italic")
    ax.set_ylim(len(labels) - 0.5, -0.6)
    hi = max([*measured["max_train_s"], *(q["median_train_s"] for q in QUOTED)])
    ax.set_xlim(min(xs) / 2, hi * 5)
    _seconds_axis(ax.xaxis, min(xs) / 2, hi * 5)
    ax.set_xlabel("seconds per epoch of 60,000 images (log scale): the median, whiskers from min to max over epochs")
    ax.grid(axis="x", which="major", alpha=0.35)
    ax.grid(axis="x", which="minor", alpha=0.12)
    thread_markers = {k[2]: marker for k, (_, marker) in styles.items()}
    legend = [
        Line2D([], [], marker=m, ls="", color="0.2", ms=8, label=f"{_threads(t)}, measured on full epochs")
        for t, m in sorted(thread_markers.items())
    ]
    if measured["extrapolated"].map(_is_true).any():
        legend.append(Line2D([], [], marker="o", ls="", color="0.2", mfc="white", mew=2, ms=8, label=EXTRAPOLATED))
    legend.append(Line2D([], [], marker="D", ls="", color=QUOTED_COLOR, mfc="white", ms=7, label=QUOTED_NOTE))
    legend += ceiling_handles
    fig.legend(
        handles=legend, loc="lower left", bbox_to_anchor=(0.01, 0.25 / height), fontsize=8.5, ncol=2, frameon=False
    )
    if not failed.empty:
        notes = "; ".join(
            f"{r.backend} ({_threads(int(r.threads))}): {r.status} {r.note if isinstance(r.note, str) else ''}"
            for r in failed.itertuples()
        )
        fig.text(0.01, 0.01, f"not plotted: {notes}", fontsize=8, color="firebrick", ha="left", va="bottom")
    _title(fig, "Seconds per training epoch, by backend", summary, height)
    return _save(fig, path)


# ---------------------------------------------------------------- (b) accuracy by epoch, (c) time to accuracy
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
        extrapolated = bool(rows["extrapolated"].map(_is_true).any())
        label = row_label(r.backend, r.dtype, r.threads)
        if extrapolated:
            label += f"\n(trained on {int(rows['samples_timed'].iloc[-1]):,} samples per epoch)"
        yield (r.backend, r.dtype, int(r.threads)), label, rows, extrapolated


def _accuracy_axes(fig, ax, lowest: float, height: float) -> None:
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


def _line(ax, x, y, key, label, extrapolated, styles) -> None:
    color, marker = styles[key]
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
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from bench.report import QUOTED

    styles = _styles(summary)
    height = 6.6
    fig, ax = plt.subplots(figsize=(12, height), dpi=DPI)
    _layout(fig, height, top_in=1.2, bottom_in=0.85, right=0.7)
    lowest, last_epoch = 100.0, 1
    for key, label, rows, extrapolated in _series(summary, epochs):
        acc = 100 * rows["test_accuracy"]
        _line(ax, rows["epoch"], acc, key, label, extrapolated, styles)
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
    _accuracy_axes(fig, ax, lowest, height)
    _title(fig, "Test accuracy after each epoch", summary, height)
    return _save(fig, path)


def plot_time_to_accuracy(summary: pd.DataFrame, epochs: pd.DataFrame, path: Path) -> Path:
    import matplotlib.pyplot as plt

    styles = _styles(summary)
    height = 6.6
    fig, ax = plt.subplots(figsize=(12, height), dpi=DPI)
    _layout(fig, height, top_in=1.2, bottom_in=0.85, right=0.7)
    lowest, xs = 100.0, []
    for key, label, rows, extrapolated in _series(summary, epochs):
        # An extrapolated row trained on samples_timed images per epoch: plot the seconds it really spent,
        # which bought its accuracy, not the extrapolated full-epoch seconds.
        seconds = (rows["train_s"] * (rows["samples_timed"] / N_TRAIN if extrapolated else 1.0)).cumsum()
        acc = 100 * rows["test_accuracy"]
        if extrapolated:
            label += "\nx = the seconds it really spent"
        _line(ax, seconds, acc, key, label, extrapolated, styles)
        reached = (acc >= 95).to_numpy()
        if reached.any() and not extrapolated:
            x, y = seconds.iloc[int(reached.argmax())], acc.iloc[int(reached.argmax())]
            ax.plot(x, y, "o", ms=13, mfc="none", mec=styles[key][0], mew=2)
            ax.annotate(
                f"{x:.3g} s",
                (x, y),
                xytext=(0, -19),
                textcoords="offset points",
                fontsize=8.5,
                ha="center",
                color=styles[key][0],
                fontweight="bold",
            )
        lowest = min(lowest, acc.min())
        xs += list(seconds)
    ax.set_xscale("log")
    if xs:
        ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
        _seconds_axis(ax.xaxis, min(xs) / 1.6, max(xs) * 1.6)
    ax.set_xlabel("training seconds so far (log scale; evaluation, setup and compile excluded); circled: first at 95%")
    _accuracy_axes(fig, ax, lowest, height)
    _title(fig, "Time to accuracy: test accuracy against training seconds", summary, height)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from core.files import replacing

    path = Path(path)
    try:
        with replacing(path, ".png") as tmp:  # never a half-written PNG under the real name
            fig.savefig(tmp, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def write_run_plots(results: Path, run_id: str | None = None, out: Path | None = None) -> list[Path]:
    """The three PNGs of `run_id` (default: the latest run in results/summary.csv); their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from bench.report import read_summary
    from core.errors import UserError

    summary = read_summary(results, run_id)
    run_id = summary["run_id"].iloc[0]
    epochs = read_epochs(results, run_id)
    out = Path(out or results)
    out.mkdir(parents=True, exist_ok=True)
    if summary["median_train_s"].isna().all():
        raise UserError(f"run {run_id} has no measured backend to plot (every one failed)")
    return [
        plot_epoch_seconds(summary, out / FILES[0]),
        plot_accuracy_by_epoch(summary, epochs, out / FILES[1]),
        plot_time_to_accuracy(summary, epochs, out / FILES[2]),
    ]
