"""`bench plot`: the PNG figures of one run, drawn from the CSV files alone; and the style every figure
of the project shares (palette, a row's color and marker, titles, margins, log-second axes, saving).

Three figures, each titled with the machine, the dtypes and the thread counts it shows:

- epoch_seconds.png (bench/plot_seconds.py): seconds per epoch by backend, the quoted Rust rows apart,
  and the epoch time at the machine's ceiling.
- accuracy_by_epoch.png and time_to_accuracy.png (bench/plot_accuracy.py): test accuracy after each
  epoch, and against the training seconds spent so far.

`bench all` writes them into its results folder at the end of a run; `bench plot RUN_ID` redraws any
run from results/epochs.csv, results/summary.csv and results/ceiling.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.options import DEFAULT_RESULTS, folder
from core.errors import program_name

if TYPE_CHECKING:
    import pandas as pd

FILES = ("epoch_seconds.png", "accuracy_by_epoch.png", "time_to_accuracy.png")
DPI = 130
QUOTED_COLOR = "0.45"


def add_command(sub) -> None:
    p = sub.add_parser("plot")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    p.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--out", type=folder, help="folder for the PNG files (default: the results folder)")
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
        raise UserError(f"{path} does not exist; run `{program_name()} all` first")
    numbers = ("threads", "epoch", "train_s", "samples_timed", "test_accuracy")
    df = read_csv(
        path, ("run_id", "backend", "dtype", "extrapolated", *numbers), numbers, dtype={"run_id": str, "layers": str}
    )
    return df[df["run_id"] == run_id].reset_index(drop=True)


# ---------------------------------------------------------------- the style every figure shares
def is_true(value) -> bool:
    return value in (True, "true", "True")


def threads_text(t: int) -> str:
    return f"{t} thread{'s' if t != 1 else ''}"


def row_label(backend: str, dtype: str, threads: int) -> str:
    return f"{backend} {dtype}, {threads_text(int(threads))}"


def _machine_line(summary: pd.DataFrame) -> str:
    r = summary.iloc[0]
    ok = summary[summary["dtype"].notna()]
    dtypes = ", ".join(sorted(ok["dtype"].astype(str).unique()))
    threads = sorted(int(t) for t in ok["threads"].unique())
    shown = threads_text(threads[0]) if len(threads) == 1 else f"{', '.join(map(str, threads))} threads"
    cores = f", {int(r['cores'])} cores" if r.get("cores") == r.get("cores") else ""  # NaN: not recorded
    return f"{r['cpu']}{cores} · {dtypes} · {shown} · run {r['run_id']}"


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


def styles(summary: pd.DataFrame) -> dict:
    """{(backend, dtype, threads): (color, marker)}: one hue per substrate, its tuned rows dark and its
    plain rows light; one marker per thread count; the same in every figure."""
    from bench.report_rows import ordered

    ok = ordered(summary[summary["dtype"].notna()])
    hues = _shades()
    substrates = list(dict.fromkeys(ok["substrate"]))
    threads = sorted({int(t) for t in ok["threads"]})
    found = {}
    for substrate, rows in ok.groupby("substrate", sort=False):
        hue = hues[substrates.index(substrate) % len(hues)]
        names = list(dict.fromkeys(rows.sort_values("tier", ascending=False, kind="stable")["backend"]))  # tuned first
        for r in rows.itertuples():
            found[(r.backend, r.dtype, int(r.threads))] = (
                hue[names.index(r.backend) % 4],
                "os^Dv"[threads.index(int(r.threads)) % 5],
            )
    return found


def layout(
    fig, height_in: float, top_in: float = 1.25, bottom_in: float = 0.75, left: float = 0.08, right: float = 0.97
) -> None:
    """Margins in inches at the top (the titles) and bottom (the axis label), whatever the figure's height."""
    fig.subplots_adjust(left=left, right=right, top=1 - top_in / height_in, bottom=bottom_in / height_in)


def title(fig, what: str, summary: pd.DataFrame, height_in: float) -> None:
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


def seconds_axis(axis, lo: float, hi: float) -> None:
    """Log axis labelled '0.1 s', '1 s'; over less than three decades the 2s and 5s are labelled too."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} s"))
    if hi / lo < 1000:
        axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g} s"))
    else:
        axis.set_minor_formatter(NullFormatter())


def save_figure(fig, path: Path) -> Path:
    """Write `fig` to the PNG `path` atomically and close it."""
    import matplotlib.pyplot as plt

    from core.files import replacing

    path = Path(path)
    try:
        with replacing(path, ".png") as tmp:  # never a half-written PNG under the real name
            fig.savefig(tmp, dpi=DPI)
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------- the command's figures
def write_run_plots(results: Path, run_id: str | None = None, out: Path | None = None) -> list[Path]:
    """The three PNGs of `run_id` (default: the latest run in results/summary.csv); their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from bench.plot_accuracy import plot_accuracy_by_epoch, plot_time_to_accuracy
    from bench.plot_seconds import plot_epoch_seconds
    from bench.report_rows import read_summary
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
