"""Command-line options shared by the commands, with one-line errors for bad values."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import fields
from pathlib import Path

from core.environment import SPIN_UP_S
from core.spec import ACTIVATIONS, INITS, LOSSES, Spec, parse_layers

DEFAULT_RESULTS = Path("results")


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help says its default, unless it says so already or there is none to say."""

    def _get_help_string(self, action):
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or unset or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the fix, not a usage dump."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def folder(text: str) -> Path:
    """An argparse type: a folder path; an empty one (which would mean the current folder) is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a folder, e.g. results")
    return Path(text)


def number(kind, low=None):
    """An argparse type: `kind` (int or float), finite, at least `low`; argparse names the option."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text!r}")
        return value

    return convert


def int_list(text: str) -> list[int]:
    """'16,36,128' -> [16, 36, 128] (sorted, without repeats), each at least 1: thread counts, sizes."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,2, got {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"every value must be at least 1, got {text!r}")
    return sorted(set(values))


thread_list = int_list


def default_thread_counts() -> list[int]:
    """[1, 2] where the machine has two cores or more (one thread, as the seed's Rust, then both), else [1]."""
    return [1, 2] if (os.cpu_count() or 1) >= 2 else [1]


def spec_options(p: argparse.ArgumentParser, several_threads: bool = False, results: bool = True) -> None:
    g = p.add_argument_group("network and training (defaults reproduce the seed program)")
    g.add_argument("--layers", default="784,36,10", help="layer sizes, input 784 to output 10 (default %(default)s)")
    g.add_argument("--activation", default="sigmoid", choices=ACTIVATIONS, help="default %(default)s")
    g.add_argument("--loss", default="quadratic", choices=LOSSES, help="cross-entropy uses a softmax output")
    g.add_argument("--init", default="uniform", choices=INITS, help="weight init; uniform is U[-1,1) (default)")
    g.add_argument("--batch-size", type=number(int, 1), default=10, help="default %(default)s")
    g.add_argument("--lr", type=number(float), default=3.0, help="learning rate (default %(default)s)")
    g.add_argument("--epochs", type=number(int, 1), default=30, help="default %(default)s")
    g.add_argument("--seed", type=number(int, 0), default=0, help="one seed for weights and order")
    d = p.add_argument_group("machine and data")
    if several_threads:
        d.add_argument(
            "--threads",
            type=thread_list,
            default=default_thread_counts(),
            help="BLAS and numba threads, e.g. 1,4 (default: 1, as the seed's Rust, and 2 where the "
            "machine has two cores; a backend that cannot use threads runs at the first only)",
        )
    else:
        d.add_argument(
            "--threads", type=number(int, 1), default=1, help="BLAS and numba threads (default 1, as the seed's Rust)"
        )
    data_options(d)
    if results:
        d.add_argument("--results", type=folder, default=DEFAULT_RESULTS, help="results folder (default %(default)s)")


SETTLE_ENV = "MNIST_BENCH_SETTLE"


def _settle_seconds(text: str) -> float:
    try:
        return number(float, 0)(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (given by --settle or ${SETTLE_ENV})") from None


def settle_option(p, spin_up: bool = False) -> None:
    """--settle: see core.environment.settle; `spin_up`: the command then trains a copy (core.driver.spin_up)."""
    then, zero = "", "do not wait"
    if spin_up:
        then = f", then train a copy of the model for {SPIN_UP_S:g} s, untimed, to bring the cores up to speed"
        zero = "neither"
    p.add_argument(
        "--settle",
        type=_settle_seconds,
        metavar="SECONDS",
        default=os.environ.get(SETTLE_ENV, "30"),
        help="before timing, wait up to SECONDS until the kernel has finished returning freed memory "
        "to the host (a VM's free page reporting: each pass stalls the threads; only where the "
        f"kernel shows its counters){then}; 0: {zero} (default 30, or $MNIST_BENCH_SETTLE)",
    )


def data_options(p) -> None:
    p.add_argument("--data-dir", help="folder with the four MNIST IDX files (.gz or not); also $MNIST_BENCH_DATA")
    p.add_argument(
        "--unverified",
        action="store_true",
        help="accept IDX files in --data-dir that are not MNIST's (e.g. Fashion-MNIST)",
    )


def spec_from_args(args, n_train: int = 60_000) -> Spec:
    """The Spec the options ask for: each of its fields from the option of that name, --layers parsed."""
    named = {f.name: getattr(args, f.name) for f in fields(Spec) if f.name not in ("layers", "n_train")}
    return Spec(**named, layers=parse_layers(args.layers), n_train=n_train)
