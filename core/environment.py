"""What machine and software a number was measured on, captured once per run and stored with it."""

from __future__ import annotations

import os
import platform
import socket
import sys
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> tuple[str, int]:
    """('openblas 0.3.29 SkylakeX', threads) for the BLAS numpy uses now, via threadpoolctl."""
    import numpy  # noqa: F401 - loads the BLAS so threadpoolctl can see it
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            label = " ".join(
                str(x) for x in (lib.get("internal_api"), lib.get("version"), lib.get("architecture")) if x
            )
            return label, int(lib.get("num_threads") or 0)
    return "none found", 0


def numba_threads() -> int | str:
    if "numba" not in sys.modules:
        return ""
    import numba

    return numba.get_num_threads()


def capture() -> dict:
    """The environment columns of summary.csv."""
    blas, blas_threads = blas_info()
    return {
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "blas": blas,
        "blas_threads": blas_threads,
        "numba_threads": numba_threads(),
    }


@contextmanager
def limit_threads(threads: int):
    """BLAS (threadpoolctl) and numba use `threads` threads inside the block, and nothing more."""
    from threadpoolctl import threadpool_limits

    try:  # import it here, so a backend that imports numba later still finds its threads set
        import numba
    except ImportError:
        numba = None
    previous = numba.get_num_threads() if numba else None
    with threadpool_limits(limits=threads):
        if numba:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            if numba:
                numba.set_num_threads(previous)
