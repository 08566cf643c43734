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
import secrets
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from filelock import FileLock

from core.driver import EpochRecord, RunRecord
from core.errors import UserError

EPOCH_COLUMNS = [
    "run_id", "backend", "dtype", "threads", "layers", "activation", "loss", "batch_size", "lr", "seed",
    "epoch", "train_s", "eval_s", "samples_timed", "extrapolated", "test_correct", "test_total",
    "test_accuracy", "init", "status",
]  # fmt: skip
ENVIRONMENT_COLUMNS = [
    "host", "cpu", "cores", "os", "python", "numpy", "numba", "blas", "blas_threads", "numba_threads",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "run_id", "started_utc", "backend", "dtype", "threads", "layers", "activation", "loss", "init",
    "batch_size", "lr", "seed", "epochs_run", "median_train_s", "min_train_s", "max_train_s",
    "setup_s", "compile_s", "final_accuracy", "time_to_95_s", "extrapolated", "samples_timed",
    "speedup", "gflops", "status", "note", *ENVIRONMENT_COLUMNS,
]  # fmt: skip
TARGET_ACCURACY = 0.95


def new_run_id() -> str:
    """UTC time plus a short random suffix: sortable, and unique across concurrent runs."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def append_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Append `rows` to the CSV at `path` atomically, writing the header if the file is new."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(f".{path.name}.lock"), timeout=60):  # hidden, beside the file
            old = path.read_bytes() if path.exists() else b""
            header = ",".join(columns)
            if old and old.split(b"\n", 1)[0].decode(errors="replace").strip() != header:
                raise UserError(f"{path} has other columns than this version writes; move it aside and run again")
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
            if not old:
                writer.writeheader()
            writer.writerows({c: _fmt(row.get(c, "")) for c in columns} for row in rows)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                with open(tmp, "wb") as f:
                    f.write(old + buffer.getvalue().encode())
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write results to {path}: {exc.strerror or exc}; earlier results are intact. "
                        "Free space or fix permissions, or pass --results DIR") from None  # fmt: skip


def epoch_row(run_id: str, run: RunRecord, epoch: EpochRecord, threads: int) -> dict:
    spec = run.spec
    return {
        "run_id": run_id, "backend": run.backend, "dtype": run.dtype, "threads": threads,
        **spec.as_dict(), "epoch": epoch.epoch, "train_s": epoch.train_s, "eval_s": epoch.eval_s,
        "samples_timed": epoch.samples_timed, "extrapolated": epoch.extrapolated,
        "test_correct": epoch.test_correct, "test_total": epoch.test_total,
        "test_accuracy": epoch.test_accuracy, "status": epoch.status,
    }  # fmt: skip


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


def summary_row(run_id: str, started_utc: str, run: RunRecord, threads: int, environment: dict,
                flops_per_epoch: float) -> dict:  # fmt: skip
    times = run.train_times()
    last = run.epochs[-1] if run.epochs else None
    med = median(times) if times else math.nan
    return {
        "run_id": run_id, "started_utc": started_utc, "backend": run.backend, "dtype": run.dtype,
        "threads": threads, **run.spec.as_dict(), "epochs_run": len(run.epochs),
        "median_train_s": med, "min_train_s": min(times, default=math.nan),
        "max_train_s": max(times, default=math.nan), "setup_s": run.setup_s, "compile_s": run.compile_s,
        "final_accuracy": last.test_accuracy if last else math.nan,
        "time_to_95_s": time_to_accuracy(run), "extrapolated": bool(last and last.extrapolated),
        "samples_timed": last.samples_timed if last else "", "speedup": math.nan,
        "gflops": flops_per_epoch / med / 1e9 if times else math.nan,
        "status": run.status, "note": run.note, **environment,
    }  # fmt: skip


def fill_speedups(rows: list[dict]) -> None:
    """speedup = slowest median epoch in the run / this row's median epoch."""
    medians = [r["median_train_s"] for r in rows if not math.isnan(r["median_train_s"])]
    for r in rows:
        r["speedup"] = (
            max(medians) / r["median_train_s"] if medians and not math.isnan(r["median_train_s"]) else math.nan
        )
