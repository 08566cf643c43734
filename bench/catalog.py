"""`bench list` and `bench data`: which backends and which data this machine has."""

from __future__ import annotations

import shutil
import sys

from bench.options import data_options


def add_command(sub) -> None:
    p = sub.add_parser("list")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("data")
    data_options(p)
    p.set_defaults(func=cmd_data)


def cmd_list(args) -> int:
    from tabulate import tabulate

    from core.backend import discover

    entries = sorted(discover().values(), key=lambda e: (e.substrate, e.tier, e.name))
    rows = [
        (e.name, e.tier, ", ".join(e.dtypes), "yes" if not e.problem else f"no: {e.problem}", e.summary)
        for e in entries
    ]
    headers = ["backend", "tier", "dtypes", "available", "what it is"]
    table = tabulate(rows, headers=headers)
    if sys.stdout.isatty():  # wrap the two text columns to fit the terminal
        widths = [len(dashes) for dashes in table.splitlines()[1].split("  ")]
        left = shutil.get_terminal_size().columns - sum(widths[:3]) - 2 * 4
        available = min(widths[3], max(11, left // 3))
        table = tabulate(rows, headers=headers, maxcolwidths=[None, None, None, available, max(20, left - available)])
    print(table)
    return 0


def cmd_data(args) -> int:
    from time import perf_counter

    from core.mnist import load_mnist

    t0 = perf_counter()
    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    print(
        f"MNIST: {len(mnist.train_labels):,} training and {len(mnist.test_labels):,} test images, "
        f"verified, from {mnist.source} in {perf_counter() - t0:.2f} s (digest {mnist.digest})"
    )
    return 0
