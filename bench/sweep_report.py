"""`bench sweep --report`: a sweep's rows read back from sweep.csv, summarised over seeds, as text.

Reading goes around damage: a malformed line, text where a number belongs, or a row whose grid values
do not parse is skipped with one warning naming the file; a missing column is a one-line error. The
figure is bench/sweep_plot.py's.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from core.errors import UserError, program_name
from core.sweep import DONE, SWEEP_FILE, Manifest

CONFIG = ["backend", "dtype", "layers", "activation", "loss", "init", "batch_size", "lr", "epochs", "samples"]
NOISE = 0.10  # flag configurations whose epoch seconds vary across seeds by more than this (as bench report)
# What the report and `bench scaling` read of each row; `samples` and `s_per_sample` came later (filled in).
REQUIRED = (
    *("sweep_id", "point", "status", "reason", *CONFIG[:-1], "seed", "hidden", "host", "cpu", "worker"),
    *("final_accuracy", "median_train_s", "min_train_s", "max_train_s", "epochs_run", "extrapolated"),
    *("samples_timed", "blas_threads"),
)
NUMBERS = (
    *("batch_size", "lr", "seed", "epochs", "samples", "epochs_run", "samples_timed", "blas_threads"),
    *("median_train_s", "min_train_s", "max_train_s", "s_per_sample", "final_accuracy", "eval_s", "job_s"),
)
TEXT = (
    *("sweep_id", "point", "layers", "hidden", "reason", "status", "epoch_accuracy", "epoch_train_s", "host"),
    *("cpu", "worker", "dtype", "backend", "activation", "loss", "init", "data", "extrapolated"),
)
WHOLE = ("batch_size", "seed", "epochs")  # a row without one of these (or with a fraction) is damaged


def _layers(text: str) -> tuple[int, ...] | None:
    try:
        layers = tuple(int(n) for n in str(text).split(","))
    except ValueError:
        return None
    return layers if len(layers) >= 2 and min(layers) >= 1 else None


def _damaged(df):
    """A mask of the rows whose grid values cannot be a point's: layers that do not parse, a hidden that
    is not theirs, a missing or fractional batch, seed or epochs, a fractional samples, a missing lr,
    backend, dtype or point."""
    layers = df["layers"].map(_layers)
    hidden = layers.map(lambda ls: "-".join(map(str, ls[1:-1])) if ls else None)
    samples = df["samples"]
    bad = layers.isna() | (hidden != df["hidden"]) | df["lr"].isna()
    bad |= samples.notna() & ~((samples % 1 == 0) & (samples >= 1))  # empty: every training image
    for column in WHOLE:
        bad |= ~(df[column] % 1 == 0)  # NaN and infinity too
    for column in ("backend", "dtype", "point"):
        bad |= df[column].str.strip() == ""
    return bad


def _check_header(path: Path) -> None:
    """A UserError naming the first column the report needs that the header lacks: before the rows are
    read, which would otherwise all be skipped as malformed (one field too many) with a warning first."""
    import csv

    try:
        with open(path, newline="", errors="replace") as f:
            header = next(csv.reader(f), [])
    except (OSError, csv.Error):
        return  # read_csv says what is wrong with the file
    missing = [c for c in REQUIRED if c not in header]
    if header and missing:
        raise UserError(f"{path} has no column {missing[0]!r}: it is damaged, or not a sweep.csv; move it aside")


def read_sweep(results: Path, sweep: str | None = None):
    """(one row per point of the sweep, the sweep id): the point's result row, or its last failure."""
    import pandas as pd

    from core.results import read_csv

    path = Path(results) / SWEEP_FILE
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run a sweep first: {program_name()} sweep --grid ...")
    _check_header(path)
    df = read_csv(
        path,
        REQUIRED,
        NUMBERS,
        dtype=dict.fromkeys(TEXT, str),
        keep_default_na=False,
        na_values=dict.fromkeys(NUMBERS, [""]),
    )
    if "samples" not in df:  # a sweep.csv from before the samples columns: every point trained on all images
        df["samples"], df["s_per_sample"] = math.nan, math.nan
    for column in [c for c in NUMBERS if c in df]:  # what pandas could not read as a number is none
        df[column] = pd.to_numeric(df[column], errors="coerce")
    damaged = _damaged(df)
    if damaged.any():
        warnings.warn(f"{path}: skipped {int(damaged.sum())} row(s) whose grid values are damaged", stacklevel=2)
        df = df[~damaged].copy()
    df["samples"] = df["samples"].map(lambda n: "" if math.isnan(n) else str(int(n)))  # "": every image
    known = df["sweep_id"][df["sweep_id"].str.strip() != ""]
    if known.empty:
        raise UserError(f"{path} holds no sweep yet; run one: {program_name()} sweep --grid ...")
    sweep = sweep or known.iloc[-1]
    rows = df[df["sweep_id"] == sweep].copy()
    if rows.empty:
        raise UserError(f"no sweep {sweep!r} in {path}; sweeps there: {', '.join(known.unique()[-5:])}")
    rows["_done"] = rows["status"].isin(DONE)
    rows["_order"] = range(len(rows))
    rows = rows.sort_values(["_done", "_order"]).groupby("point", sort=False).tail(1)
    return rows.sort_values("_order").reset_index(drop=True), sweep


def natural(column: str, value):
    """Sort order of a grid value: layers by their sizes, numbers as numbers (all samples last)."""
    if column == "layers":
        return _layers(value) or ()
    if column == "samples":
        return int(value) if str(value).strip().isdigit() else math.inf
    return value


def summarize(points):
    """Mean and sample std over seeds of final accuracy and median epoch seconds, per configuration."""
    done = points[points["_done"]]
    table = (
        done.groupby(CONFIG, sort=False)
        .agg(
            seeds=("seed", "nunique"),
            acc_mean=("final_accuracy", "mean"),
            acc_std=("final_accuracy", "std"),
            s_mean=("median_train_s", "mean"),
            s_std=("median_train_s", "std"),
        )
        .reset_index()
    )
    failed = points[~points["_done"]].groupby(CONFIG, sort=False).size().rename("failed").reset_index()
    table = table.merge(failed, on=CONFIG, how="outer")
    table["failed"] = table["failed"].fillna(0).astype(int)
    table["seeds"] = table["seeds"].fillna(0).astype(int)
    order = sorted(range(len(table)), key=lambda i: tuple(natural(c, table[c].iloc[i]) for c in CONFIG))
    return table.iloc[order].reset_index(drop=True)


def varying(points) -> list[str]:
    return [c for c in CONFIG if points[c].nunique() > 1]


def layers_label(layers: str) -> str:
    return str(layers).replace(",", "-")


def config_label(row, keys: list[str]) -> str:
    parts = []
    for k in keys:
        value = row[k]
        if k == "layers":
            parts.append(layers_label(value))
        elif k == "batch_size":
            parts.append(f"batch {value:g}")
        elif k == "lr":
            parts.append(f"lr {float(value):g}")
        elif k == "epochs":
            parts.append(f"{value:g} epochs")
        elif k == "samples":
            parts.append(f"{value} samples" if str(value).strip() else "all samples")
        else:
            parts.append(str(value))
    return " ".join(parts)


def _pm(mean: float, std: float, scale: float, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    text = f"{scale * mean:.{digits}f}"
    return text + (f" ± {scale * std:.{digits}f}" if not math.isnan(std) else "")


def _cell(column: str, value) -> str:
    if column == "layers":
        return layers_label(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _best_lines(table, keys: list[str]) -> list[str]:
    """Per backend and dtype: the most accurate configuration, and the fastest."""
    lines = []
    ranked = table[(table["seeds"] > 0) & table["acc_mean"].notna()]  # timing-only points have no accuracy
    if len(ranked):
        lines.append("best per backend (highest mean accuracy; fastest: lowest mean seconds per epoch):")
        for (backend, dtype), group in ranked.groupby(["backend", "dtype"], sort=False):
            best = group.loc[group["acc_mean"].idxmax()]
            lines.append(
                f"  {backend} {dtype}: most accurate {config_label(best, keys)}: "
                f"{_pm(best['acc_mean'], best['acc_std'], 100, 2)}% over {best['seeds']} seed(s), "
                f"{best['s_mean']:.3f} s/epoch"
            )
            timed = group[group["s_mean"].notna()]
            if len(timed):
                fast = timed.loc[timed["s_mean"].idxmin()]
                lines.append(
                    f"  {' ' * len(f'{backend} {dtype}')}  fastest {config_label(fast, keys)}: "
                    f"{fast['s_mean']:.3f} s/epoch, {100 * fast['acc_mean']:.2f}%"
                )
    elif len(table[table["seeds"] > 0]):
        lines.append(
            f"timing only: no accuracy was measured ({program_name()} scaling --replot SWEEP_ID draws the rates)"
        )
    return lines


def render_report(points, sweep: str, total: int | None) -> str:
    from tabulate import tabulate

    table = summarize(points)
    keys = [c for c in varying(points) if c not in ("backend", "dtype")]
    shown = ["backend", "dtype", *keys]
    headers = [{"batch_size": "batch"}.get(c, c) for c in shown]
    headers += ["seeds", "accuracy % (mean ± std)", "s/epoch (mean ± std)", "failed"]
    body = [
        [_cell(c, r[c]) for c in shown]
        + [r["seeds"], _pm(r["acc_mean"], r["acc_std"], 100, 2), _pm(r["s_mean"], r["s_std"], 1, 3), r["failed"] or ""]
        for _, r in table.iterrows()
    ]
    done = points[points["_done"]]
    failed = points[~points["_done"]]
    total = total or len(points)
    hosts = done.groupby("host", sort=True).size()
    machine = "; ".join(f"{h} ({done[done['host'] == h]['cpu'].iloc[0]}, {n} jobs)" for h, n in hosts.items())
    seeds = sorted(points["seed"].unique())
    lines = [
        f"sweep {sweep}: {len(done)} of {total} points have results, {len(failed)} failed, "
        f"{max(total - len(done) - len(failed), 0)} not run",
        f"ran on: {machine or 'no host'}; one BLAS/numba thread per job, one job per worker",
        f"over seeds {', '.join(f'{s:g}' for s in seeds)}: accuracy is the test accuracy after the last epoch; "
        f"s/epoch is each job's median epoch",
        "",
        tabulate(body, headers=headers, disable_numparse=True),
        "",
        *_best_lines(table, keys or ["layers"]),
    ]
    timed = table[table["seeds"] > 1]
    noisy = timed[timed["s_std"] > NOISE * timed["s_mean"]]
    if len(noisy):
        lines.append(
            f"noise: seconds per epoch vary by more than {NOISE:.0%} of the mean across seeds in {len(noisy)} "
            f"of {len(timed)} configurations (the seeds train the same network at the same cost): other "
            "work shared the machine; for timings to publish, run with fewer --workers than cores"
        )
    if len(failed):
        lines.append(f"failed points ({len(failed)}; rerun them with --resume {sweep}):")
        for _, r in failed.head(10).iterrows():
            lines.append(f"  {r['point']}: {r['reason']}")
        if len(failed) > 10:
            lines.append(f"  ... and {len(failed) - 10} more in sweep.csv")
    return "\n".join(lines)


def print_report(results: Path, sweep: str | None = None) -> int:
    from bench.sweep_plot import write_plot

    points, sweep = read_sweep(results, sweep)
    total = None
    if Manifest.path(results, sweep).exists():
        try:
            total = Manifest.read(results, sweep).points
        except UserError as exc:  # the rows are what the report is about; the count of points is a detail
            warnings.warn(f"{exc}; the report counts the points in sweep.csv only", stacklevel=2)
    print(render_report(points, sweep, total))
    try:
        path = write_plot(points, sweep, results)
    except Exception as exc:  # noqa: BLE001 - the table is printed; a plotting failure must not hide it
        print(f"warning: plot not written ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 0
    if path:
        print(f"plot: {path}")
    return 0
