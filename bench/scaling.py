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

This module is the command line: reading the cells back, the table and the crossovers are
bench/scaling_report.py's, the figures bench/scaling_plot.py's.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from bench.options import DEFAULT_RESULTS, data_options, folder, int_list, number
from bench.sweep import PRESETS
from core.errors import UserError, command_line, program_name
from core.sweep import ALL_DTYPES, DTYPES, parse_grid

PRESET = "scaling"
_DEFAULTS = parse_grid(PRESETS[PRESET].grid)
DEFAULT_HIDDEN = tuple(_DEFAULTS["hidden"])
DEFAULT_BATCH = tuple(_DEFAULTS["batch"])
DEFAULT_SAMPLES = _DEFAULTS["samples"][0]
DEFAULT_BUDGET_S = PRESETS[PRESET].budget_s
DEFAULT_REPEATS = PRESETS[PRESET].epochs  # epochs per cell; the median counts (a shared machine disturbs some)
DEFAULT_WORKERS = PRESETS[PRESET].workers  # one cell at a time: timings undisturbed by a neighbour


def add_command(sub) -> None:
    # fmt: off
    p = sub.add_parser("scaling")
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
                       help=f"run the cells on an existing Dask cluster (see: {program_name()} sweep --help)")
    p.add_argument("--resume", nargs="?", const="", metavar="SWEEP_ID",
                   help="run only the cells without a result: of this grid, or of SWEEP_ID (whose grid and "
                        "options then come from its manifest)")
    data_options(p)
    p.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")
    p.add_argument("--replot", nargs="?", const="latest", metavar="SWEEP_ID",
                   help="measure nothing: redraw the table and figures of a scaling sweep from results/sweep.csv "
                        "(default: the latest)")
    p.add_argument("--quiet", action="store_true", help="no line per cell while it runs")
    p.set_defaults(func=cmd_scaling)
    # fmt: on


def _backends_and_dtypes(args) -> tuple[list[str], str | None]:
    """(backend names, the grid's dtype value or None for each backend's default), as --backends and
    --dtypes ask; unavailable backends are left out when none were named, with a line saying so."""
    from core.backend import get_backend, registry_of

    names = list(dict.fromkeys(n.strip() for n in (args.backends or "").split(",") if n.strip()))
    registry = registry_of(names)
    if args.backends:
        backends = {n: get_backend(n, registry) for n in names}  # unknown or unavailable: one line, exit 2
    else:
        for name, entry in registry.items():
            if entry.problem:
                print(f"{name}: left out, {entry.problem}")
        backends = {n: e.backend for n, e in registry.items() if not e.problem}
    if not backends:
        raise UserError(f"no backend to measure; see: {program_name()} list")
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
        command=command_line(),
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
    from bench.scaling_report import read_scaling, report_and_plot
    from bench.sweep import plan, run_sweep

    if args.replot:
        frame = read_scaling(args.results, None if args.replot == "latest" else args.replot)
        report_and_plot(frame, args.results)
        return 0
    request = scaling_request(args)
    manifest, points = plan(request)
    sid = manifest.sweep_id
    where = "" if Path(args.results) == DEFAULT_RESULTS else f" --results {shlex.quote(str(args.results))}"
    request.resume_hint = f"{program_name()} scaling --resume {sid}{where}"
    request.report_hint = f"{program_name()} scaling --replot {sid}{where}"
    if manifest.evaluate:
        raise UserError(
            f"sweep {sid} evaluates its jobs: it is not a scaling sweep; see: {program_name()} sweep --report {sid}"
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
