"""The machine's practical ceiling: the best GFLOP/s a large BLAS matrix product reaches here.

A backend's achieved GFLOP/s means little alone; beside what numpy's BLAS gets out of the same
cores on a product large enough to run at its peak (2048 x 2048 by default) it says how close to
the hardware the backend runs, as nanoGPT's MFU does. It is a practical peak, not the datasheet's:
the best of a few timed products after a warm-up, with the BLAS held to a given thread count.
"""

from __future__ import annotations

import math
from time import perf_counter

CEILING_COLUMNS = ["run_id", "dtype", "threads", "gflops", "n", "blas", "cpu", "host", "repeats", "best_s"]
DEFAULT_N = 2048
DEFAULT_REPEATS = 5


def matmul_gflops(dtype: str, threads: int, n: int = DEFAULT_N, repeats: int = DEFAULT_REPEATS) -> tuple[float, float]:
    """(GFLOP/s, best seconds) of an n x n by n x n product in `dtype` on `threads` BLAS threads.

    One untimed product first (the BLAS's first call allocates its buffers and wakes its threads),
    then the best of `repeats`: on a shared machine the fastest run is the one least disturbed.
    """
    import numpy as np

    from core.environment import limit_threads

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    best = math.inf
    with limit_threads(threads):
        np.matmul(a, b, out=out)  # warm-up
        for _ in range(repeats):
            t0 = perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9, best  # n^3 multiply-adds, 2 FLOP each
