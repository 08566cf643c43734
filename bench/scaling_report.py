"""What a scaling sweep measured, in words: its cells read back from results/sweep.csv (the one record of
the measurements), the table of seconds per training sample, and the crossovers, where one backend
overtakes another as the hidden size or the batch grows. The figures are bench/scaling_plot.py's; the
command bench/scaling.py's.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.sweep import human_seconds
from core.errors import UserError, program_name
from core.sweep import SWEEP_FILE

if TYPE_CHECKING:
    import pandas as pd

MARGIN = 1.10  # a crossover needs each side clearly ahead (by this factor) somewhere on either side of it
# The two ways along the grid: (x, the key fixed in each panel, the panel's name, what grows, where they cross)
ALONG = (
    ("hidden", "batch_size", "batch {}", "H", "H = {:.0f}"),
    ("batch_size", "hidden", "H {}", "the batch", "batch {:.0f}"),
)


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


# ---------------------------------------------------------------- the cells
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
            raise UserError(f"{path} holds no scaling sweep yet; run `{program_name()} scaling` first")
        sweep = ids[-1]
    points, sweep = read_sweep(results, sweep)
    points = points[points["layers"].str.count(",") == 2]  # 784-H-10
    done = points[points["_done"] & points["s_per_sample"].notna()]
    if done.empty:
        raise UserError(f"sweep {sweep} in {path} has no measured 784-H-10 cell; run `{program_name()} scaling`")
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


# ---------------------------------------------------------------- words
def panel(frame: pd.DataFrame, x: str, fixed: str, value: int):
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
    """Every crossover of the grid in words: along H in each batch's panel, then along the batch in each H's."""
    lines, comparable = [], comparable_in(frame)
    for x, fixed, name, grows, near in ALONG:
        for value in sorted(frame[fixed].unique()):
            xs, series, _ = panel(frame, x, fixed, value)
            for c in crossovers(xs, series, comparable=comparable):
                lines.append(
                    f"{name.format(value)}: {c.faster} overtakes {c.slower} as {grows} grows from {c.x_before} "
                    f"to {c.x_after} (crossing near {near.format(c.x)})"
                )
    return lines


def _cell(seconds: float, extrapolated: bool) -> str:
    return "" if math.isnan(seconds) else human_seconds(seconds) + (" *" if extrapolated else "")


def report_and_plot(frame: pd.DataFrame, results: Path) -> list[Path]:
    """Print the table of seconds per sample, the failed cells and the crossovers; draw the figures (their paths)."""
    from tabulate import tabulate

    from bench.scaling_plot import plot_scaling

    table = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="s_per_sample", aggfunc="last")
    flags = frame.pivot_table(index=["hidden", "batch_size"], columns="series", values="extrapolated", aggfunc="last")
    cells = [[h, b, *(_cell(v, flags.loc[(h, b), s]) for s, v in row.items())] for (h, b), row in table.iterrows()]
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
