"""`bench sweep`: train every point of a grid of configurations, each an independent job, on Dask.

    bench sweep --grid "hidden=16,36,128;batch=1,10,32;lr=0.5,3.0;seed=0-4" --backends numpy-tuned,numba-tuned --epochs 3
    bench sweep --grid-file grid.toml                 the same grid as a TOML or YAML file
    bench sweep --preset hidden-batch                 a named grid with its options (scaling: what `bench scaling` runs)
    bench sweep ... --workers 1                       no cluster: the jobs one after another in this process
    bench sweep ... --scheduler tcp://HOST:8786       on an existing Dask cluster whose workers were started
                                                      with: dask worker tcp://HOST:8786 --nthreads 1 --resources train=1
    bench sweep --resume [SWEEP_ID]                   run only the points without a result yet (on the sweep's --workers)
    bench sweep --report [SWEEP_ID]                   accuracy and seconds per epoch across the grid, over seeds

Each point trains through core.driver.train_backend, as `bench run` does, with one BLAS/numba thread,
in a Dask worker process that runs one job at a time (the `train` resource): by default a local
cluster of one single-threaded worker per core. Each job loads MNIST itself (from --data-dir or its
machine's cache), so no arrays travel through the scheduler. This process appends each job's row to
results/sweep.csv as it completes, with the host and environment it ran on; a sweep that is stopped
or loses workers loses no finished job, and --resume runs only what is missing. A grid holds at most
100,000 points.

This module is the command line only: planning is bench/sweep_plan.py's, running bench/sweep_run.py's
(on Dask: bench/sweep_dask.py), the report bench/sweep_report.py's and its figure bench/sweep_plot.py's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.options import DEFAULT_RESULTS, data_options, folder, number
from bench.sweep_plan import PRESETS, WAIT_FOR_WORKERS_S, Preset, SweepRequest, plan
from bench.sweep_report import print_report, read_sweep, render_report, summarize
from bench.sweep_run import human_seconds, job_line, run_sweep
from core.errors import command_line

__all__ = [
    "PRESETS",
    "Preset",
    "SweepRequest",
    "add_command",
    "cmd_sweep",
    "human_seconds",
    "job_line",
    "plan",
    "print_report",
    "read_sweep",
    "render_report",
    "run_sweep",
    "summarize",
]

GRID_HELP = (
    "key=values;... with keys hidden (784-H-10) or layers (784-64-32-10), batch, lr, seed, activation, loss, "
    "init, epochs, dtype (all: each backend's every dtype), samples (train on the first N images); "
    "seed and epochs take ranges a-b"
)


def add_command(sub) -> None:
    p = sub.add_parser(
        "sweep",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_argument_group("the grid")
    source = what.add_mutually_exclusive_group()
    source.add_argument("--grid", metavar="TEXT", help=GRID_HELP)
    source.add_argument(
        "--grid-file", type=Path, metavar="PATH", help="the grid as a TOML or YAML file of key = values"
    )
    presets = "; ".join(f"{k}: {v.summary}" for k, v in PRESETS.items())
    source.add_argument("--preset", choices=sorted(PRESETS), help=presets)
    what.add_argument(
        "--backends", help="comma-separated backend names, or all: every available one (default: numpy-tuned)"
    )
    what.add_argument("--epochs", type=number(int, 1), help="epochs of every point without an epochs key (default 30)")
    what.add_argument(
        "--budget",
        type=number(float, 1),
        metavar="SECONDS",
        help="per job: time the first batches of each epoch and extrapolate when full epochs do not fit",
    )
    where = p.add_argument_group(
        "where the jobs run (default: a local Dask cluster, one single-threaded worker per core)"
    )
    place = where.add_mutually_exclusive_group()
    place.add_argument(
        "--workers",
        type=number(int, 1),
        metavar="N",
        help="local worker processes (default: os.cpu_count(), or on --resume the sweep's own); "
        "1: no cluster, one job after another here",
    )
    place.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="an existing Dask scheduler; its workers need: --nthreads 1 --resources train=1",
    )
    where.add_argument(
        "--wait-workers",
        type=number(float, 0),
        default=WAIT_FOR_WORKERS_S,
        metavar="SECONDS",
        help="with --scheduler: how long to wait for a worker offering train=1 (default %(default)s)",
    )
    state = p.add_argument_group("results")
    state.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="SWEEP_ID",
        help="run only the points without a result in sweep.csv: of this grid, of SWEEP_ID, or (alone) of the latest sweep",
    )
    state.add_argument(
        "--report",
        nargs="?",
        const="latest",
        metavar="SWEEP_ID",
        help="run nothing: print and plot a sweep (default: the latest)",
    )
    data_options(state)
    state.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    state.add_argument("--quiet", action="store_true", help="no progress bar and no line per job")
    p.set_defaults(func=cmd_sweep)


def _from_preset(preset: Preset | None, given, field: str):
    """The option as given on the command line (even ""), else the preset's."""
    return given if given is not None or preset is None else getattr(preset, field)


def cmd_sweep(args) -> int:
    if args.report is not None:
        return print_report(args.results, None if args.report == "latest" else args.report)
    preset = PRESETS[args.preset] if args.preset else None
    request = SweepRequest(
        grid=preset.grid if preset else args.grid,
        grid_file=args.grid_file,
        backends=_from_preset(preset, args.backends, "backends"),
        epochs=_from_preset(preset, args.epochs, "epochs"),
        budget_s=_from_preset(preset, args.budget, "budget_s"),
        data_dir=args.data_dir,
        unverified=args.unverified,
        results=args.results,
        workers=args.workers or (preset.workers if preset and not args.scheduler else None),
        scheduler=args.scheduler,
        resume=args.resume,
        wait_s=args.wait_workers,
        quiet=args.quiet,
        command=command_line(),
        evaluate=preset.evaluate if preset else True,
        preset=args.preset or "",
    )
    return run_sweep(request)
