"""The sentences under the comparison table: the finding in words (what the library and tuning bought,
the fastest row against the strongest peer), what threads bought, the failed rows, the warnings about
noisy or cold epochs, and the configuration, ceiling and machine. The rows are bench/report_rows.py's."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.report_rows import DRIFT_EPOCHS, QUOTED, lines_of_code, ordered, plain_baseline, unverified
from core.errors import program_name

if TYPE_CHECKING:
    import pandas as pd

NOISE = 0.10  # warn when (max - min) / median of epoch times exceeds this, as pyperf does
WARMUP_SLACK = 0.01  # epoch 1 may exceed the slowest later epoch by this fraction before a warning


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
        before, after = lines_of_code(base["loc"]), lines_of_code(r.loc)
        loc = f", {before} -> {after} lines" if before is not None and after is not None else ""
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
            # like with like: the peer's row at the fastest row's threads and dtype where it ran so
            alike = measured[
                (measured["backend"] == peer.backend)
                & (measured["threads"] == best["threads"])
                & (measured["dtype"] == best["dtype"])
            ]
            rival = next(alike.itertuples()) if len(alike) else peer
            text += f", {rival.median_train_s / best['median_train_s']:.1f}x faster than {_row_name(rival)}, the strongest peer"
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
    lines = []
    if gains:
        lines.append(
            f"More threads, against {counts[0]}: {', '.join(gains)} (below 1x: slower; rows from separate "
            f"processes: {program_name()} ab NAME NAME --threads-b {counts[-1]} times them side by side)."
        )
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


def configuration_line(summary: pd.DataFrame) -> str:
    r = summary.iloc[0]
    return (
        f"layers {r['layers']}, {r['activation']}, {r['loss']} cost, batch {r['batch_size']}, "
        f"lr {r['lr']}, seed {r['seed']}"
    )


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
        return f"Ceiling: not measured for this run ({program_name()} ceiling measures one)."
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


def notes(summary: pd.DataFrame) -> list[str]:
    """Every note under the table, in order."""
    return [
        *ratios(summary),
        *failure_lines(summary),
        *thread_lines(summary),
        *noise_warnings(summary),
        *warmup_warnings(summary),
        f"Configuration: {configuration_line(summary)}.",
        ceiling_line(summary),
        f"Machine: {environment_line(summary)}.",
    ]
