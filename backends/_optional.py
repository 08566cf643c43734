"""Backends whose library is an optional extra: importing it on demand, and saying why it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_import(module: str, extra: str) -> tuple[ModuleType | None, str | None]:
    """(the module, None), or (None, a one-line reason naming the extra to install); never raises, so a
    missing or broken library makes a backend unavailable rather than crashing the harness."""
    try:
        return importlib.import_module(module), None
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None, f"{module} is not installed (pip install -e '.[{extra}]')"
        return None, f"{module} failed to import: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken install is a reason, not a crash
        return None, f"{module} failed to import: {type(exc).__name__}: {exc}"


def require(backend) -> None:
    """Raise if `backend` (a module with `name` and `available()`) cannot run here."""
    problem = backend.available()
    if problem:
        raise RuntimeError(f"backend {backend.name!r} is unavailable: {problem}")


def set_torch_threads(torch, interop: bool = False) -> None:
    """torch's intra-op pool gets the BLAS thread count in force (threadpoolctl does not reach it);
    `interop`: also a single inter-op thread, where the backend needs none."""
    from core.environment import blas_info

    threads = blas_info()[1]
    if threads > 0:
        torch.set_num_threads(threads)
    if interop:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # allowed once per process, and only before any inter-op work
            pass
