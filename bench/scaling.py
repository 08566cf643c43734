"""`bench scaling`: seconds per training sample over a grid of hidden sizes and batch sizes.

`bench all` answers the question for the seed's one configuration (784-36-10, batch 10). This asks
how the answer moves with the size of the work: each available backend (at each dtype it supports)
trains a 784-H-10 network on the same fixed training samples for every hidden size H and batch size
B of the grid, and the seconds per sample of training are recorded in results/scaling.csv and
plotted log-log, with the points where one backend overtakes another marked.

Every cell is timed the same way, in this process, with BLAS and numba held to `--threads` threads
(one by default): load the model from the seed's initial weights, the backend's warm-up, one untimed
batch (the first call at a new batch size allocates), then batches in chunks until the cell's samples
are done or its time budget is spent. A cell stopped by its budget is timed on fewer samples than the
cell holds and marked extrapolated (its seconds per sample are a rate, so nothing else changes); a
backend so slow that a single batch outlasts the budget is timed on that one batch, warm-up included.
No arithmetic lives here: the cells call the backend contract only.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd

from bench.options import DEFAULT_RESULTS, data_options, int_list, number

DEFAULT_HIDDEN = (16, 36, 128, 512, 1024)
DEFAULT_BATCH = (1, 10, 64, 256)
DEFAULT_SAMPLES = 2000
DEFAULT_BUDGET_S = 2.0
DEFAULT_REPEATS = 5  # passes over a cell's samples; the median counts (a shared machine disturbs some)
SEED_HIDDEN = 36  # the seed's network, for the against-batch-size figure
SCALING_COLUMNS = [
    "run_id", "backend", "dtype", "threads", "hidden", "batch_size", "samples_timed", "extrapolated",
    "s_per_sample", "gflops", "samples", "seconds_timed", "passes", "spread", "layers", "activation", "loss", "lr", "seed",
    "started_utc", "cpu", "blas", "host",
]  # fmt: skip
FILES = ("scaling_hidden.png", "scaling_batch.png")
MARGIN = 1.10  # a crossover needs each side clearly ahead (by 10%) somewhere on either side of it


def add_command(sub) -> None:
    p = sub.add_parser("scaling", help="seconds per training sample over a grid of hidden and batch sizes")
    p.add_argument("--backends", help="comma-separated backend names (default: every available one)")
    p.add_argument("--dtypes", default="default",
                   help="'default' (each backend's first, as `bench all` runs it; the default), 'all' (every "
                        "dtype each backend supports), or a list such as float32,float64")  # fmt: skip
    p.add_argument("--hidden", type=int_list, default=list(DEFAULT_HIDDEN),
                   help=f"hidden sizes H of 784-H-10 (default {','.join(map(str, DEFAULT_HIDDEN))})")  # fmt: skip
    p.add_argument("--batch", type=int_list, default=list(DEFAULT_BATCH),
                   help=f"batch sizes (default {','.join(map(str, DEFAULT_BATCH))})")  # fmt: skip
    p.add_argument("--samples", type=number(int, 1), default=DEFAULT_SAMPLES,
                   help="training samples per cell, the first of the seed's epoch-1 order (default %(default)s)")  # fmt: skip
    p.add_argument("--budget", type=number(float, 0.01), default=DEFAULT_BUDGET_S,
                   help="seconds per cell; a cell that needs more is timed on fewer samples and marked "
                        "extrapolated (default %(default)s)")  # fmt: skip
    p.add_argument("--repeats", type=number(int, 1), default=DEFAULT_REPEATS,
                   help="passes over a cell's samples, budget allowing; the median counts (default %(default)s)")  # fmt: skip
    p.add_argument("--threads", type=number(int, 1), default=1, help="BLAS and numba threads (default 1)")
    p.add_argument("--seed", type=number(int, 0), default=0, help="weights and sample order (default 0)")
    data_options(p)
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--replot", nargs="?", const="latest", metavar="RUN_ID",
                   help="measure nothing: redraw the figures of a run from results/scaling.csv (default latest)")  # fmt: skip
    p.set_defaults(func=cmd_scaling)


# ---------------------------------------------------------------- timing one cell
@dataclass
class Cell:
    s_per_sample: float  # the median over the passes
    samples_timed: int  # over every pass that counts
    seconds_timed: float
    extrapolated: bool  # no pass covered every sample of the cell: the rate comes from fewer
    passes: int
    spread: float  # (slowest - fastest) / median over the passes; 0 for one pass


def time_cell(backend, data, spec, dtype: str, n_samples: int, budget_s: float, repeats: int = DEFAULT_REPEATS) -> Cell:
    """Seconds per sample of `backend.train` on rows 0..n_samples-1 (whole batches), after warm-up.

    Up to `repeats` passes over the rows while the budget lasts (the model keeps training); the median
    pass counts, so one pass disturbed by another process on a shared machine does not.
    """
    from core.spec import initial_weights

    B = spec.batch_size
    rows = np.arange(B * (n_samples // B))  # whole batches only: a short last batch is another batch size
    model = backend.load(initial_weights(spec), spec, dtype)
    if hasattr(backend, "warmup"):
        backend.warmup(model, data)
    started = perf_counter()
    backend.train(model, data, rows[:B], B, spec.lr)  # untimed: the first call at this batch size
    first_s = perf_counter() - started
    passes = []  # (seconds, samples, complete)
    while len(passes) < repeats and perf_counter() - started < budget_s:
        pos = B if not passes else 0  # the first pass starts after the warm-up batch
        seconds, timed = 0.0, 0
        while pos < len(rows) and perf_counter() - started < budget_s:
            if timed:  # as many whole batches as the rest of the budget allows, at the rate seen so far
                fit = (budget_s - (perf_counter() - started)) / (seconds / timed)
                chunk = max(B, B * int(fit // B))
            else:
                chunk = B
            stop = min(len(rows), pos + chunk)
            t0 = perf_counter()
            backend.train(model, data, rows[pos:stop], B, spec.lr)
            seconds += perf_counter() - t0
            timed += stop - pos
            pos = stop
        if timed:
            passes.append((seconds, timed, pos >= len(rows)))
        if pos < len(rows):
            break
    complete = [p for p in passes if p[2]]
    used = complete or passes[:1]
    if not used:  # one batch outlasted the budget: it is the only measurement there is
        return Cell(first_s / B, B, first_s, len(rows) > B, 1, 0.0)
    rates = sorted(seconds / timed for seconds, timed, _ in used)
    mid = float(np.median(rates))
    return Cell(mid, sum(p[1] for p in used), sum(p[0] for p in used), not complete, len(used),
                (rates[-1] - rates[0]) / mid)  # fmt: skip


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
        points = [(x, math.log(ya / yb), math.log(ya)) for x, ya, yb in zip(xs, series[a], series[b])
                  if ya > 0 and yb > 0 and math.isfinite(ya) and math.isfinite(yb)]  # fmt: skip
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
def _dtypes_for(backend, choice: str) -> list[str]:
    if choice == "all":
        return list(backend.dtypes)
    if choice == "default":
        return [backend.dtypes[0]]
    return [d for d in choice.split(",") if d in backend.dtypes]


def _run_series(backend, dtype: str, images, labels, args, run_id: str, started: str, env: dict, path: Path) -> None:
    """Every cell of the grid for one backend and dtype, each row appended as soon as it is measured."""
    from core import results
    from core.backend import check_supports
    from core.errors import UserError
    from core.spec import Spec, flops_per_sample

    name = backend.name
    t0 = perf_counter()
    data = backend.load_data(images, labels, dtype)
    print(f"\n== {name} {dtype} (data loaded in {perf_counter() - t0:.2f} s) ==", flush=True)
    for hidden, batch in itertools.product(args.hidden, args.batch):
        spec = Spec(layers=(784, hidden, 10), batch_size=batch, seed=args.seed, n_train=args.samples)
        try:
            check_supports(backend, spec)
        except UserError as exc:
            print(f"H {hidden:>5}  batch {batch:>4}: skipped, {exc}")
            continue
        cell = time_cell(backend, data, spec, dtype, args.samples, args.budget, args.repeats)
        gflops = flops_per_sample(spec.layers, batch) / cell.s_per_sample / 1e9
        how = (f"{cell.samples_timed:,} samples timed, extrapolated" if cell.extrapolated
               else f"median of {cell.passes} pass{'es' if cell.passes > 1 else ''}, "
                    f"spread {100 * cell.spread:.0f}%")  # fmt: skip
        print(f"H {hidden:>5}  batch {batch:>4}: {_seconds(cell.s_per_sample):>9}/sample "
              f"{gflops:8.3f} GFLOP/s  ({how})", flush=True)  # fmt: skip
        row = {"run_id": run_id, "backend": name, "dtype": dtype, "threads": args.threads,
               "hidden": hidden, "batch_size": batch, "samples_timed": cell.samples_timed,
               "extrapolated": cell.extrapolated, "s_per_sample": cell.s_per_sample,
               "gflops": gflops, "samples": args.samples, "seconds_timed": cell.seconds_timed,
               "passes": cell.passes, "spread": cell.spread,
               **{k: v for k, v in spec.as_dict().items() if k in SCALING_COLUMNS},
               "started_utc": started, "cpu": env["cpu"],
               "blas": env["blas"], "host": env["host"]}  # fmt: skip
        results.append_rows(path, SCALING_COLUMNS, [row])


def cmd_scaling(args) -> int:
    from core import environment, results
    from core.backend import discover
    from core.errors import UserError
    from core.mnist import load_mnist
    from core.spec import epoch_order

    if args.replot:
        frame = read_scaling(args.results, None if args.replot == "latest" else args.replot)
        report_and_plot(frame, args.results)
        return 0

    registry = discover()
    names = args.backends.split(",") if args.backends else [n for n, e in registry.items() if not e.problem]
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; known: {', '.join(registry)} (see: python -m bench list)")
    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    n = len(mnist.train_labels)
    if args.samples > n:
        raise UserError(f"--samples {args.samples} is more than the {n:,} training images; pass at most {n}")
    if max(args.batch) > args.samples:
        raise UserError(f"--batch {max(args.batch)} is larger than --samples {args.samples}; pass a smaller batch")
    order = epoch_order(args.seed, 1, n)[: args.samples]
    images, labels = mnist.train_images[order], mnist.train_labels[order]

    run_id = results.new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    path = args.results / "scaling.csv"
    clock = perf_counter()
    interrupted = False
    with environment.limit_threads(args.threads):
        env = environment.capture()
        print(f"scaling run {run_id}: 784-H-10 sigmoid, quadratic cost, lr 3.0, seed {args.seed}; H in "
              f"{args.hidden}, batch in {args.batch}; {args.samples:,} samples per cell, budget {args.budget:g} s "
              f"per cell; {args.threads} thread(s); {env['cpu']}; BLAS {env['blas']}", flush=True)  # fmt: skip
        try:
            for name in names:
                entry = registry[name]
                if entry.problem:
                    print(f"{name}: skipped, {entry.problem}")
                    continue
                backend = entry.backend
                dtypes = _dtypes_for(backend, args.dtypes)
                if not dtypes:
                    print(f"{name}: skipped, it supports none of --dtypes {args.dtypes} ({', '.join(backend.dtypes)})")
                for dtype in dtypes:
                    try:
                        _run_series(backend, dtype, images, labels, args, run_id, started, env, path)
                    except (KeyboardInterrupt, UserError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - one broken backend must not lose the others' cells
                        print(f"{name} {dtype}: FAILED, {type(exc).__name__}: {exc}; going on with the others",
                              file=sys.stderr)  # fmt: skip
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: plotting the cells that finished", file=sys.stderr)
    print(f"\nmeasured in {perf_counter() - clock:.0f} s; appended to {path}")
    try:
        frame = read_scaling(args.results, run_id)
    except UserError:
        if interrupted:
            return 130
        raise UserError(f"no cell was measured: none of {', '.join(names)} ran (see the lines above)") from None
    report_and_plot(frame, args.results)
    return 130 if interrupted else 0


def read_scaling(results: Path, run_id: str | None = None) -> pd.DataFrame:
    from core.errors import UserError

    path = Path(results) / "scaling.csv"
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run `python -m bench scaling` first")
    df = pd.read_csv(path, dtype={"run_id": str, "layers": str})
    if df.empty:
        raise UserError(f"{path} holds no runs yet; run `python -m bench scaling` first")
    run_id = run_id or df["run_id"].iloc[-1]
    rows = df[df["run_id"] == run_id].reset_index(drop=True)
    if rows.empty:
        raise UserError(f"no run {run_id!r} in {path}; runs there: {', '.join(df['run_id'].unique()[-5:])}")
    rows["extrapolated"] = rows["extrapolated"].isin([True, "true", "True"])
    rows["series"] = rows["backend"] + " " + rows["dtype"]
    return rows


# ---------------------------------------------------------------- words and figures
def _seconds(s: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


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
            lines.append(f"batch {batch}: {c.faster} overtakes {c.slower} as H grows from {c.x_before} to "
                         f"{c.x_after} (crossing near H = {c.x:.0f})")  # fmt: skip
    for hidden in sorted(frame["hidden"].unique()):
        xs, series, _ = _panel(frame, "batch_size", "hidden", hidden)
        for c in crossovers(xs, series, comparable=comparable):
            lines.append(f"H {hidden}: {c.faster} overtakes {c.slower} as the batch grows from {c.x_before} to "
                         f"{c.x_after} (crossing near batch {c.x:.0f})")  # fmt: skip
    return lines


def report_and_plot(frame: pd.DataFrame, results: Path) -> list[Path]:
    from tabulate import tabulate

    table = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="s_per_sample", aggfunc="last")
    flags = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="extrapolated", aggfunc="last")
    cells = [[h, b, *(("" if pd.isna(v) else _seconds(v) + (" *" if flags.loc[(h, b), s] else ""))
                      for s, v in row.items())] for (h, b), row in table.iterrows()]  # fmt: skip
    print("\nseconds per training sample (* timed on fewer samples than the cell holds: budget)")
    print(tabulate(cells, headers=["H", "batch", *table.columns], disable_numparse=True, stralign="right"))
    lines = crossover_lines(frame)
    print("\ncrossovers (each side clearly ahead, by more than 10%):" if lines else "\nno crossovers in this grid")
    for line in lines:
        print("  " + line)
    paths = plot_scaling(frame, results)
    print("plots: " + ", ".join(str(p) for p in paths))
    return paths


def _subtitle(frame: pd.DataFrame) -> str:
    r = frame.iloc[0]
    dtypes = ", ".join(sorted(frame["dtype"].unique()))
    threads = int(r["threads"])
    return (f"{r['cpu']} · {dtypes} · {threads} thread{'s' if threads != 1 else ''} · 784-H-10 {r['activation']}, "
            f"{int(r['samples']):,} training samples per cell, lr {r['lr']:g} · run {r['run_id']}")  # fmt: skip


def _draw(ax, xs, series, flags, colors, markers, comparable, what: str) -> list[str]:
    """One panel: a line per series, hollow markers where extrapolated, numbered crossovers; their legend."""
    for name, ys in series.items():
        ax.plot(xs, ys, "-", color=colors[name], lw=1.8, label=name, alpha=0.9)
        for x, y, extrapolated in zip(xs, ys, flags[name]):
            if not (isinstance(y, float) and math.isnan(y)):
                ax.plot(x, y, markers[name], ms=6, color=colors[name], mew=1.5,
                        mfc="white" if extrapolated else colors[name])  # fmt: skip
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
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _seconds(v)))
    ax.grid(which="major", alpha=0.3)
    ax.grid(which="minor", axis="y", alpha=0.1)


def _figure(frame, panels, x: str, fixed: str, title, xlabel: str, what: str, against: str, path: Path) -> Path:
    """A figure of log-log panels (one per value of `fixed`), the legend and crossover notes beneath each."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from bench.plots import _save

    names = list(dict.fromkeys(frame["series"]))
    comparable = comparable_in(frame)
    palette = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    colors = {s: palette[i % len(palette)] for i, s in enumerate(names)}
    markers = {s: "osD^vP*h"[i % 8] for i, s in enumerate(names)}
    data = [_panel(frame, x, fixed, value) for value in panels]
    n_notes = max(len(crossovers(xs, series, comparable=comparable)) for xs, series, _ in data)
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    panel_h, gap_h, header_h = 3.6, 0.8 + 0.17 * n_notes, 1.8
    height = header_h + nrows * panel_h + nrows * gap_h
    fig = plt.figure(figsize=(6.4 * ncols, height), dpi=130)
    grid = fig.add_gridspec(nrows, ncols, left=0.08 if ncols > 1 else 0.14, right=0.98, top=1 - header_h / height,
                            bottom=gap_h / height, hspace=gap_h / panel_h, wspace=0.16)  # fmt: skip
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
    extra = [Line2D([], [], marker="o", ls="", color="0.3", mfc="white", mew=1.5,
                    label="hollow: timed on fewer samples (budget)"),
             Line2D([], [], marker="o", ls="", color="black", mfc="gold", ms=10,
                    label="crossover (each side >10% ahead), listed under its panel")]  # fmt: skip
    handles = [Line2D([], [], color=colors[s], marker=markers[s], lw=1.8, label=s) for s in names] + extra
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.01, 1 - 0.78 / height), ncol=4, fontsize=8.5,
               frameon=False, columnspacing=1.5)  # fmt: skip
    fig.suptitle(f"Seconds per training sample against {against}, log-log", fontsize=13, fontweight="bold", x=0.01,
                 y=1 - 0.1 / height, ha="left", va="top")  # fmt: skip
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
        _figure(frame, sorted(frame["batch_size"].unique()), "hidden", "batch_size", lambda b: f"batch {b}",
                "hidden size H (784-H-10)", "H", "hidden size", Path(out) / FILES[0]),
        _figure(frame, shown, "batch_size", "hidden", lambda h: f"784-{h}-10{seed_note(h)}", "batch size", "batch",
                "batch size", Path(out) / FILES[1]),
    ]  # fmt: skip
