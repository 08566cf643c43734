"""`bench ab A B`: two backends, or two versions of one, timed side by side in one process.

On a shared machine, separate processes running identical code can land several percent apart, more
than most changes to a kernel are worth (docs/timing.md has the measurements). `bench ab` loads both
into one process, gives each its own model from the same initial weights, and trains both on the same
batches, alternating epochs (A then B, then B then A, ...), so that both meet the same machine, and
loads each side's model anew before every epoch, so that neither keeps a lucky or unlucky place in
memory (see `side_by_side`). The figure to read is the median over epochs of B's epoch time over A's,
measured in the same moment. A and B are backend names (`bench list`) or paths to backend modules,
e.g. a copy of a tuned backend being edited; the same one twice measures the method's own resolution,
and with `--threads-b` what more threads buy (the same backend at two thread counts, side by side,
rather than in two processes that may meet a different machine). Nothing is written to results/.
"""

from __future__ import annotations

import math
import statistics
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from bench.options import number, settle_option, spec_from_args, spec_options
from core.errors import BackendError, UserError, program_name


def add_command(sub) -> None:
    p = sub.add_parser(
        "ab",
        description="Train A and B in one process on the same batches, epochs alternating, and "
        "print B's epoch time over A's; --epochs is for each side. One backend at two thread counts "
        "(ab numba-tuned numba-tuned --threads-b 2) times what a second thread buys.",
    )
    p.add_argument("a", metavar="A", help="a backend name (see: bench list) or the path of a backend module (.py)")
    p.add_argument("b", metavar="B", help="the same, for the other side")
    p.add_argument("--dtype", help="the dtype of both (default: each backend's first)")
    spec_options(p, results=False)
    p.add_argument("--threads-b", type=number(int, 1), metavar="N", help="B's threads (default: --threads, A's)")
    settle_option(p)
    p.set_defaults(func=cmd_ab, epochs=20)


@dataclass
class Side:
    label: str  # what the user named: a backend name or a path
    backend: object
    dtype: str
    threads: int | None = None  # BLAS and numba threads for this side (None: as the caller set them)
    seconds: list[float] = field(default_factory=list)
    weights: list = field(default_factory=list)  # after the last epoch
    accuracy: float = float("nan")


def resolve(arg: str):
    """The usable backend that `arg` names: a module file (.py), or else a registered backend."""
    from core.backend import backend_from_file, discover, get_backend
    from core.errors import BackendError

    path = Path(arg)
    if path.suffix == ".py" and path.is_file():
        entry = backend_from_file(path)
        if entry.problem:
            raise UserError(f"{arg}: {entry.problem}")
        return entry.backend
    try:
        return get_backend(arg)
    except BackendError:
        registry = discover()
        if arg in registry:  # known, and unusable: get_backend's line says why
            raise
        raise UserError(
            f"{arg!r} is neither a backend ({', '.join(registry)}) nor a backend module file (.py); "
            f"give a name from `{program_name()} list` or the path of a module"
        ) from None


@contextmanager
def _blame(side: Side, doing: str):
    """An exception from a side's backend becomes one line naming that side (it may be a module under
    edit); --debug still shows the traceback. Inside, the side's own threads (if it has a count)."""
    from core.environment import limit_threads

    try:
        with limit_threads(side.threads) if side.threads else nullcontext():
            yield
    except Exception as exc:
        raise BackendError(
            f"{side.label} failed in {doing}: {type(exc).__name__}: {exc} ({program_name()} --debug ab ... shows where)"
        ) from exc


def side_by_side(sides: list[Side], spec, mnist, settle_s: float = 0.0):
    """Train every side from the same weights on the same batches, epochs alternating; fill in each
    side's epoch seconds, final weights and test accuracy. Only `train` is timed, as in the driver,
    after a wait of up to `settle_s` for a quiet machine; returns that wait (core.environment.settle).

    Before each epoch but the first, every side's model is loaded anew from its weights and warmed up,
    untimed: new memory for its arrays, new threads. Where a model's arrays land can make every epoch
    of it several percent slower, so one model a side for the whole comparison can skew B/A; a new
    one every epoch spreads that luck over both sides (the runs that showed it: docs/timing.md). The
    price is that each epoch is a fresh model's first, a little slower than in a long run. Reloading
    changes no number: `load(weights(model))` is the same model."""
    from core.driver import prepare, reloaded, timed_train
    from core.environment import settle
    from core.spec import epoch_order

    runs = []
    for side in sides:
        with _blame(side, "load/warmup"):
            runs.append((side, prepare(side.backend, spec, mnist, side.dtype)))
    settled = settle(settle_s)
    for epoch in range(1, spec.epochs + 1):
        rows = epoch_order(spec.seed, epoch, len(mnist.train_labels))
        for side, ready in runs if epoch % 2 else runs[::-1]:  # neither side always goes first
            if epoch > 1:
                with _blame(side, "load/warmup"):
                    ready.model = reloaded(side.backend, ready.model, ready.train_data, spec, side.dtype)
            with _blame(side, "train"):
                side.seconds.append(timed_train(side.backend, ready.model, ready.train_data, rows, spec))
    for side, ready in runs:
        with _blame(side, "predict"):
            side.weights = side.backend.weights(ready.model)
            side.accuracy = float((side.backend.predict(ready.model, ready.test_data) == mnist.test_labels).mean())
    return settled


def cmd_ab(args) -> int:
    from tabulate import tabulate

    from core import environment
    from core.backend import check_supports, resolve_dtype
    from core.mnist import load_mnist

    spec_from_args(args)  # a bad option is reported before anything is loaded
    threads = (args.threads, args.threads_b or args.threads)
    environment.check_threads(args.threads)
    environment.check_threads(threads[1], "--threads-b")
    sides = []
    for label, n in zip((args.a, args.b), threads):
        backend = resolve(label)
        sides.append(Side(label, backend, resolve_dtype(backend, args.dtype), n))
    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    spec = spec_from_args(args, n_train=len(mnist.train_labels))
    for side in sides:
        check_supports(side.backend, spec)
    interrupted, settled = False, None
    with environment.limit_threads(args.threads):
        env = environment.capture()
        try:
            settled = side_by_side(sides, spec, mnist, args.settle)
        except KeyboardInterrupt:  # Ctrl-C: report the epochs both sides finished
            interrupted = True
    epochs = min(len(side.seconds) for side in sides)
    if epochs == 0:
        print("interrupted before both sides finished an epoch (bench ab writes nothing)", file=sys.stderr)
        return 130
    for side in sides:
        del side.seconds[epochs:]  # compare whole pairs only
    rows = [
        [
            name,
            side.label,
            side.backend.name,
            side.dtype,
            side.threads,
            f"{statistics.median(side.seconds):.4f}",
            f"{min(side.seconds):.4f}-{max(side.seconds):.4f}",
            "" if math.isnan(side.accuracy) else f"{100 * side.accuracy:.2f}%",
        ]
        for name, side in zip("AB", sides)
    ]
    print(
        tabulate(rows, headers=["", "given", "backend", "dtype", "threads", "s/epoch (median)", "min-max", "test acc"])
    )
    a, b = sides
    ratios = [tb / ta for ta, tb in zip(a.seconds, b.seconds)]
    r = statistics.median(ratios)
    verdict = f"B {100 * (1 - r):.1f}% faster" if r < 1 else f"B {100 * (r - 1):.1f}% slower"
    print(f"\nB/A, epoch by epoch: median {r:.3f} ({verdict}), range {min(ratios):.3f}-{max(ratios):.3f}")
    print(
        f"Measured in one process, {epochs} epochs each, alternating; layers {spec.layers_str}, batch "
        f"{spec.batch_size}, {_threads_text(threads)}; {env['cpu']} ({env['cores']} cores), BLAS {env['blas']}. "
        + (
            "The same backend on both sides shows how far apart identical code lands."
            if threads[0] == threads[1]
            else "With the same backend on both sides, A/B is what B's threads buy over A's."
        )
    )
    if settled:
        print(f"Before epoch 1: {settled.describe()}.")
    if interrupted:
        print(f"interrupted after {epochs} epochs each", file=sys.stderr)
        return 130
    return 0


def _threads_text(threads: tuple[int, int]) -> str:
    a, b = threads
    return f"{a} thread(s)" if a == b else f"A {a} thread(s), B {b}"
