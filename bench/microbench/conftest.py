"""Fixtures for the kernel micro-benchmarks: real MNIST, and the thread limit every backend runs under.

These benchmarks are apart from the test suite (`pytest` alone runs `tests/`); run them with
`python -m pytest bench/microbench --benchmark-only --benchmark-json results/microbench.json`.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--threads", type=int, default=1, help="BLAS, numba and torch threads (default 1, as `bench run`)")


@pytest.fixture(scope="session")
def threads(request):
    """Every benchmark runs inside core.environment.limit_threads, as `bench run --threads` does."""
    from core.environment import limit_threads

    n = request.config.getoption("--threads")
    if n < 1:
        raise pytest.UsageError(f"--threads must be at least 1, got {n}")
    with limit_threads(n):
        yield n


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST (cache, mirrors or the PyPI wheel), loaded once."""
    from core.mnist import load_mnist

    return load_mnist()
