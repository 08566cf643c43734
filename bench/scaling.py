"""`bench scaling`: seconds per training sample over a grid of hidden sizes and batch sizes.

`bench all` answers the question for the seed's one configuration (784-36-10, batch 10). This asks
how the answer moves with the size of the work. It is a preset grid of `bench sweep` (the "scaling"
preset, whose values are this command's defaults), not an engine of its own: it builds the grid
`hidden=...;batch=...;samples=N` for each backend (at each dtype asked for) and hands it to
bench.sweep.run_sweep. Each cell is one sweep point, trained by core.sweep.run_point through the
shared driver on the first N training images for `--repeats` epochs (a permutation of those N each
epoch), with one BLAS/numba thread, timing only (no test-set evaluation). Scheduling (one cell after
another in this process by default, `--workers N` or `--scheduler` for Dask), appending each cell's
row to results/sweep.csv as it finishes, `--resume`, and recording a failed cell with its reason are
the sweep's.

A cell's seconds per sample are its median epoch's seconds over N (`s_per_sample` in sweep.csv). The
cell's time budget (`--budget`) is the driver's: a cell whose epochs do not fit in it is timed on the
first batches of each epoch (at least a twentieth of N, and a whole batch) and marked extrapolated;
its rate is still a measured rate, of fewer samples. One cell runs at a time by default, so that on a
small machine no cell disturbs another's timing.

The figures (results/scaling_hidden.png and scaling_batch.png, log-log, crossovers marked) and the
table are drawn from the sweep's rows in results/sweep.csv alone, filtered by the sweep id: that file
is the one record of the measurements (there is no separate scaling.csv); `--replot [SWEEP_ID]`
redraws them. No arithmetic lives here.
"""

from __future__ import annotations

import itertools
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.options import DEFAULT_RESULTS, data_options, int_list, number
from bench.sweep import PRESETS, human_seconds
from core.errors import UserError
from core.sweep import ALL_DTYPES, DTYPES, SWEEP_FILE, parse_grid

if TYPE_CHECKING:
    import pandas as pd

PRESET = "scaling"
_DEFAULTS = parse_grid(PRESETS[PRESET].grid)
DEFAULT_HIDDEN = tuple(_DEFAULTS["hidden"])
DEFAULT_BATCH = tuple(_DEFAULTS["batch"])
DEFAULT_SAMPLES = _DEFAULTS["samples"][0]
DEFAULT_BUDGET_S = PRESETS[PRESET].budget_s
DEFAULT_REPEATS = PRESETS[PRESET].epochs  # epochs per cell; the median counts (a shared machine disturbs some)
DEFAULT_WORKERS = PRESETS[PRESET].workers  # one cell at a time: timings undisturbed by a neighbour
SEED_HIDDEN = 36  # the seed's network, for the against-batch-size figure
FILES = ("scaling_hidden.png", "scaling_batch.png")
MARGIN = 1.10  # a crossover needs each side clearly ahead (by 10%) somewhere on either side of it


def add_command(sub) -> None:
    # fmt: off
    p = sub.add_parser("scaling", help="seconds per training sample over a grid of hidden and batch sizes (a sweep)")
    p.add_argument("--backends", help="comma-separated backend names (default: every available one)")
    p.add_argument("--dtypes", default="default",
                   help="'default' (each backend's first, as `bench all` runs it; the default), 'all' (every "
                        "dtype each backend supports), or a list such as float32,float64")
    p.add_argument("--hidden", type=int_list, default=list(DEFAULT_HIDDEN),
                   help=f"hidden sizes H of 784-H-10 (default {','.join(map(str, DEFAULT_HIDDEN))})")
    p.add_argument("--batch", type=int_list, default=list(DEFAULT_BATCH),
                   help=f"batch sizes (default {','.join(map(str, DEFAULT_BATCH))})")
    p.add_argument("--samples", type=number(int, 1), default=DEFAULT_SAMPLES,
                   help="training samples per cell: the first N training images (default %(default)s)")
    p.add_argument("--budget", type=number(float, 0.01), default=DEFAULT_BUDGET_S,
                   help="seconds per cell; a cell that needs more is timed on fewer samples and marked "
                        "extrapolated (default %(default)s)")
    p.add_argument("--repeats", type=number(int, 1), default=DEFAULT_REPEATS,
                   help="epochs over a cell's samples, budget allowing; the median counts (default %(default)s)")
    p.add_argument("--seed", type=number(int, 0), default=0, help="weights and sample order (default 0)")
    place = p.add_mutually_exclusive_group()
    place.add_argument("--workers", type=number(int, 1), metavar="N",
                       help=f"cells at once, each in its own Dask worker process (default {DEFAULT_WORKERS}: one "
                            "after another in this process, so that no cell disturbs another's timing)")
    place.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run the cells on an existing Dask cluster (see: python -m bench sweep --help)")
    p.add_argument("--resume", nargs="?", const="", metavar="SWEEP_ID",
                   help="run only the cells without a result: of this grid, or of SWEEP_ID (whose grid and "
                        "options then come from its manifest)")
    data_options(p)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--replot", nargs="?", const="latest", metavar="SWEEP_ID",
                   help="measure nothing: redraw the table and figures of a scaling sweep from results/sweep.csv "
                        "(default: the latest)")
    p.add_argument("--quiet", action="store_true", help="no line per cell while it runs")
    p.set_defaults(func=cmd_scaling)
    # fmt: on


# ---------------------------------------------------------------- crossovers
@dataclass
class Crossover:
    faster: str  # the series that is ahead after the crossover ...
    slower: str  # ... and the one it overtakes
    x_before: float  # last grid point where `slower` was clearly ahead
    x_after: float  # first grid point where `faster` is clearly ahead
    x: float  # interpolated (log-log) crossing point
    y: float  # seconds per sample there


def crossovers(xs, series: dict[str, list[float]], margin: float = MARGIN, comparable=None) -> list[Crossover]:
    """Where, along `xs` (increasing), one series (seconds: lower is faster) overtakes another.

    Only clear leads count: points where the two are within `margin` of each other are ties, so
    noise around a tie is not reported as a crossover. The crossing point is interpolated linearly
    in log x and log seconds on the grid segment where the lead changes sign. `comparable(a, b)`,
    when given, says which pairs of series to compare at all.
    """
    found = []
    for a, b in itertools.combinations(series, 2):
        if comparable and not comparable(a, b):
            continue
        points = [
            (x, math.log(ya / yb), math.log(ya))
            for x, ya, yb in zip(xs, series[a], series[b])
            if ya > 0 and yb > 0 and math.isfinite(ya) and math.isfinite(yb)
        ]
        last = None  # index in points of the last clear lead
        for j, (x, r, _) in enumerate(points):
            if abs(r) < math.log(margin):
                continue
            if last is not None and (r > 0) != (points[last][1] > 0):
                k = next(k for k in range(last, j) if (points[k + 1][1] > 0) != (points[last][1] > 0))
                (x0, r0, ly0), (x1, r1, ly1) = points[k], points[k + 1]
                t = r0 / (r0 - r1) if r0 != r1 else 0.0  # where the log ratio reaches 0
                lx = math.log(x0) + t * (math.log(x1) - math.log(x0))
                faster, slower = (a, b) if r < 0 else (b, a)
                ly = ly0 + t * (ly1 - ly0)
                found.append(Crossover(faster, slower, points[last][0], x, math.exp(lx), math.exp(ly)))
            last = j
    return found


# ---------------------------------------------------------------- the command
def _backends_and_dtypes(args) -> tuple[list[str], str | None]:
    """(backend names, the grid's dtype value or None for each backend's default), as --backends and
    --dtypes ask; unavailable backends are left out when none were named, with a line saying so."""
    from core.backend import discover, get_backend

    registry = discover()
    if args.backends:
        names = list(dict.fromkeys(n.strip() for n in args.backends.split(",") if n.strip()))
        backends = {n: get_backend(n, registry) for n in names}  # unknown or unavailable: one line, exit 2
    else:
        for name, entry in registry.items():
            if entry.problem:
                print(f"{name}: left out, {entry.problem}")
        backends = {n: e.backend for n, e in registry.items() if not e.problem}
    if not backends:
        raise UserError("no backend to measure; see: python -m bench list")
    if args.dtypes in ("default", ALL_DTYPES):
        return list(backends), None if args.dtypes == "default" else ALL_DTYPES
    wanted = list(dict.fromkeys(d.strip() for d in args.dtypes.split(",") if d.strip()))
    bad = [d for d in wanted if d not in DTYPES]
    if bad or not wanted:
        raise UserError(f"--dtypes {args.dtypes}: choose default, all, or from {', '.join(DTYPES)}")
    names = []
    for name, backend in backends.items():
        have = [d for d in wanted if d in backend.dtypes]
        if not have:
            print(f"{name}: left out, it supports none of --dtypes {args.dtypes} ({', '.join(backend.dtypes)})")
        elif len(have) < len(wanted):
            raise UserError(
                f"backend {name} supports {', '.join(backend.dtypes)}, not every one of --dtypes "
                f"{args.dtypes}; pass --dtypes all (each backend's every dtype) or leave {name} out "
                "with --backends"
            )
        else:
            names.append(name)
    if not names:
        raise UserError(f"no backend supports --dtypes {args.dtypes}")
    return names, ",".join(wanted)


def scaling_request(args):
    """The SweepRequest `bench scaling` runs: its grid of cells, timing only, one cell at a time by default."""
    from bench.sweep import SweepRequest
    from core.sweep import cached_mnist

    common = dict(
        data_dir=args.data_dir,
        unverified=args.unverified,
        results=args.results,
        workers=None if args.scheduler else (args.workers or DEFAULT_WORKERS),
        scheduler=args.scheduler,
        quiet=args.quiet,
        command="python -m bench " + shlex.join(sys.argv[1:]),
        preset=PRESET,
    )
    if args.resume:  # a sweep id: the grid and its options come from the sweep's manifest
        return SweepRequest(resume=args.resume, **common)
    if max(args.batch) > args.samples:
        raise UserError(f"--batch {max(args.batch)} is larger than --samples {args.samples}; pass a smaller batch")
    names, dtype = _backends_and_dtypes(args)
    n = len(cached_mnist(args.data_dir, args.unverified).train_labels)  # loaded once; the cells reuse it
    if args.samples > n:
        raise UserError(f"--samples {args.samples} is more than the {n:,} training images; pass at most {n}")
    grid = (
        f"hidden={','.join(map(str, args.hidden))};batch={','.join(map(str, args.batch))};"
        f"samples={args.samples};seed={args.seed}" + (f";dtype={dtype}" if dtype else "")
    )
    return SweepRequest(
        grid=grid,
        backends=",".join(names),
        epochs=args.repeats,
        budget_s=args.budget,
        evaluate=False,
        resume=args.resume,
        **common,
    )


def cmd_scaling(args) -> int:
    from bench.sweep import plan, run_sweep

    if args.replot:
        frame = read_scaling(args.results, None if args.replot == "latest" else args.replot)
        report_and_plot(frame, args.results)
        return 0
    request = scaling_request(args)
    manifest, points = plan(request)
    sid = manifest.sweep_id
    where = "" if Path(args.results) == DEFAULT_RESULTS else f" --results {shlex.quote(str(args.results))}"
    request.resume_hint = f"python -m bench scaling --resume {sid}{where}"
    request.report_hint = f"python -m bench scaling --replot {sid}{where}"
    if manifest.evaluate:
        raise UserError(
            f"sweep {sid} evaluates its jobs: it is not a scaling sweep; see: python -m bench sweep --report {sid}"
        )
    p = points[0]
    samples = f"the first {p.samples:,} training images" if p.samples else "every training image"
    budget = f"budget {manifest.budget_s:g} s per cell" if manifest.budget_s else "no time budget"
    print(
        f"scaling: 784-H-10 {p.activation}, {p.loss} cost, lr {p.lr:g}, seed {p.seed}; {samples} per cell, "
        f"{p.epochs} epoch(s) per cell (the median counts), {budget}; one BLAS/numba thread",
        flush=True,
    )
    code = run_sweep(request, (manifest, points))
    try:
        frame = read_scaling(args.results, sid)
    except UserError:
        if code >= 128:
            return 130
        raise UserError(f"no cell of sweep {sid} was measured (see the lines above)") from None
    report_and_plot(frame, args.results)
    return code


def read_scaling(results: Path, sweep: str | None = None) -> pd.DataFrame:
    """The measured cells of a scaling sweep (default: the latest sweep of 784-H-10 cells on `samples`
    images), one row per cell, from results/sweep.csv; failed cells in `frame.attrs["failed"]`."""
    import pandas as pd

    from bench.sweep import read_sweep
    from core.spec import flops_per_sample
    from core.sweep import read_rows

    path = Path(results) / SWEEP_FILE
    if sweep is None:
        ids = [r["sweep_id"] for r in read_rows(path) if r.get("samples") and r.get("s_per_sample")]
        if not ids:
            raise UserError(f"{path} holds no scaling sweep yet; run `python -m bench scaling` first")
        sweep = ids[-1]
    points, sweep = read_sweep(results, sweep)
    points = points[points["layers"].str.count(",") == 2]  # 784-H-10
    done = points[points["_done"] & points["s_per_sample"].notna()]
    if done.empty:
        raise UserError(f"sweep {sweep} in {path} has no measured 784-H-10 cell; run `python -m bench scaling`")
    number = lambda column: pd.to_numeric(done[column], errors="coerce")
    frame = pd.DataFrame(
        {
            "sweep_id": sweep,
            "backend": done["backend"],
            "dtype": done["dtype"],
            "threads": number("blas_threads").fillna(1).astype(int),
            "hidden": done["hidden"].astype(int),
            "batch_size": number("batch_size").astype(int),
            "s_per_sample": number("s_per_sample"),
            "extrapolated": done["extrapolated"].isin([True, "true", "True"]),
            "samples": number("samples"),
            "samples_timed": number("samples_timed"),
            "epochs_run": number("epochs_run"),
            "spread": (number("max_train_s") - number("min_train_s")) / number("median_train_s"),
            "layers": done["layers"],
            "activation": done["activation"],
            "lr": number("lr"),
            "seed": done["seed"],
            "cpu": done["cpu"],
            "host": done["host"],
        }
    ).reset_index(drop=True)
    frame["gflops"] = [
        flops_per_sample((784, h, 10), b) / s / 1e9
        for h, b, s in zip(frame["hidden"], frame["batch_size"], frame["s_per_sample"])
    ]
    frame["series"] = frame["backend"] + " " + frame["dtype"]
    frame.attrs["failed"] = [(r["point"], r["reason"]) for _, r in points[~points["_done"]].iterrows()]
    return frame


# ---------------------------------------------------------------- words and figures
def _panel(frame: pd.DataFrame, x: str, fixed: str, value: int):
    """(xs, {series: seconds per sample along xs}, {series: extrapolated flags}) at frame[fixed] == value."""
    part = frame[frame[fixed] == value]
    xs = sorted(part[x].unique())
    series, flags = {}, {}
    for name, rows in part.groupby("series", sort=False):
        rows = rows.drop_duplicates(x, keep="last").set_index(x).reindex(xs)
        series[name] = rows["s_per_sample"].tolist()
        flags[name] = rows["extrapolated"].fillna(False).astype(bool).tolist()
    return xs, series, flags


def comparable_in(frame: pd.DataFrame):
    """Which series to compare for crossovers: two backends at the same dtype, one backend at two dtypes,
    or any pair where a backend ran one dtype only (each at its own default, as `bench all` runs them);
    numpy float32 against torch float64 would mix two questions."""
    keys = frame.drop_duplicates("series").set_index("series")[["backend", "dtype"]]
    dtypes_run = frame.groupby("backend")["dtype"].nunique()

    def comparable(a: str, b: str) -> bool:
        (ba, da), (bb, db) = keys.loc[a], keys.loc[b]
        return da == db or ba == bb or dtypes_run[ba] == 1 or dtypes_run[bb] == 1

    return comparable


def crossover_lines(frame: pd.DataFrame) -> list[str]:
    lines, comparable = [], comparable_in(frame)
    for batch in sorted(frame["batch_size"].unique()):
        xs, series, _ = _panel(frame, "hidden", "batch_size", batch)
        for c in crossovers(xs, series, comparable=comparable):
            lines.append(
                f"batch {batch}: {c.faster} overtakes {c.slower} as H grows from {c.x_before} to "
                f"{c.x_after} (crossing near H = {c.x:.0f})"
            )
    for hidden in sorted(frame["hidden"].unique()):
        xs, series, _ = _panel(frame, "batch_size", "hidden", hidden)
        for c in crossovers(xs, series, comparable=comparable):
            lines.append(
                f"H {hidden}: {c.faster} overtakes {c.slower} as the batch grows from {c.x_before} to "
                f"{c.x_after} (crossing near batch {c.x:.0f})"
            )
    return lines


def report_and_plot(frame: pd.DataFrame, results: Path) -> list[Path]:
    import pandas as pd
    from tabulate import tabulate

    table = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="s_per_sample", aggfunc="last")
    flags = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="extrapolated", aggfunc="last")
    cells = [
        [
            h,
            b,
            *(
                ("" if pd.isna(v) else human_seconds(v) + (" *" if flags.loc[(h, b), s] else ""))
                for s, v in row.items()
            ),
        ]
        for (h, b), row in table.iterrows()
    ]
    print(
        f"\nsweep {frame['sweep_id'].iloc[0]}: seconds per training sample "
        "(* timed on fewer samples than the cell holds: budget)"
    )
    print(tabulate(cells, headers=["H", "batch", *table.columns], disable_numparse=True, stralign="right"))
    failed = frame.attrs.get("failed", [])
    if failed:
        print(f"\n{len(failed)} cell(s) failed (not plotted; --resume runs them again):")
        for point, reason in failed[:10]:
            print(f"  {point}: {reason}")
    lines = crossover_lines(frame)
    print("\ncrossovers (each side clearly ahead, by more than 10%):" if lines else "\nno crossovers in this grid")
    for line in lines:
        print("  " + line)
    paths = plot_scaling(frame, results)
    print("plots: " + ", ".join(str(p) for p in paths))
    return paths


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


def _figure(frame, panels, x: str, fixed: str, title, xlabel: str, what: str, against: str, path: Path) -> Path:
    """A figure of log-log panels (one per value of `fixed`), the legend and crossover notes beneath each."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from bench.plots import _save, palette

    names = list(dict.fromkeys(frame["series"]))
    comparable = comparable_in(frame)
    colors = {s: palette()[i % len(palette())] for i, s in enumerate(names)}
    markers = {s: "osD^vP*h"[i % 8] for i, s in enumerate(names)}
    data = [_panel(frame, x, fixed, value) for value in panels]
    n_notes = max(len(crossovers(xs, series, comparable=comparable)) for xs, series, _ in data)
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    panel_h, gap_h, header_h = 3.6, 0.8 + 0.17 * n_notes, 1.8
    height = header_h + nrows * panel_h + nrows * gap_h
    fig = plt.figure(figsize=(6.4 * ncols, height), dpi=130)
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
    extra = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color="0.3",
            mfc="white",
            mew=1.5,
            label="hollow: timed on fewer samples (budget)",
        ),
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            color="black",
            mfc="gold",
            ms=10,
            label="crossover (each side >10% ahead), listed under its panel",
        ),
    ]
    handles = [Line2D([], [], color=colors[s], marker=markers[s], lw=1.8, label=s) for s in names] + extra
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
    return _save(fig, path)


def plot_scaling(frame: pd.DataFrame, out: Path) -> list[Path]:
    """scaling_hidden.png (a panel per batch size) and scaling_batch.png (at H near 36, and the largest H)."""
    import matplotlib

    matplotlib.use("Agg")
    hiddens = sorted(frame["hidden"].unique())
    near_seed = min(hiddens, key=lambda h: abs(math.log(h / SEED_HIDDEN)))
    shown = [near_seed] + ([hiddens[-1]] if hiddens[-1] != near_seed else [])
    seed_note = lambda h: " (the seed's network)" if h == SEED_HIDDEN else ""
    return [
        _figure(
            frame,
            sorted(frame["batch_size"].unique()),
            "hidden",
            "batch_size",
            lambda b: f"batch {b}",
            "hidden size H (784-H-10)",
            "H",
            "hidden size",
            Path(out) / FILES[0],
        ),
        _figure(
            frame,
            shown,
            "batch_size",
            "hidden",
            lambda h: f"784-{h}-10{seed_note(h)}",
            "batch size",
            "batch",
            "batch size",
            Path(out) / FILES[1],
        ),
    ]
