"""Results on disk: CSV files that runs append to and never replace.

Every append takes a lock (so two runs writing at once lose nothing), writes the old content plus
the new rows to a temporary file in the same folder and renames it over the old one. A crash, a
full disk or Ctrl-C therefore leaves either the old file or the new one, never half a row.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import secrets
import shutil
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from core.errors import UserError
from core.files import write_atomic

if TYPE_CHECKING:
    from core.driver import EpochRecord, RunRecord

RUN_COLUMNS = "backend dtype threads layers activation loss".split()  # what ran, in both files
EPOCH_COLUMNS = [
    "run_id",
    *RUN_COLUMNS,
    *"batch_size lr seed epoch train_s eval_s samples_timed extrapolated".split(),
    *"test_correct test_total test_accuracy test_loss init status tier".split(),
]
ENVIRONMENT_COLUMNS = (
    "host cpu cores os python numpy numba blas blas_threads numba_threads llvmlite torch jax commit".split()
)
SUMMARY_COLUMNS = [
    "run_id",
    "started_utc",
    *RUN_COLUMNS,
    *"init batch_size lr seed epochs_run median_train_s min_train_s max_train_s setup_s compile_s".split(),
    *"final_accuracy initial_loss final_loss time_to_95_s extrapolated samples_timed speedup gflops".split(),
    *"status note substrate tier loc data".split(),
    *ENVIRONMENT_COLUMNS,
]


TARGET_ACCURACY = 0.95


def _lock(target: Path):
    """The file lock of `target`: a hidden file beside it (filelock is imported here, not by --help)."""
    from filelock import FileLock

    return FileLock(target.with_name(f".{target.name}.lock"), timeout=60)


def new_run_id() -> str:
    """UTC time plus a short random suffix: sortable, and unique across concurrent runs."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


MIN_FREE_BYTES = 1 << 20  # a run's rows take kilobytes; less free space than this will not hold them


def check_writable(folder: Path, extra_bytes: int = 0, what: str = "results", fix: str = "pass --results DIR") -> None:
    """Refuse, before a run trains, a results folder it could not write to (or a disk without room for its
    rows and `extra_bytes` more, such as saved models), in one line naming the path; `what` and `fix` name
    another kind of file (a saved model) and the option that moves it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "it is a file, not a folder" if folder.is_file() else exc.strerror or exc
        raise UserError(f"cannot write {what} to {folder}: {why}; {fix}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} to {folder}: permission denied; fix it or {fix}")
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES + extra_bytes:
        raise UserError(
            f"{folder} has {free / 2**20:.1f} MiB free, too little for this run's results "
            f"({(MIN_FREE_BYTES + extra_bytes) / 2**20:.1f} MiB); free space or {fix}"
        )


DEFERRED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends, then deliver them: a record is written and
    counted whole, or not begun. A second signal during the block is delivered at once, so that a write
    that hangs can still be stopped. Outside the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kinds = [getattr(signal, n) for n in DEFERRED_SIGNALS if hasattr(signal, n)]
    previous = {k: h for k in kinds if (h := signal.getsignal(k)) not in (signal.SIG_IGN, None)}
    held: list[int] = []

    def restore() -> None:
        for k, handler in previous.items():
            signal.signal(k, handler)

    def hold(signum, frame):
        if held:  # asked twice: the signal's own handler, now
            held.clear()
            restore()
            signal.raise_signal(signum)
        held.append(signum)

    for k in previous:
        signal.signal(k, hold)
    try:
        yield
    finally:
        restore()
        if held:
            signal.raise_signal(held[0])


def _set_aside_cut_line(path: Path, old: bytes) -> bytes:
    """`old` without a last line that a crash cut short (no newline at its end), which is kept whole in a
    file beside `path` with a warning, so that new rows are never glued onto it."""
    if not old or old.endswith(b"\n"):
        return old
    kept, _, cut = old.rpartition(b"\n")
    aside = path.with_name(f"{path.stem}.{new_run_id()}.cut-line.txt")
    aside.write_bytes(cut + b"\n")
    warnings.warn(f"the last line of {path} was cut short (an interrupted write?): moved it to {aside}", stacklevel=3)
    return kept + b"\n" if kept else b""


def _set_aside_other_columns(path: Path, target: Path, old: bytes, columns: list[str]) -> bytes:
    """`old`, or nothing where its header is not `columns` (another version's file): then the file is moved
    aside whole, its rows kept there, with a warning that says where and how the columns differ."""
    if not old:
        return old
    header = next(csv.reader([old.split(b"\n", 1)[0].decode(errors="replace")]), [])
    if [h.strip() for h in header] == columns:
        return old
    aside = target.with_name(f"{target.stem}.{new_run_id()}.other-columns{target.suffix}")
    os.replace(target, aside)
    missing, extra = [c for c in columns if c not in header], [c for c in header if c not in columns]
    differs = "; ".join(
        part
        for part in (
            f"it lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}" if missing else "",
            f"it has {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''} besides" if extra else "",
        )
        if part
    )
    warnings.warn(
        f"{path} has the columns of another version ({differs or 'in another order'}): moved it whole to {aside}, "
        f"where its rows stay; new rows start a new {path.name}",
        stacklevel=3,
    )
    return b""


def set_aside_other_columns(path: Path, columns: list[str]) -> None:
    """Before a run trains: a results file at `path` with columns other than `columns` is moved aside whole
    (see append_rows), so that the warning comes first and the run's rows all land in one new file."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    if not target.is_file():
        return
    try:
        with _lock(target):
            with open(target, "rb") as f:
                first = f.readline()
            _set_aside_other_columns(path, target, first, columns)
    except OSError as exc:
        raise UserError(
            f"cannot use results file {path}: {exc.strerror or exc}; fix it or pass --results DIR"
        ) from None


def append_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Append `rows` to the CSV at `path` atomically, writing the header if the file is new.

    A symlink is written through (its target is replaced, the link kept). A file with other columns (an
    older version's) is moved aside whole and a new one started; a last line cut short by a crash is
    set aside; a temporary file left by a killed writer is removed."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    try:
        with signals_deferred():
            _append(path, target, columns, rows)
    except OSError as exc:
        raise UserError(
            f"cannot write results to {path}: {exc.strerror or exc}; earlier results are intact. "
            "Free space or fix permissions, or pass --results DIR"
        ) from None


def _append(path: Path, target: Path, columns: list[str], rows: list[dict]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):  # hidden, beside the file
        for stale in target.parent.glob(f".{target.name}.*.tmp"):  # writers hold the lock: none is ours
            stale.unlink(missing_ok=True)
        old = target.read_bytes() if target.exists() else b""
        old = _set_aside_other_columns(path, target, old, columns)
        old = _set_aside_cut_line(target, old)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        if not old:
            writer.writeheader()
        writer.writerows({c: _fmt(row.get(c, "")) for c in columns} for row in rows)
        write_atomic(target, old + buffer.getvalue().encode(), durable=True)


_NUMBER = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|inf|nan)", re.IGNORECASE)


def _is_number(text: str) -> bool:
    """A number as this program writes one and pandas reads one (float() also takes "1_000" and spaces)."""
    return text == "" or _NUMBER.fullmatch(text) is not None


def _records(lines: list[str]) -> list[tuple[tuple[int, int], list[str]]]:
    """The CSV records of `lines`, each with the numbers of its first and last physical line (a quoted
    field may hold a newline, so a record may span several)."""
    reader, out, line = csv.reader(lines), [], 0
    for fields in reader:
        out.append(((line + 1, reader.line_num), fields))
        line = reader.line_num
    return out


def read_csv(path: Path, required: tuple[str, ...] = (), numeric: tuple[str, ...] = (), **pandas_options):
    """A results CSV as a DataFrame, reading around damage: a line whose field count is not the header's,
    or whose `numeric` columns hold something other than a number or nothing, is skipped with one warning
    naming the file and its line numbers; a missing required column is a UserError that names it."""
    import pandas as pd

    path = Path(path)
    try:
        with open(path, newline="") as f:
            physical = f.read().splitlines(keepends=True)
        records = _records(physical)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read {path}: {exc}; fix or move the file aside") from None
    if not records:
        raise UserError(f"{path} is empty; move it aside (runs will start a new one)")
    (_, header), good, bad = records[0], [], []
    numbers = [header.index(c) for c in numeric if c in header]

    def fits(fields: list[str]) -> bool:
        return len(fields) == len(header) and all(_is_number(fields[i]) for i in numbers)

    for (first, last), fields in records[1:]:
        if fits(fields):
            good.append(fields)
        elif last > first:  # a stray quote joined lines into one record: each line on its own may be whole
            for number in range(first, last + 1):
                fields = next(csv.reader([physical[number - 1]]), [])
                (good.append(fields) if fits(fields) else bad.append(number))
        else:
            bad.append(first)
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(
            f"{path} has no column {missing[0]!r}: it was not written by this program, or is damaged; move it aside"
        )
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.warn(f"{path}: skipped {len(bad)} malformed line(s): line {shown}", stacklevel=2)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *good])
    buffer.seek(0)
    try:
        return pd.read_csv(buffer, **pandas_options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"cannot read {path}: {exc}; fix or move the file aside") from None


def epoch_row(run_id: str, run: RunRecord, epoch: EpochRecord, threads: int) -> dict:
    spec = run.spec
    return {
        "run_id": run_id,
        "backend": run.backend,
        "dtype": run.dtype,
        "threads": threads,
        **spec.as_dict(),
        "epoch": epoch.epoch,
        "train_s": epoch.train_s,
        "eval_s": epoch.eval_s,
        "samples_timed": epoch.samples_timed,
        "extrapolated": epoch.extrapolated,
        "test_correct": epoch.test_correct,
        "test_total": epoch.test_total,
        "test_accuracy": epoch.test_accuracy,
        "test_loss": epoch.test_loss,
        "status": epoch.status,
        "tier": run.tier,
    }


def time_to_accuracy(run: RunRecord, target: float = TARGET_ACCURACY) -> float:
    """Training seconds until the test accuracy first reached `target`; NaN if never or extrapolated."""
    total = 0.0
    for e in run.epochs:
        if e.extrapolated:
            return math.nan  # the model trained on part of each epoch: no honest figure exists
        total += e.train_s
        if e.test_accuracy >= target:
            return total
    return math.nan


def summary_row(
    run_id: str, started_utc: str, run: RunRecord, threads: int, environment: dict, flops_per_epoch: float
) -> dict:
    times = run.train_times()
    last = run.epochs[-1] if run.epochs else None
    med = median(times) if times else math.nan
    return {
        "run_id": run_id,
        "started_utc": started_utc,
        "backend": run.backend,
        "dtype": run.dtype,
        "threads": threads,
        **run.spec.as_dict(),
        "epochs_run": len(run.epochs),
        "median_train_s": med,
        "min_train_s": min(times, default=math.nan),
        "max_train_s": max(times, default=math.nan),
        "setup_s": run.setup_s,
        "compile_s": run.compile_s,
        "final_accuracy": last.test_accuracy if last else math.nan,
        "initial_loss": run.initial_loss,
        "final_loss": run.final_loss,
        "time_to_95_s": time_to_accuracy(run),
        "extrapolated": bool(last and last.extrapolated),
        "samples_timed": last.samples_timed if last else "",
        "speedup": math.nan,
        "gflops": flops_per_epoch / med / 1e9 if times else math.nan,
        "status": run.status,
        "note": run.note,
        "substrate": run.substrate,
        "tier": run.tier,
        "loc": run.loc,
        **environment,
    }


def fill_speedups(rows: list[dict]) -> None:
    """speedup = slowest median epoch in the run / this row's median epoch."""
    medians = [r["median_train_s"] for r in rows if not math.isnan(r["median_train_s"])]
    for r in rows:
        r["speedup"] = (
            max(medians) / r["median_train_s"] if medians and not math.isnan(r["median_train_s"]) else math.nan
        )
