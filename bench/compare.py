"""`bench check` and `bench all`: proof of sameness, and every backend timed side by side."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.options import number, settle_option, spec_from_args, spec_options

DEFAULT_BUDGET_S = 150.0  # per backend; the pure-Python one cannot train 30 full epochs in it
QUICK = {"epochs": 1, "budget": 5.0}
CEILING_QUICK = ["--n", "1024", "--repeats", "3"]  # a smaller product, still at the BLAS's peak here


def add_commands(sub) -> None:
    p = sub.add_parser("all", help="run every available backend, each in a fresh process, and compare them")
    p.add_argument("--backends", help="comma-separated backend names (default: every available one)")
    spec_options(p, several_threads=True)
    p.add_argument("--budget", type=number(float, 1), default=DEFAULT_BUDGET_S,
                   help="seconds per backend; a backend too slow for full epochs is timed on the first batches "
                        "of each epoch and extrapolated (default %(default)s)")  # fmt: skip
    p.add_argument("--full", action="store_true", help="no budget: train every backend on full epochs")
    p.add_argument("--quick", action="store_true", help="a smoke run in seconds: 1 epoch, 5 s budget per backend")
    settle_option(p, spin_up=True)
    p.set_defaults(func=cmd_all)

    p = sub.add_parser("report", help="print the comparison table of a run from results/summary.csv")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="prove a backend matches the float64 numpy reference")
    p.add_argument("name", help="backend name (see: bench list)")
    p.add_argument("--dtype", help="one dtype (default: every dtype the backend supports)")
    p.add_argument("--threads", type=number(int, 1), default=1,
                   help="BLAS and numba threads (default 1, as bench run); numba shares batches among threads")  # fmt: skip
    p.set_defaults(func=cmd_check)

    add_analysis_commands(sub)


def add_analysis_commands(sub) -> None:
    """`bench plot`, `bench ceiling` and `bench scaling`: each module registers its own command."""
    from bench import ceiling, plots, scaling

    plots.add_command(sub)
    ceiling.add_command(sub)
    scaling.add_command(sub)


def cmd_check(args) -> int:
    from tabulate import tabulate

    from core.backend import get_backend, resolve_dtype
    from core.conformance import TOLERANCE, check, configurations
    from core.environment import limit_threads

    backend = get_backend(args.name)
    dtypes = [resolve_dtype(backend, args.dtype)] if args.dtype else list(backend.dtypes)
    rows, failed = [], 0
    for dtype in dtypes:
        for spec in configurations():
            with limit_threads(args.threads):
                r = check(backend, spec, dtype)
            config = f"{spec.layers_str} {spec.activation} {spec.loss}"
            if r.declined:
                rows.append((dtype, config, "declined", "", "", r.declined))
                continue
            worst = max(r.errors, key=lambda e: e[1])
            failed += not r.passed
            rows.append((dtype, config, "pass" if r.passed else "FAIL", f"{worst[1]:.1e} ({worst[0]})",
                         f"{100 * r.agreement:.1f}%", f"tolerance {TOLERANCE[dtype]:.0e}"))  # fmt: skip
    print(tabulate(rows, headers=["dtype", "configuration", "result", "largest error", "same predictions", ""]))
    who = f"{backend.name} with {args.threads} threads" if args.threads > 1 else backend.name
    print(f"{who}: {'FAILED ' + str(failed) + ' configuration(s)' if failed else 'matches the reference'}")
    return 1 if failed else 0


def _child_command(args, backend: str, threads: int, run_id: str, summary_json: Path, budget) -> list[str]:
    cmd = [sys.executable, "-m", "bench", "run", "--backend", backend, "--run-id", run_id,
           "--summary-json", str(summary_json), "--threads", str(threads), "--results", str(args.results),
           "--layers", args.layers, "--activation", args.activation, "--loss", args.loss, "--init", args.init,
           "--batch-size", str(args.batch_size), "--lr", repr(args.lr), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--settle", repr(args.settle)]  # fmt: skip
    if budget is not None:
        cmd += ["--budget", repr(budget)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.unverified:
        cmd.append("--unverified")
    return cmd


def _run_child(cmd: list[str]) -> tuple[int, bool]:
    """Run one backend's process; on Ctrl-C give it time to save its finished epochs."""
    proc = subprocess.Popen(cmd)
    try:
        return proc.wait(), False
    except KeyboardInterrupt:
        try:
            return proc.wait(timeout=30), True
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(), True


def _measure_ceiling(args, run_id: str) -> None:
    """The machine's matmul ceiling for float32 and float64 at the run's thread counts, in a fresh process
    that ends before any backend starts (so no BLAS threads compete), filed under the run's run_id."""
    cmd = [sys.executable, "-m", "bench", "ceiling", "--run-id", run_id, "--results", str(args.results),
           "--threads", ",".join(str(t) for t in args.threads), "--settle", repr(args.settle)]  # fmt: skip
    cmd += CEILING_QUICK if args.quick else []
    print("== the machine's ceiling: numpy matmul, float32 and float64 ==", flush=True)
    code, interrupted = _run_child(cmd)
    if interrupted:
        raise KeyboardInterrupt
    if code != 0:
        print(f"warning: the ceiling measurement exited with code {code}; % of ceiling stays blank", file=sys.stderr)


def _write_plots(results_dir: Path, run_id: str) -> None:
    from bench import plots

    try:
        paths = plots.write_run_plots(results_dir, run_id)
    except Exception as exc:  # noqa: BLE001 - the results are saved; a plotting failure must not hide them
        print(f"warning: plots not written ({type(exc).__name__}: {exc}); "
              f"retry with: python -m bench --debug plot {run_id} --results {results_dir}", file=sys.stderr)  # fmt: skip
        return
    print("plots: " + ", ".join(str(p) for p in paths))


def cmd_all(args) -> int:
    from bench import report
    from core import results
    from core.backend import discover
    from core.errors import UserError
    from core.mnist import load_mnist

    if args.quick:
        args.epochs, args.budget = QUICK["epochs"], QUICK["budget"]
    budget = None if args.full else args.budget
    spec_from_args(args)  # a bad option is reported before anything runs
    registry = discover()
    names = args.backends.split(",") if args.backends else [n for n, e in registry.items() if not e.problem]
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; known: {', '.join(registry)} (see: python -m bench list)")
    load_mnist(args.data_dir, verify=not args.unverified)  # fetch once, before the children need it

    run_id = results.new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    _measure_ceiling(args, run_id)
    rows, interrupted = [], False
    jobs = [(name, threads) for threads in args.threads for name in names
            if threads == args.threads[0] or registry[name].threaded]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, threads) in enumerate(jobs, start=1):
            print(f"\n== {name}, {threads} thread(s) ({i} of {len(jobs)}) ==", flush=True)
            base = {"run_id": run_id, "started_utc": started, "backend": name, "threads": threads,
                    "layers": args.layers, "activation": args.activation, "loss": args.loss, "init": args.init,
                    "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}  # fmt: skip
            if registry[name].problem:
                print(f"skipped: {registry[name].problem}")
                rows.append({**base, "status": "failed", "note": f"unavailable: {registry[name].problem}"})
                continue
            summary_json = Path(tmp) / f"{i}.json"
            code, interrupted = _run_child(_child_command(args, name, threads, run_id, summary_json, budget))
            if summary_json.exists():
                rows.append({**base, **json.loads(summary_json.read_text())})
            else:
                rows.append({**base, "status": "failed", "note": f"its process exited with code {code}"})
            if interrupted:
                break
    for row in rows:
        for key in ("median_train_s", "min_train_s", "max_train_s", "final_accuracy", "time_to_95_s",
                    "compile_s", "setup_s", "gflops", "speedup"):  # fmt: skip
            row[key] = float(row[key]) if row.get(key) not in (None, "") else math.nan
    results.fill_speedups(rows)
    results.append_rows(args.results / "summary.csv", results.SUMMARY_COLUMNS, rows)
    summary = report.read_summary(args.results, run_id)
    print("\n" + report.render(summary))
    report.write_markdown(summary, args.results / "comparison.md", "python -m bench " + shlex.join(sys.argv[1:]))
    print(f"\nwrote {args.results / 'comparison.md'}; every epoch is in {args.results / 'epochs.csv'}")
    _write_plots(args.results, run_id)
    if interrupted:
        print("interrupted: the table holds the backends that finished", file=sys.stderr)
        return 130
    return 1 if any(r.get("status") == "failed" for r in rows) else 0


def cmd_report(args) -> int:
    from bench import report

    print(report.render(report.read_summary(args.results, args.run_id)))
    return 0
