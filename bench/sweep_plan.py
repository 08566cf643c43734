"""Planning a sweep: what to run, from the command line, a preset or a saved manifest (--resume).

`plan` turns a SweepRequest into the sweep's manifest and its points, every backend checked to be
usable here and every point checked as a Spec, before anything runs. Running them is
bench/sweep_run.py's job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.options import DEFAULT_RESULTS
from core.errors import UserError, program_name
from core.sweep import (
    ALL_BACKENDS,
    Manifest,
    data_identity,
    expand,
    grid_text,
    parse_grid,
    read_grid_file,
    sweep_id,
)

DEFAULT_BACKEND = "numpy-tuned"
WAIT_FOR_WORKERS_S = 60.0


@dataclass(frozen=True)
class Preset:
    """A named sweep: a grid and the options that go with it. Options given on the command line win."""

    grid: str
    epochs: int | None = None
    backends: str | None = None  # None: numpy-tuned; "all": every backend available here
    summary: str = ""
    budget_s: float | None = None
    evaluate: bool = True  # False: timing-only jobs (no test-set evaluation, accuracy left blank)
    workers: int | None = None  # None: one per core


PRESETS = {
    "hidden-batch": Preset("hidden=16,36,64,128,256;batch=1,10,64;seed=0-2", 3, summary="hidden x batch, 3 seeds"),
    "seeds": Preset("seed=0-4", 30, summary="the seed program's configuration over 5 seeds, 30 epochs"),
    # `bench scaling`: seconds per training sample of every backend over hidden x batch, each cell trained
    # for 5 epochs on the first 2,000 images within 2 s (else timed on fewer samples and extrapolated), one
    # cell at a time so that no cell disturbs another's timing. `bench scaling` builds this grid from its
    # options (these are its defaults) and draws the plots.
    "scaling": Preset(
        "hidden=16,36,128,512,1024;batch=1,10,64,256;samples=2000",
        epochs=5,
        backends="all",
        summary="bench scaling's grid: s/sample over hidden x batch, every backend, timing only",
        budget_s=2.0,
        evaluate=False,
        workers=1,
    ),
}


@dataclass
class SweepRequest:
    """What to sweep and where: built from the command line, or by a preset's caller."""

    grid: str | None = None
    grid_file: Path | None = None
    backends: str | None = None  # comma-separated; None: numpy-tuned ("" names no backend: refused)
    epochs: int | None = None
    budget_s: float | None = None
    data_dir: str | None = None
    unverified: bool = False
    results: Path = DEFAULT_RESULTS
    workers: int | None = None  # None: as the sweep resumed was started, else one per core; 1: in this process
    scheduler: str | None = None
    resume: str | None = None  # None: a new sweep; "": this grid's sweep (or the latest); else a sweep id
    wait_s: float = WAIT_FOR_WORKERS_S
    quiet: bool = False
    command: str = ""
    evaluate: bool = True  # False: timing-only jobs
    preset: str = ""  # recorded in the manifest
    resume_hint: str | None = None  # the command that resumes this sweep (default: bench sweep --resume ID)
    report_hint: str | None = None  # the command that reports it (default: bench sweep --report ID)


def _data_dir(text: str | None) -> str | None:
    """--data-dir (or $MNIST_BENCH_DATA) made absolute when it exists here, so workers started elsewhere agree."""
    from core.mnist import DATA_ENV

    text = text or os.environ.get(DATA_ENV) or None
    if text and Path(text).expanduser().is_dir():
        return str(Path(text).expanduser().resolve())
    return text


def backend_names(text: str) -> list[str]:
    """--backends as names: comma-separated, or "all" (every backend available here); refused when empty."""
    if text.strip() == ALL_BACKENDS:
        from core.backend import discover

        names = [name for name, entry in discover().items() if not entry.problem]
        if not names:
            raise UserError(f"--backends all: no backend is available here (see: {program_name()} list)")
        return names
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UserError(
            f"--backends {text!r} names no backend; give names such as numpy-tuned,numba-tuned "
            f"(see: {program_name()} list)"
        )
    return names


def _points(grid, names: list[str], epochs, budget_s, data_dir, unverified, evaluate: bool = True):
    """(every point, the sweep id), each backend checked to be usable here (its module alone imported)."""
    from core.backend import get_backend

    backends = {name: tuple(get_backend(name).dtypes) for name in names}
    points = expand(grid, backends, epochs)
    return points, sweep_id(points, data_identity(data_dir, unverified), budget_s, evaluate)


def _saved_workers(request: SweepRequest, sid: str) -> int | None:
    """The --workers of sweep `sid` as it was started, when it was and this run names none."""
    if request.workers is not None or request.scheduler or not Manifest.path(request.results, sid).exists():
        return request.workers
    try:
        return Manifest.read(request.results, sid).workers
    except UserError:  # a damaged manifest: the grid given rebuilds the sweep; the workers default
        return None


def plan(request: SweepRequest) -> tuple[Manifest, list]:
    """The sweep's manifest and its points, from the grid given or from a saved manifest (--resume ID).

    A resumed sweep runs on the workers it was started with (manifest.workers) unless the request
    names --workers or --scheduler."""
    given = request.grid is not None or request.grid_file is not None
    if request.resume is not None and not given:
        if request.backends is not None or request.epochs or request.budget_s:
            raise UserError(
                "--resume without a grid takes --backends, --epochs and --budget from the sweep it "
                "resumes; drop them, or give the grid again"
            )
        saved = Manifest.read(request.results, request.resume) if request.resume else Manifest.latest(request.results)
        data_dir = _data_dir(request.data_dir) if request.data_dir else saved.data_dir
        unverified = saved.unverified or request.unverified
        grid = parse_grid(saved.grid)
        points, sid = _points(grid, saved.backends, saved.epochs, saved.budget_s, data_dir, unverified, saved.evaluate)
        if sid != saved.sweep_id:
            raise UserError(
                f"sweep {saved.sweep_id} ran on other data than --data-dir {data_dir} gives "
                f"(this would be sweep {sid}); drop --data-dir to use the sweep's own"
            )
        saved.data_dir, saved.unverified = data_dir, unverified
        if request.workers is not None or request.scheduler:
            saved.workers = request.workers  # for this run; the manifest on disk keeps the original
        return saved, points
    if not given:
        raise UserError(
            "say what to sweep: --grid 'hidden=16,36;seed=0-2', --grid-file PATH or --preset NAME "
            f"(see: {program_name()} sweep --help)"
        )
    grid = read_grid_file(request.grid_file) if request.grid_file else parse_grid(request.grid)
    data_dir = _data_dir(request.data_dir)
    names = backend_names(DEFAULT_BACKEND if request.backends is None else request.backends)
    points, sid = _points(grid, names, request.epochs, request.budget_s, data_dir, request.unverified, request.evaluate)
    if request.resume and request.resume != sid:
        raise UserError(
            f"--resume {request.resume} names another sweep than this grid's ({sid}); "
            f"drop the grid to resume {request.resume}, or drop the id"
        )
    manifest = Manifest(
        sweep_id=sid,
        grid=grid_text(grid),
        backends=names,
        epochs=request.epochs,
        budget_s=request.budget_s,
        data_dir=data_dir,
        unverified=request.unverified,
        points=len(points),
        command=request.command,
        evaluate=request.evaluate,
        preset=request.preset,
        workers=_saved_workers(request, sid) if request.resume is not None else request.workers,
    )
    return manifest, points
