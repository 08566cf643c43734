"""The comparison table of one run, read back from results/summary.csv, for the terminal and markdown.

Measured rows come from the CSV; the Rust experiment's two rows are quoted, marked as such, and
never mixed into the measured ratios.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from bench.options import DEFAULT_RESULTS

if TYPE_CHECKING:
    import pandas as pd

# Quoted from the published Rust experiment (Mac M2 Pro), not measured here.
QUOTED = [
    {"backend": "rust Vec<f32>", "dtype": "float32", "threads": 1, "median_train_s": 4.0, "final_accuracy": 0.9556},
    {"backend": "rust ndarray", "dtype": "float32", "threads": 1, "median_train_s": 0.65, "final_accuracy": 0.9556},
]
QUOTED_NOTE = "quoted from the Rust experiment (Mac M2 Pro), not measured here"
NOISE = 0.10  # warn when (max - min) / median of epoch times exceeds this, as pyperf does


SUMMARY_NUMBERS = (
    "threads",
    "batch_size",
    "lr",
    "seed",
    "epochs_run",
    "median_train_s",
    "min_train_s",
    "max_train_s",
    "setup_s",
    "compile_s",
    "final_accuracy",
    "time_to_95_s",
    "samples_timed",
    "speedup",
    "gflops",
    "cores",
)
SUMMARY_READ = (
    "run_id",
    "started_utc",
    "backend",
    "dtype",
    "layers",
    "activation",
    "loss",
    "extrapolated",
    "status",
    "note",
    "host",
    "cpu",
    "os",
    "python",
    "numpy",
    "numba",
    "blas",
    *SUMMARY_NUMBERS,
)


def read_summary(results: Path, run_id: str | None = None) -> pd.DataFrame:
    """The summary rows of `run_id` (default: the latest run) from results/summary.csv."""
    from core.errors import UserError
    from core.results import read_csv

    path = Path(results) / "summary.csv"
    if not path.exists():
        raise UserError(f"{path} does not exist yet; run `python -m bench all` first")
    df = read_csv(path, SUMMARY_READ, SUMMARY_NUMBERS, dtype={"run_id": str, "layers": str, "note": str})
    if df.empty:
        raise UserError(f"{path} holds no runs yet; run `python -m bench all` first")
    run_id = run_id or df["run_id"].iloc[-1]
    rows = df[df["run_id"] == run_id]
    if rows.empty:
        raise UserError(f"no run {run_id!r} in {path}; runs there: {', '.join(df['run_id'].unique()[-5:])}")
    return with_epoch_stats(with_ceiling(rows.reset_index(drop=True), results), results)


DRIFT_EPOCHS = 5  # the first and the last this many epochs are compared


def with_epoch_stats(summary: pd.DataFrame, results: Path) -> pd.DataFrame:
    """Add each row's median epoch seconds over its first and its last 5 epochs (`first_s`, `last_s`)
    from results/epochs.csv; NaN where the file or the epochs (10 at least) are missing. Also epoch 1's
    seconds and the slowest later epoch's (`epoch1_s`, `later_max_s`), where there are 2 epochs or more."""
    summary = summary.copy()
    summary["first_s"] = summary["last_s"] = summary["epoch1_s"] = summary["later_max_s"] = math.nan
    path = Path(results) / "epochs.csv"
    if not path.exists():
        return summary
    from core.results import read_csv

    epochs = read_csv(
        path,
        ("run_id", "backend", "dtype", "threads", "epoch", "train_s", "status"),
        ("threads", "epoch", "train_s"),
        dtype={"run_id": str},
    )
    epochs = epochs[(epochs["run_id"] == summary["run_id"].iloc[0]) & (epochs["status"] == "ok")]
    for i, r in summary.iterrows():
        seconds = epochs[
            (epochs["backend"] == r["backend"]) & (epochs["dtype"] == r["dtype"]) & (epochs["threads"] == r["threads"])
        ].sort_values("epoch")["train_s"]
        if len(seconds) >= 2 * DRIFT_EPOCHS:
            summary.loc[i, "first_s"] = seconds.iloc[:DRIFT_EPOCHS].median()
            summary.loc[i, "last_s"] = seconds.iloc[-DRIFT_EPOCHS:].median()
        if len(seconds) >= 2:
            summary.loc[i, "epoch1_s"], summary.loc[i, "later_max_s"] = seconds.iloc[0], seconds.iloc[1:].max()
    return summary


def with_ceiling(summary: pd.DataFrame, results: Path) -> pd.DataFrame:
    """Add each row's machine ceiling (GFLOP/s for its dtype and threads, and the matrix size) from
    results/ceiling.csv, measured under the same run_id; NaN where it was not measured."""
    from bench.ceiling import read_ceiling

    ceiling = read_ceiling(results, summary["run_id"].iloc[0])
    keys = [(r.dtype, int(r.threads)) if isinstance(r.dtype, str) else None for r in summary.itertuples()]
    summary = summary.copy()
    summary["ceiling_gflops"] = [ceiling.get(k, (math.nan, 0))[0] for k in keys]
    summary["ceiling_n"] = [ceiling.get(k, (math.nan, 0))[1] for k in keys]
    return summary


def percent_of_ceiling(gflops: float, ceiling: float) -> str:
    """'59.8%', '2.3%', '0.035%': one decimal from 10% up (so that 59.8% does not read as 60%
    beside a 60% target), two significant figures below; blank when either is unknown."""
    if gflops is None or ceiling is None or math.isnan(gflops) or math.isnan(ceiling) or ceiling <= 0:
        return ""
    pct = 100 * gflops / ceiling
    return f"{pct:.1f}%" if pct >= 10 else f"{pct:.2g}%"


def _s(x: float, digits: int = 3) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _timing(row) -> str:
    return ("UNVERIFIED data: " if unverified(row) else "") + _timing_alone(row)


def _timing_alone(row) -> str:
    status, note = row.get("status", "ok"), row.get("note")
    note = "" if not isinstance(note, str) else note
    if status == "failed":
        return f"FAILED: {note}"
    if status in ("diverged", "stalled"):
        return f"{status.upper()}: {note}"
    if row.get("extrapolated") in (True, "true", "True"):
        return f"extrapolated from {int(row['samples_timed']):,} samples/epoch, {int(row['epochs_run'])} epochs"
    text = f"measured, {int(row['epochs_run'])} epochs"
    return text + (f" ({status})" if status not in ("ok", None) else "")


def add_command(sub) -> None:
    p = sub.add_parser("report", help="print the comparison table of a run from results/summary.csv")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    p.add_argument(
        "--wide", action="store_true", help="every column (as in results/comparison.md), not the 100-column table"
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    print(render(read_summary(args.results, args.run_id), wide=args.wide))
    return 0


SUBSTRATE_ORDER = ("python", "numpy", "numba", "torch", "jax")  # the seed's story: no library, then libraries


def ordered(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows by substrate (the known ones first, in SUBSTRATE_ORDER), plain before tuned, then dtype and threads."""
    df = summary.copy()
    substrate = (
        df["substrate"].fillna(df["backend"].str.split("-").str[0])
        if "substrate" in df
        else df["backend"].str.split("-").str[0]
    )
    df["substrate"] = substrate
    if "tier" not in df:
        df["tier"] = ""
    df["tier"] = df["tier"].fillna("")
    rank = {s: i for i, s in enumerate(SUBSTRATE_ORDER)}
    df["_rank"] = [rank.get(s, len(rank)) for s in substrate]
    df["_plain_named"] = df["backend"] != df["substrate"] + "-plain"  # numpy-plain before numpy-per-sample
    df = df.sort_values(["_rank", "substrate", "tier", "_plain_named", "backend", "dtype", "threads"], kind="stable")
    return df.drop(columns=["_rank", "_plain_named"]).reset_index(drop=True)


def plain_baseline(summary: pd.DataFrame, row) -> pd.Series | None:
    """The plain row that `row` is compared with: its substrate's `<substrate>-plain` (else another plain
    row of it), at the same dtype and one thread; None where the run has none."""
    same = summary[
        (summary["substrate"] == row["substrate"])
        & (summary["tier"] == "plain")
        & (summary["dtype"] == row["dtype"])
        & (summary["threads"] == 1)
        & summary["median_train_s"].notna()
    ]
    if same.empty:
        return None
    named = same[same["backend"] == row["substrate"] + "-plain"]
    return (named if not named.empty else same).iloc[0]


def vs_plain(summary: pd.DataFrame, row) -> float:
    """How many times faster than its substrate's plain row `row` ran (NaN where there is none)."""
    base = plain_baseline(summary, row)
    if base is None or not row["median_train_s"] > 0:
        return math.nan
    return base["median_train_s"] / row["median_train_s"]


def _x(ratio: float) -> str:
    return "" if math.isnan(ratio) else f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def _loc(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) or value == "" else str(int(value))


def unverified(row) -> bool:
    return str(row.get("data", "")).startswith("UNVERIFIED")


def _short_timing(row) -> str:
    status = row.get("status", "ok")
    if status in ("failed", "diverged", "stalled"):
        return status.upper() + " (below)"
    if unverified(row):
        return "UNVERIFIED data"
    epochs = int(row["epochs_run"]) if not math.isnan(row.get("epochs_run", math.nan)) else 0
    if row.get("extrapolated") in (True, "true", "True"):
        return f"{epochs} ep, extrapolated*"
    return f"{epochs} ep" + (f" ({status})" if status not in ("ok", None) else "")


def table_rows(summary: pd.DataFrame, wide: bool = True) -> list[list[str]]:
    summary = ordered(summary)
    rows = []
    for _, r in summary.iterrows():
        r = r.to_dict()
        spread = f"{_s(r['min_train_s'])}-{_s(r['max_train_s'])}" if not math.isnan(r["min_train_s"]) else ""
        accuracy = "" if math.isnan(r["final_accuracy"]) else f"{100 * r['final_accuracy']:.2f}%"
        dtype = r["dtype"] if isinstance(r["dtype"], str) else ""
        plain = _x(vs_plain(summary, r))
        if wide:
            rows.append(
                [
                    r["backend"],
                    r["tier"],
                    dtype,
                    r["threads"],
                    _s(r["median_train_s"]),
                    spread,
                    "" if math.isnan(r["speedup"]) else f"{r['speedup']:.1f}x",
                    plain,
                    _loc(r.get("loc")),
                    accuracy,
                    _s(r["time_to_95_s"], 1),
                    _s(r["compile_s"], 2),
                    _s(r["setup_s"], 2),
                    _s(r["gflops"], 2),
                    percent_of_ceiling(r["gflops"], r.get("ceiling_gflops", math.nan)),
                    _timing(r),
                ]
            )
        else:
            spread_pct = (
                (r["max_train_s"] - r["min_train_s"]) / r["median_train_s"] if r["median_train_s"] > 0 else math.nan
            )
            rows.append(
                [
                    r["backend"],
                    dtype,
                    r["threads"],
                    _s(r["median_train_s"]),
                    "" if math.isnan(spread_pct) else f"{100 * spread_pct:.0f}%",
                    plain,
                    _loc(r.get("loc")),
                    accuracy,
                    _short_timing(r),
                ]
            )
    for q in QUOTED:
        if wide:
            rows.append(
                [
                    q["backend"],
                    "",
                    q["dtype"],
                    q["threads"],
                    f"{q['median_train_s']:.2f}",
                    "",
                    "",
                    "",
                    "",
                    f"{100 * q['final_accuracy']:.2f}%",
                    "",
                    "",
                    "",
                    "",
                    "",
                    QUOTED_NOTE,
                ]
            )
        else:
            rows.append(
                [
                    q["backend"],
                    q["dtype"],
                    q["threads"],
                    f"{q['median_train_s']:.2f}",
                    "",
                    "",
                    "",
                    f"{100 * q['final_accuracy']:.2f}%",
                    "quoted, M2 Pro",
                ]
            )
    return rows


HEADERS = [
    "backend",
    "tier",
    "dtype",
    "threads",
    "s/epoch (median)",
    "min-max",
    "speedup",
    "vs plain",
    "lines",
    "test acc",
    "s to 95%",
    "compile s",
    "setup s",
    "GFLOP/s",
    "% of ceiling",
    "timing",
]
COMPACT_HEADERS = ["backend", "dtype", "thr", "s/epoch", "spread", "vs plain", "lines", "acc", "timing"]


def _row_name(r) -> str:
    return f"{r.backend} ({r.dtype}, {r.threads}t)"


def ratios(summary: pd.DataFrame) -> list[str]:
    """The finding in words, as the seed said it: what the library bought over plain code, what tuning
    bought in each substrate, and the fastest row against the strongest peer; the quoted Rust first."""
    quoted = QUOTED[0]["median_train_s"] / QUOTED[1]["median_train_s"]
    lines = [f"Rust, quoted: ndarray {quoted:.1f}x faster than Vec<f32> (4.0 s vs 0.65 s per epoch, Mac M2 Pro)."]
    df = ordered(summary)
    ok = df[df["median_train_s"].notna() & (df["threads"] == 1)]
    by_name = {}
    for r in ok.itertuples():  # each backend's row at one thread, preferring float32 as the seed's
        if r.backend not in by_name or r.dtype == "float32":
            by_name[r.backend] = r
    chosen = {r.Index for r in by_name.values()}

    def faster(a, b) -> str:  # "b is 3.1x faster than a"
        ratio = a.median_train_s / b.median_train_s
        word = "faster" if ratio >= 1 else "slower"
        return (
            f"{_row_name(b)} {max(ratio, 1 / ratio):.1f}x {word} than {_row_name(a)} "
            f"({a.median_train_s:.3f} -> {b.median_train_s:.3f} s/epoch)"
        )

    library = []
    numpy_plain = by_name.get("numpy-plain")
    if numpy_plain is not None:
        for plain in ("python-plain", "numba-plain"):
            if plain in by_name:
                library.append(faster(by_name[plain], numpy_plain))
    if library:
        lines.append(
            "Plain code to the library, measured here: "
            + "; ".join(library)
            + " (numba-plain is the compiled-loops analogue of Vec<f32>, numpy-plain of ndarray)."
        )
    tuning = []
    for r in ok[ok["tier"] == "tuned"].itertuples():
        if r.Index not in chosen:
            continue
        base = plain_baseline(df, df.loc[r.Index])
        if base is None:
            continue
        loc = ""
        if _loc(r.loc) and _loc(base["loc"]):
            loc = f", {_loc(base['loc'])} -> {_loc(r.loc)} lines"
        tuning.append(
            f"{r.substrate} {base['median_train_s'] / r.median_train_s:.2f}x "
            f"({base['backend']} -> {r.backend}, {r.dtype}{loc})"
        )
    if tuning:
        lines.append("What tuning bought, tuned against plain at one thread: " + "; ".join(tuning) + ".")
    measured = df[df["median_train_s"].notna()]
    peer = by_name.get("jax-tuned")
    if len(measured) >= 2:
        best = measured.loc[measured["median_train_s"].idxmin()]
        best_t = next(measured.loc[[best.name]].itertuples())
        text = f"Fastest row: {_row_name(best_t)}, {best['median_train_s']:.3f} s/epoch"
        if peer is not None and peer.backend != best["backend"]:
            text += f", {peer.median_train_s / best['median_train_s']:.1f}x faster than {_row_name(peer)}, the strongest peer"
            one = by_name.get(best["backend"])
            if one is not None and best["threads"] != 1:
                text += f" ({peer.median_train_s / one.median_train_s:.1f}x at one thread each)"
        lines.append(text + ".")
    return lines


def thread_lines(summary: pd.DataFrame) -> list[str]:
    """What more threads bought each backend, as a ratio of its median epochs in this run."""
    counts = sorted(summary["threads"].dropna().unique())
    if len(counts) < 2:
        return []
    gains, single = [], []
    for backend, rows in summary.dropna(subset=["median_train_s"]).groupby("backend", sort=False):
        seconds = rows.groupby("threads")["median_train_s"].min()
        if len(seconds) < 2:
            single.append(backend)
            continue
        gains.append(f"{backend} {seconds.iloc[0] / seconds.iloc[-1]:.2f}x with {seconds.index[-1]}")
    lines = [f"More threads, against {counts[0]}: " + ", ".join(gains) + " (below 1x: slower)."] if gains else []
    if single:
        lines.append(
            f"At one thread only: {', '.join(single)} (plain rows are a first attempt; the others cannot use "
            "more threads)."
        )
    return lines


def noise_warnings(summary: pd.DataFrame) -> list[str]:
    """A spread of epoch times above NOISE, and whether the epochs drifted: a run whose last epochs are
    slower than its first (float32 subnormals as sigmoid units saturate, see docs/kernels.md) is not noise."""
    out = []
    for r in summary.itertuples():
        if not (r.median_train_s > 0 and (r.max_train_s - r.min_train_s) / r.median_train_s > NOISE):
            continue
        line = (
            f"warning: {r.backend} ({r.dtype}, {r.threads}t) epoch times spread "
            f"{100 * (r.max_train_s - r.min_train_s) / r.median_train_s:.0f}% of the median "
            f"({r.min_train_s:.3f}-{r.max_train_s:.3f} s)"
        )
        drift = r.last_s / r.first_s - 1 if r.first_s > 0 else math.nan
        if not drift > NOISE / 2:
            line += "; the machine was busy, rerun to confirm"
        else:
            line += (
                f"; the last {DRIFT_EPOCHS} epochs took {100 * drift:.0f}% longer than the first "
                f"{DRIFT_EPOCHS} ({r.first_s:.3f} -> {r.last_s:.3f} s): they slowed as training went on"
            )
            if r.max_train_s > (1 + NOISE) * r.last_s:
                line += "; single epochs were slower still: the machine was busy"
        out.append(line)
    return out


WARMUP_SLACK = 0.01  # epoch 1 may exceed the slowest later epoch by this fraction before a warning


def warmup_warnings(summary: pd.DataFrame) -> list[str]:
    """Rows whose epoch 1 was slower than every later epoch: the backend's `warmup` left a first-call
    cost (compiling, starting BLAS threads, allocating) inside the first timed epoch."""
    out = []
    for r in summary.itertuples():
        if r.epoch1_s > (1 + WARMUP_SLACK) * r.later_max_s:  # False when either is NaN
            out.append(
                f"warning: {r.backend} ({r.dtype}, {r.threads}t) epoch 1 took {r.epoch1_s:.3f} s, more than "
                f"any later epoch (at most {r.later_max_s:.3f} s): its warm-up left a first-call cost in the "
                "timed epoch, or the machine was busy then"
            )
    return out


def environment_line(summary: pd.DataFrame) -> str:
    r = summary.iloc[0]
    return (
        f"{r['cpu']} ({r['cores']} cores), {r['os']}, Python {r['python']}, numpy {r['numpy']}, "
        f"numba {r['numba']}, BLAS {r['blas']}; host {r['host']}, run {r['run_id']} at {r['started_utc']}"
    )


def ceiling_line(summary: pd.DataFrame) -> str:
    """The ceiling each row's "% of ceiling" divides by, in words."""
    from bench.ceiling import busy_warning

    if "ceiling_gflops" not in summary or summary["ceiling_gflops"].isna().all():
        return "Ceiling: not measured for this run (python -m bench ceiling measures one)."
    ok = summary[summary["ceiling_gflops"].notna()].drop_duplicates(["dtype", "threads"])
    ok = ok.sort_values(["dtype", "threads"])
    parts = [
        f"{r.dtype} {r.threads} thread{'s' if r.threads > 1 else ''} {r.ceiling_gflops:.1f} GFLOP/s"
        for r in ok.itertuples()
    ]
    n = int(ok["ceiling_n"].iloc[0])
    warning = busy_warning({(r.dtype, int(r.threads)): (r.ceiling_gflops, n) for r in ok.itertuples()})
    line = (
        f"Ceiling (this machine's best numpy matmul, {n}x{n}, measured at the start of the run): "
        f"{', '.join(parts)}; % of ceiling = a row's GFLOP/s over the ceiling for its dtype and threads."
    )
    return line + (f"\n{warning}" if warning else "")


def failure_lines(summary: pd.DataFrame) -> list[str]:
    out = []
    marked = [r["backend"] for _, r in summary.iterrows() if unverified(r)]
    if marked:
        out.append(
            f"UNVERIFIED data ({summary['data'].iloc[0].removeprefix('UNVERIFIED: ')}): not MNIST's checked "
            f"files, so these rows are no measure of MNIST: {', '.join(dict.fromkeys(marked))}."
        )
    for r in ordered(summary).itertuples():
        if r.status in ("failed", "diverged", "stalled"):
            out.append(f"{_row_name(r)}: {r.status}: {r.note if isinstance(r.note, str) else ''}")
    return out


def render(summary: pd.DataFrame, fmt: str = "simple", wide: bool = True) -> str:
    """The table and its notes; `wide`: every column (markdown, `report --wide`), else one that fits 100
    columns of a terminal."""
    r = summary.iloc[0]
    config = (
        f"layers {r['layers']}, {r['activation']}, {r['loss']} cost, batch {r['batch_size']}, "
        f"lr {r['lr']}, seed {r['seed']}"
    )
    table = tabulate(
        table_rows(summary, wide), headers=HEADERS if wide else COMPACT_HEADERS, tablefmt=fmt, disable_numparse=True
    )
    if not wide:
        table += (
            "\ns/epoch: median; spread: (max - min) / median; vs plain: times faster than its substrate's "
            "plain row\n(same dtype, one thread); lines: its lines of code; *: timed on part of each epoch "
            f"(see --wide)\nrust rows: {QUOTED_NOTE}"
        )
    failures = failure_lines(summary)
    notes = [
        *ratios(summary),
        *failures,
        *thread_lines(summary),
        *noise_warnings(summary),
        *warmup_warnings(summary),
        f"Configuration: {config}.",
        ceiling_line(summary),
        f"Machine: {environment_line(summary)}.",
    ]
    if not wide:  # a terminal: lines of at most 100 columns
        notes = [textwrap.fill(n, 100, subsequent_indent="  ") for n in "\n".join(notes).splitlines()]
    return table + "\n\n" + ("\n\n" if fmt == "github" else "\n").join(notes)  # markdown: one paragraph each


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
