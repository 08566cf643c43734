"""`bench profile NAME`: where one backend's training step spends its time, part by part.

For one backend it times the full step (the backend's own `train` over the same rows, one call) and
each part of the step alone over those rows: the batch load, forward layer 1, the small layers
(forward and backward of the layers after the first), backward into layer 1, W1's update. It prints
each part's time, its GFLOP/s (docs/design.md's FLOP count for that part) and its share of the
machine's float32/float64 matrix-product ceiling (`bench ceiling`'s measurement, made here in the
same process after the timing), and what fraction of the full step the parts add up to. Nothing is
written to results/.

The backend hook (optional; a backend without it is refused in one line, exit 2):

    profile_parts(model, data, rows, batch_size, lr) -> dict[str, callable]

`model` is a warmed-up copy the hook may train; `data` is the backend's training data and `rows`
the row indices, as `train` takes them. Each value is a callable of no argument that runs that part
alone over every batch of `rows` (the calls the step makes for it, on whatever the step's buffers
hold), in the backend's own compiled loop where it has one, so that a part's time is not the cost
of calling it. The parts should partition the step: their times then add up to the step's, less what
runs between the parts (the loop, the calls) and what they cost each other when they run together
(caches), which the printed fraction shows. The names that have a FLOP count here are those of
PART_NAMES; any other name is timed and shown without GFLOP/s. An empty dict means the backend has
no parts for this configuration (e.g. threads sharing a batch), and the command says so (exit 2).

Why parts alone rather than knocking one part out of the full step (full - knocked out): a knock-out
figure is the difference of two noisy times of the whole step, and a part's time alone is measured
directly; the sum against the full step checks that nothing large is missed or double counted.
The full step and the parts alternate, `--repeat` rounds of each, and the median of each is shown
with its spread (min-max), so that a busy moment of the machine falls on all of them alike.
"""

from __future__ import annotations

import statistics
from time import perf_counter

from bench.options import number, settle_option, spec_from_args, spec_options
from core.errors import UserError

HOOK = "profile_parts"
PART_NAMES = ("load", "forward 1", "small layers", "backward 1", "update W1")


def add_command(sub) -> None:
    p = sub.add_parser(
        "profile",
        description="Time the full training step of one backend and each part of it alone (batch load, "
        "forward layer 1, the small layers, backward into layer 1, W1's update) over the same rows, "
        "with each part's GFLOP/s and share of the matrix-product ceiling.",
    )
    p.add_argument("name", metavar="NAME", help="a backend name (see: bench list) or the path of a backend module")
    p.add_argument("--dtype", help="default: the backend's first")
    p.add_argument(
        "--rows", type=number(int, 1), help="training rows timed per round, from epoch 1's order (default: all)"
    )
    p.add_argument("--repeat", type=number(int, 1), default=5, help="timed rounds of each part and of the step")
    p.add_argument(
        "--ceiling-n", type=number(int, 16), default=None, help="matrix size of the ceiling (default: bench ceiling's)"
    )
    spec_options(p, results=False)
    settle_option(p)
    p.set_defaults(func=cmd_profile)


def part_flops(layers: tuple[int, ...], batch_size: int) -> dict[str, float]:
    """FLOP per sample of each named part, for one hidden layer, adding up to core.spec.flops_per_sample:
    the forward product of layer 1; the small layer's forward product, gradient and update; the
    delta sent back into layer 1; W1's gradient and update (fused in the update's product)."""
    if len(layers) != 3:
        return {}
    n0, n1, n2 = layers
    return {
        "load": 0.0,
        "forward 1": 2.0 * n0 * n1,
        "small layers": 4.0 * n1 * n2 + 2.0 * (n1 + 1) * n2 / batch_size,
        "backward 1": 2.0 * n1 * n2,
        "update W1": 2.0 * n0 * n1 + 2.0 * (n0 + 1) * n1 / batch_size,
    }


def _timed(fn) -> float:
    t0 = perf_counter()
    fn()
    return perf_counter() - t0


def profile(backend, spec, mnist, dtype: str, rows, repeat: int, settle_s: float = 0.0) -> tuple[dict, list[float]]:
    """({part: seconds of each round}, seconds of each round of the full step) over `rows`: the
    backend's `train` on the prepared model, and each of its parts on a copy, alternating."""
    from core.driver import prepare, reloaded
    from core.environment import settle

    ready = prepare(backend, spec, mnist, dtype)
    copy = reloaded(backend, ready.model, ready.train_data, spec, dtype)
    parts = getattr(backend, HOOK)(copy, ready.train_data, rows, spec.batch_size, spec.lr)
    if not parts:
        raise UserError(
            f"{backend.name} offers no profile parts for this configuration (layers {spec.layers_str}, "
            "threads); try --layers 784,36,10 --threads 1"
        )

    def step():
        backend.train(ready.model, ready.train_data, rows, spec.batch_size, spec.lr)

    step()  # untimed: first touches of every part's memory and code
    for run in parts.values():
        run()
    settle(settle_s)
    times = {label: [] for label in parts}
    full = []
    for _ in range(repeat):
        full.append(_timed(step))
        for label, run in parts.items():
            times[label].append(_timed(run))
    return times, full


def cmd_profile(args) -> int:
    from tabulate import tabulate

    from bench.ab import resolve
    from bench.ceiling import measure
    from core.backend import check_supports, resolve_dtype
    from core.ceiling import DEFAULT_N
    from core.environment import check_threads, cpu_model, limit_threads
    from core.mnist import load_mnist
    from core.spec import epoch_order, flops_per_sample

    spec_from_args(args)  # a bad option is reported before anything is loaded
    backend = resolve(args.name)
    if not hasattr(backend, HOOK):
        raise UserError(
            f"{backend.name} has no `{HOOK}` hook, so its step cannot be split into parts "
            "(see bench/profile.py); profile a backend that has one, e.g. numba-tuned"
        )
    dtype = resolve_dtype(backend, args.dtype)
    check_threads(args.threads)
    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    spec = spec_from_args(args, n_train=len(mnist.train_labels))
    check_supports(backend, spec)
    n = len(mnist.train_labels)
    rows = epoch_order(spec.seed, 1, n)[: min(args.rows or n, n)]
    with limit_threads(args.threads):
        times, full = profile(backend, spec, mnist, dtype, rows, args.repeat, args.settle)
    ceiling_n = args.ceiling_n or DEFAULT_N
    ceiling = measure("profile", [dtype], [args.threads], ceiling_n)[0]["gflops"]

    flops = part_flops(spec.layers, spec.batch_size)
    step_s = statistics.median(full)
    table, total = [], 0.0

    def line(label, seconds, spread, fl):
        gflops = fl * len(rows) / seconds / 1e9 if fl and seconds > 0 else None
        table.append(
            [
                label,
                f"{1e3 * seconds:.3f}",
                spread,
                f"{100 * seconds / step_s:.1f}",
                "-" if gflops is None else f"{gflops:.2f}",
                "-" if gflops is None else f"{100 * gflops / ceiling:.1f}",
            ]
        )

    for label, seconds in times.items():
        median = statistics.median(seconds)
        total += median
        line(label, median, f"{1e3 * min(seconds):.3f}-{1e3 * max(seconds):.3f}", flops.get(label))
    part_flop = sum(flops.get(label, 0.0) for label in times)
    line("sum of parts", total, "", part_flop)
    line(
        "full step (train)",
        step_s,
        f"{1e3 * min(full):.3f}-{1e3 * max(full):.3f}",
        flops_per_sample(spec.layers, spec.batch_size),
    )
    print(
        tabulate(
            table,
            headers=["part", "ms", "spread ms", "% of step", "GFLOP/s", "% of ceiling"],
            disable_numparse=True,
        )
    )
    batches = -(-len(rows) // spec.batch_size)
    print(f"the parts account for {100 * total / step_s:.1f}% of the measured full step")
    print(
        f"measured: {backend.name}, {len(rows)} samples ({batches} batches of {spec.batch_size}) a round, "
        f"median of {args.repeat} rounds (spread: min-max), layers {spec.layers_str}, {dtype}, "
        f"{args.threads} thread(s), {cpu_model()}; ceiling {ceiling:.1f} GFLOP/s ({dtype}, {args.threads} "
        f"thread(s), numpy matmul {ceiling_n}x{ceiling_n}, best of the bench ceiling repeats)"
    )
    return 0
