"""What machine and software a number was measured on, captured once per run and stored with it."""

from __future__ import annotations

import os
import platform
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, sleep


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # here: slow to import, and --help needs none

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
        "llvmlite": _version("llvmlite"),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "commit": project_commit(),
    }


def _proc_kib(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the kernel's MemAvailable, or less under an address-space
    limit (ulimit -v); None where neither is known."""
    import resource

    limits = [_proc_kib("/proc/meminfo", "MemAvailable")]
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    used = _proc_kib("/proc/self/status", "VmSize")
    if soft != resource.RLIM_INFINITY and used is not None:
        limits.append(max(0, soft - used))
    known = [x for x in limits if x is not None]
    return min(known) if known else None


def check_memory(needed: int, what: str) -> None:
    """Refuse, before anything is allocated, a run that cannot fit in the memory available now."""
    from core.errors import UserError

    available = available_memory()
    if available is not None and needed > available:
        raise UserError(
            f"{what} needs about {needed / 2**30:.1f} GiB of memory and {available / 2**30:.1f} GiB "
            "is available; use smaller --layers"
        )


def project_commit() -> str:
    """The checkout's git commit (with "+changes" where files differ from it), else the installed version."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if (root / ".git").exists():
        try:
            git = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True, timeout=10)
            head = git("rev-parse", "--short=12", "HEAD")
            if head.returncode == 0:
                dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
                return head.stdout.strip() + ("+changes" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    return _version("mnist-bench")


THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def check_threads(threads: int, option: str = "--threads") -> None:
    """Refuse a thread count that would not be what runs: more than the machine's cores, or more than an
    environment variable lets numba or BLAS start (so a row never records threads that did not run)."""
    from core.errors import UserError

    cores = os.cpu_count() or 1
    if threads > cores:
        raise UserError(f"{option} {threads} is more than the {cores} cores of this machine; pass at most {cores}")
    for variable in THREAD_VARIABLES:
        value = os.environ.get(variable)
        if value is None or value.strip() == "":
            continue
        try:
            allowed = int(value)
        except ValueError:
            raise UserError(f"${variable} must be a whole number of threads, got {value!r}; fix or unset it") from None
        if allowed < 1:
            raise UserError(f"${variable} must be at least 1, got {value!r}; fix or unset it")
        if variable == "NUMBA_NUM_THREADS" and allowed < threads:
            raise UserError(
                f"${variable}={value} lets numba start {allowed} thread(s), fewer than {option} "
                f"{threads}; unset it or pass {option} {allowed}"
            )


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


# ---------------------------------------------------------------- a quiet machine before timing
# A virtual machine's kernel may hand memory that processes freed back to the hypervisor ("free page
# reporting", virtio-balloon), in passes 2 s apart (the kernel's PAGE_REPORTING_DELAY) until all of it
# is reported. On this project's VM each pass stalls the running threads for 15-35 ms, and a process
# that has just exited (the previous backend of `bench all`; a backend's own setup may free memory too)
# leaves such passes due 2, 4, 6 s later: in the first epochs, where a two-thread row stalls whichever
# vCPU the pass takes. Where the kernel shows its counters, wait until they stop moving.
PAGE_REPORTING = Path("/sys/module/page_reporting/parameters")
REPORTING_COUNTERS = ("reported_kib", "passes")
REPORTING_QUIET_S = 2.5  # no pass for longer than the 2 s between passes: none is due
SPIN_UP_S = 1.0  # then seconds of untimed training on a copy of the model, before epoch 1 (core.driver.spin_up)


@dataclass
class Settled:
    waited_s: float
    changes: int  # times the counters moved while we watched
    quiet: bool  # False: still reporting when the time ran out

    def describe(self) -> str:
        if not self.quiet:
            return (
                f"the kernel was still returning freed memory to the host after {self.waited_s:.0f} s; "
                "the first epochs may include its stalls"
            )
        if self.changes:
            return f"waited {self.waited_s:.1f} s for the kernel to finish returning freed memory to the host"
        return f"no freed memory was being returned to the host (watched {self.waited_s:.1f} s)"


def _reporting_counters(root: Path) -> tuple[str, ...] | None:
    try:
        return tuple((root / name).read_text().strip() for name in REPORTING_COUNTERS)
    except OSError:
        return None


def settle(
    max_s: float, *, quiet_s: float | None = None, poll_s: float = 0.05, root: Path | None = None
) -> Settled | None:
    """Wait (at most `max_s` seconds) until the kernel's free page reporting has made no pass for `quiet_s`
    (default REPORTING_QUIET_S); `root`: the folder of its counters (default PAGE_REPORTING).

    None, at once, where the kernel shows no reporting counters (most machines) or `max_s` is 0.
    """
    quiet_s = REPORTING_QUIET_S if quiet_s is None else quiet_s
    root = PAGE_REPORTING if root is None else root
    counters = _reporting_counters(root)
    if counters is None or max_s <= 0:
        return None
    start = last_change = perf_counter()
    changes = 0
    while perf_counter() - last_change < quiet_s:
        if perf_counter() - start >= max_s:
            return Settled(perf_counter() - start, changes, quiet=False)
        sleep(poll_s)
        now = _reporting_counters(root)
        if now != counters:
            counters, last_change, changes = now, perf_counter(), changes + 1
    return Settled(perf_counter() - start, changes, quiet=True)
