"""`bench all`: every backend, each in a fresh process, timed side by side and compared."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.options import number, settle_option, spec_from_args, spec_options
from core.backend import TIERS
from core.errors import command_line, program_name

TRAINING_S = 420.0  # by default `bench all` shares this many seconds of training among its rows
QUICK = {"epochs": 1, "budget": 5.0}
CEILING_QUICK = ["--n", "1024", "--repeats", "3"]  # a smaller product, still at the BLAS's peak here


class _Unset(int):
    """An option's default number, told apart from the same number typed by the user (argparse keeps a
    non-string default as it is), so that --quick can refuse an --epochs it would otherwise override."""


def add_command(sub) -> None:
    p = sub.add_parser("all")
    p.add_argument("--backends", help="comma-separated backend names (default: every available one)")
    p.add_argument("--tier", choices=TIERS, help="only the backends of this tier (default: both)")
    spec_options(p, several_threads=True)
    p.add_argument(
        "--budget",
        type=number(float, 1),
        help="seconds per row; a backend too slow for full epochs is timed on the first batches "
        f"of each epoch and extrapolated (default: {TRAINING_S:.0f} s shared among the rows)",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--full", action="store_true", help="no budget: train every backend on full epochs")
    length.add_argument("--quick", action="store_true", help="a smoke run in seconds: 1 epoch, 5 s budget per backend")
    settle_option(p, spin_up=True)
    p.set_defaults(func=cmd_all, epochs=_Unset(p.get_default("epochs")))


def _child_command(args, backend: str, threads: int, run_id: str, summary_json: Path, budget) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--backend",
        backend,
        "--run-id",
        run_id,
        "--summary-json",
        str(summary_json),
        "--threads",
        str(threads),
        "--results",
        str(args.results),
        "--layers",
        args.layers,
        "--activation",
        args.activation,
        "--loss",
        args.loss,
        "--init",
        args.init,
        "--batch-size",
        str(args.batch_size),
        "--lr",
        repr(args.lr),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
        "--settle",
        repr(args.settle),
    ]
    if budget is not None:
        cmd += ["--budget", repr(budget)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if args.unverified:
        cmd.append("--unverified")
    return cmd


def _run_child(cmd: list[str]) -> tuple[int, bool]:
    """Run one backend's process; on Ctrl-C (which its process gets too, from the terminal) or a SIGTERM or
    SIGHUP to this one (passed on to it), give it time to save its finished epochs."""
    from bench.cli import INTERRUPTED_BY

    proc = subprocess.Popen(cmd)
    try:
        return proc.wait(), False
    except KeyboardInterrupt:
        if INTERRUPTED_BY:
            proc.send_signal(INTERRUPTED_BY[-1])
        try:
            return proc.wait(timeout=30), True
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(), True


def _measure_ceiling(args, run_id: str) -> None:
    """The machine's matmul ceiling for float32 and float64 at the run's thread counts, in a fresh process
    that ends before any backend starts (so no BLAS threads compete), filed under the run's run_id."""
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "ceiling",
        "--run-id",
        run_id,
        "--results",
        str(args.results),
        "--threads",
        ",".join(str(t) for t in args.threads),
        "--settle",
        repr(args.settle),
    ]
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
        print(
            f"warning: plots not written ({type(exc).__name__}: {exc}); "
            f"retry with: {program_name()} --debug plot {run_id} --results {results_dir}",
            file=sys.stderr,
        )
        return
    print("plots: " + ", ".join(str(p) for p in paths))


def plan(args, registry) -> tuple[list[str], list[tuple[str, int]]]:
    """The backends `bench all` runs and its rows, (name, threads): every backend at the first thread
    count, and the tuned ones that can use threads at the others too (a plain row is a first attempt)."""
    from core.backend import unknown_backend
    from core.errors import UserError

    names = named(args.backends)
    if names is not None:
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise UserError(unknown_backend(unknown[0], registry))
    else:
        names = [n for n, e in registry.items() if not e.problem]
    if args.tier:
        names = [n for n in names if registry[n].tier == args.tier]
        if not names:
            raise UserError(f"no backend of tier {args.tier} is selected (see: {program_name()} list)")
    from bench.report_rows import SUBSTRATE_ORDER

    rank = {s: i for i, s in enumerate(SUBSTRATE_ORDER)}  # the table's order: no library first
    names.sort(key=lambda n: (rank.get(registry[n].substrate, len(rank)), registry[n].substrate, registry[n].tier, n))
    jobs = [
        (name, threads)
        for threads in args.threads
        for name in names
        if threads == args.threads[0] or (registry[name].threaded and registry[name].tier == "tuned")
    ]
    return names, jobs


def named(backends: str | None) -> list[str] | None:
    """The names in --backends (comma-separated); None where it was not given (every available backend)."""
    from core.errors import UserError

    if backends is None:
        return None
    names = [n.strip() for n in backends.split(",") if n.strip()]
    if not names:
        raise UserError(
            f"--backends names no backend; give names such as numpy-plain,numba-tuned (see: {program_name()} list)"
        )
    return names


def _refuse_conflicts(args) -> None:
    """--quick sets the epochs and the budget, --full removes the budget: either, with an option it would
    override, is refused rather than one of them silently ignored."""
    from core.errors import UserError

    given = [f"--epochs {args.epochs}"] if not isinstance(args.epochs, _Unset) else []
    given += [f"--budget {args.budget:g}"] if args.budget is not None else []
    if args.quick and given:
        raise UserError(
            f"--quick sets 1 epoch and a {QUICK['budget']:g} s budget, so it conflicts with {' and '.join(given)}; "
            "drop one of them"
        )
    if args.full and args.budget is not None:
        raise UserError(f"--full trains without a time budget, so it conflicts with --budget {args.budget:g}; drop one")


def cmd_all(args) -> int:
    from bench import report
    from bench.cli import INTERRUPTED_BY
    from bench.report_rows import read_summary
    from core import results
    from core.backend import registry_of
    from core.environment import check_threads
    from core.mnist import load_mnist

    _refuse_conflicts(args)
    if args.quick:
        args.epochs, args.budget = QUICK["epochs"], QUICK["budget"]
    spec_from_args(args)  # a bad option is reported before anything runs
    for threads in args.threads:
        check_threads(threads)
    registry = registry_of(named(args.backends))  # the backends named alone, where they are found
    _, jobs = plan(args, registry)
    results.check_writable(args.results)  # before the data, the ceiling or any child
    results.set_aside_other_columns(args.results / "summary.csv", results.SUMMARY_COLUMNS)
    budget = None if args.full else args.budget or TRAINING_S / len(jobs)
    print(
        f"{len(jobs)} rows: {', '.join(f'{n} ({t}t)' for n, t in jobs)}; "
        + ("full epochs, no time budget" if budget is None else f"a time budget of {budget:.0f} s each")
    )
    load_mnist(args.data_dir, verify=not args.unverified)  # fetch once, before the children need it

    run_id = results.new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    _measure_ceiling(args, run_id)
    rows, interrupted = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, threads) in enumerate(jobs, start=1):
            print(f"\n== {name}, {threads} thread(s) ({i} of {len(jobs)}) ==", flush=True)
            base = {
                "run_id": run_id,
                "started_utc": started,
                "backend": name,
                "threads": threads,
                "layers": args.layers,
                "activation": args.activation,
                "loss": args.loss,
                "init": args.init,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "seed": args.seed,
                "substrate": registry[name].substrate,
                "tier": registry[name].tier,
                "data": "UNVERIFIED" if args.unverified else "MNIST",
            }
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
        for key in (
            "median_train_s",
            "min_train_s",
            "max_train_s",
            "final_accuracy",
            "initial_loss",
            "final_loss",
            "time_to_95_s",
            "compile_s",
            "setup_s",
            "gflops",
            "speedup",
        ):
            row[key] = float(row[key]) if row.get(key) not in (None, "") else math.nan
    results.fill_speedups(rows)
    results.append_rows(args.results / "summary.csv", results.SUMMARY_COLUMNS, rows)
    summary = read_summary(args.results, run_id)
    print("\n" + report.render(summary, wide=False))
    report.write_markdown(summary, args.results / "comparison.md", command_line())
    print(f"\nwrote {args.results / 'comparison.md'}; every epoch is in {args.results / 'epochs.csv'}")
    _write_plots(args.results, run_id)
    if interrupted:
        print("interrupted: the table holds the backends that finished", file=sys.stderr)
        return 128 + INTERRUPTED_BY[0] if INTERRUPTED_BY else 130
    if not any(r.get("status") in ("ok", "budget") for r in rows):
        print("error: no backend finished well (see the table's notes)", file=sys.stderr)
        return 1
    return 1 if any(r.get("status") == "failed" for r in rows) else 0
