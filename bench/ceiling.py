"""`bench ceiling`: this machine's practical peak GFLOP/s, appended to results/ceiling.csv.

`bench all` runs it in a fresh process before any backend runs (so its BLAS threads never compete
with a backend's) and stores the rows under the run's run_id; `bench report` and `bench plot` read
them back to show each row's achieved GFLOP/s as a percentage of the ceiling for its dtype and
threads. The measuring itself is core.ceiling.matmul_gflops.
"""

from __future__ import annotations

import argparse
import socket
import sys
import warnings
from pathlib import Path

from bench.options import DEFAULT_RESULTS, folder, number, settle_option, thread_list
from core.ceiling import CEILING_COLUMNS, DEFAULT_N, DEFAULT_REPEATS
from core.errors import program_name

DTYPES = ("float32", "float64")


def dtype_list(text: str) -> list[str]:
    dtypes = text.split(",")
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise argparse.ArgumentTypeError(f"dtypes are {' or '.join(DTYPES)}, got {bad[0]!r}")
    return dtypes


def add_command(sub) -> None:
    p = sub.add_parser("ceiling")
    p.add_argument("--threads", type=thread_list, default=[1], help="BLAS thread counts, e.g. 1,2 (default 1)")
    p.add_argument("--dtypes", type=dtype_list, default=list(DTYPES), help="default float32,float64")
    p.add_argument("--n", type=number(int, 16), default=DEFAULT_N, help="matrix size (default %(default)s)")
    p.add_argument(
        "--repeats",
        type=number(int, 1),
        default=DEFAULT_REPEATS,
        help="timed products; the best counts (default %(default)s)",
    )
    p.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    settle_option(p)
    p.add_argument("--run-id", help=argparse.SUPPRESS)  # set by `bench all` to file the rows under its run
    p.set_defaults(func=cmd_ceiling)


def measure(run_id: str, dtypes, threads, n: int = DEFAULT_N, repeats: int = DEFAULT_REPEATS) -> list[dict]:
    """One ceiling.csv row per dtype and thread count."""
    from core.ceiling import matmul_gflops
    from core.environment import blas_info, cpu_model

    blas, cpu, host = blas_info()[0], cpu_model(), socket.gethostname()
    rows = []
    for t in threads:
        for dtype in dtypes:
            gflops, best = matmul_gflops(dtype, t, n, repeats)
            rows.append(
                {
                    "run_id": run_id,
                    "dtype": dtype,
                    "threads": t,
                    "gflops": gflops,
                    "n": n,
                    "blas": blas,
                    "cpu": cpu,
                    "host": host,
                    "repeats": repeats,
                    "best_s": best,
                }
            )
    return rows


def busy_warning(ceiling: dict) -> str:
    """A warning when more threads measured slower than fewer: another process held a core."""
    slower = [
        f"{dtype} {t} threads"
        for (dtype, t), (g, _) in ceiling.items()
        if any(d == dtype and t0 < t and g0 > g for (d, t0), (g0, _) in ceiling.items())
    ]
    if not slower:
        return ""
    return (
        f"warning: {', '.join(sorted(slower))} measured slower than fewer threads: the machine was busy, "
        f"so that ceiling is low; rerun `{program_name()} ceiling` on a quiet machine"
    )


def cmd_ceiling(args) -> int:
    import os

    from tabulate import tabulate

    from core import results
    from core.environment import settle

    if max(args.threads) > (os.cpu_count() or 1):
        warnings.warn(f"{max(args.threads)} threads on {os.cpu_count()} cores: the threads share cores", stacklevel=1)
    run_id = args.run_id or results.new_run_id()
    settled = settle(args.settle)
    rows = measure(run_id, args.dtypes, args.threads, args.n, args.repeats)
    results.append_rows(args.results / "ceiling.csv", CEILING_COLUMNS, rows)
    print(
        tabulate(
            [(r["dtype"], r["threads"], f"{r['gflops']:.1f}", f"{1e3 * r['best_s']:.1f}") for r in rows],
            headers=["dtype", "threads", "GFLOP/s", "best ms"],
            disable_numparse=True,
        )
    )
    print(
        f"numpy matmul {args.n}x{args.n}, best of {args.repeats} after a warm-up; BLAS {rows[0]['blas']}; "
        f"{rows[0]['cpu']}; appended to {args.results / 'ceiling.csv'} (run {run_id})"
    )
    if settled:
        print(f"before measuring: {settled.describe()}")
    warning = busy_warning({(r["dtype"], r["threads"]): (r["gflops"], r["n"]) for r in rows})
    if warning:
        print(warning, file=sys.stderr)
    return 0


def read_ceiling(results: Path, run_id: str) -> dict[tuple[str, int], tuple[float, int]]:
    """{(dtype, threads): (GFLOP/s, n)} measured under `run_id`; empty when there is none (an older run)."""
    path = Path(results) / "ceiling.csv"
    if not path.exists():
        return {}
    from core.results import read_csv

    numbers = ("threads", "gflops", "n")
    df = read_csv(path, ("run_id", "dtype", *numbers), numbers, dtype={"run_id": str, "dtype": str})
    finite = df[list(numbers)].apply(lambda column: column.abs() < float("inf")).all(axis=1)  # NaN and inf fail
    rows = df[(df["run_id"] == run_id) & finite]
    return {(r.dtype, int(r.threads)): (float(r.gflops), int(r.n)) for r in rows.itertuples()}
