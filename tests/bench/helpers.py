"""What the command-line tests share: reading a results CSV, the options of a run on the synthetic IDX
set, a backend plugin in another distribution, and starting, waiting for, interrupting and stopping
child processes."""

import csv
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT

SLOW_JOB = ["--backends", "python-plain", "--epochs", "1"]  # slow enough per sweep job to be stopped mid-job


def rows(path: Path) -> list[dict]:
    """A results CSV's rows as dicts of strings; none where the file does not exist yet."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def data_args(idx_dir, results) -> list[str]:
    """The options that point a command at the synthetic IDX set and a results folder."""
    return ["--data-dir", str(idx_dir), "--unverified", "--results", str(results)]


def child_env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MNIST_BENCH_DATA", None)
    return env


def plugin_env(folder: Path, module: str, backend: str, source: str, **extra: str) -> dict:
    """An environment whose PYTHONPATH holds `source` as the module of another distribution, which
    registers it as `backend` through the entry-point group mnist_bench.backends."""
    site = folder / "site"
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(source)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mnist_bench.backends]\n{backend} = {module}\n")
    return child_env(PYTHONPATH=f"{site}{os.pathsep}{ROOT}", **extra)


def main_here(*args: str) -> subprocess.CompletedProcess:
    """`bench ARGS` in this process, as run_cli runs it in a fresh one but without an interpreter's
    start-up: for commands refused before they train. Its streams, signal handlers and warning format
    are restored after."""
    import contextlib
    import io
    import warnings

    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    formatwarning = warnings.formatwarning
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's refusals
                code = exc.code
    finally:
        warnings.formatwarning = formatwarning
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def wait_for(condition, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def stop(procs) -> None:
    """Terminate each process in turn (workers before their scheduler), killing any that lingers."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def start_sweep(idx_dir, results, *grid: str) -> subprocess.Popen:
    """`bench sweep` of `grid` (its options) in a child process, pipes open, results into `results`."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", "sweep", *grid, *data_args(idx_dir, results)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def group_gone(pgid: int) -> bool:
    """No process is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@contextmanager
def at_a_terminal(args: list[str], env: dict):
    """`args` in a child process of its own process group, as a shell at a terminal starts a command,
    pipes open; on the way out, whatever of the group still runs is killed."""
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        yield proc
    finally:
        if not group_gone(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        stop([proc])


def ctrl_c(proc: subprocess.Popen, ready, timeout: float, what: str) -> str:
    """Once `ready()` (`what`, within `timeout` s), Ctrl-C as at a terminal: SIGINT to the whole process
    group of `proc`, started by `at_a_terminal`; its stderr once it has exited."""
    wait_for(ready, timeout, what, [proc])
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    return stderr
