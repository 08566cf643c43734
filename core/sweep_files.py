"""What a sweep keeps on disk: its rows in results/sweep.csv and its manifest in results/sweeps/.

Rows are appended by bench/sweep_run.py through core.results.append_rows; this module reads them back
as --resume needs them (which points have a result), around damage. The manifest is written once, when
a sweep starts, so that `--resume SWEEP_ID` rebuilds the same sweep with the same options.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.errors import UserError, program_name

SWEEP_FILE = "sweep.csv"
MANIFEST_DIR = "sweeps"  # results/sweeps/SWEEP_ID.json: what --resume SWEEP_ID rebuilds the sweep from
DONE = ("ok", "diverged", "budget")  # a row with one of these is a result; "failed" points run again on --resume


def utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


KEYS = ("sweep_id", "point", "status")  # what every reader of the rows looks a row up by


def read_rows(path: Path) -> list[dict]:
    """sweep.csv's rows as dicts ([] when there is none), reading around damaged bytes and lines; a
    header without one of KEYS is a UserError naming it."""
    import csv

    if not Path(path).exists():
        return []
    try:
        with open(path, newline="", errors="replace") as f:
            reader = csv.DictReader(f)
            missing = [k for k in KEYS if k not in (reader.fieldnames or KEYS)]
            if missing:
                raise UserError(
                    f"{path} has no column {missing[0]!r}: it is damaged, or not a sweep.csv; move it aside"
                )
            return list(reader)
    except (OSError, csv.Error) as exc:
        raise UserError(f"cannot read {path}: {exc}; fix or move the file aside") from None


def done_points(path: Path, sweep: str) -> set[str]:
    """Keys of the points of `sweep` that already have a result row (ok, diverged or budget)."""
    return {r["point"] for r in read_rows(path) if r.get("sweep_id") == sweep and r.get("status") in DONE}


@dataclass
class Manifest:
    """How a sweep was asked for, saved when it starts so that `--resume SWEEP_ID` can rebuild it."""

    sweep_id: str
    grid: str
    backends: list[str]
    epochs: int | None
    budget_s: float | None
    data_dir: str | None
    unverified: bool
    points: int
    created_utc: str = field(default_factory=utc)
    command: str = ""
    evaluate: bool = True  # False: timing-only jobs (absent from manifests written before it existed)
    preset: str = ""  # the --preset (or command, such as scaling) that asked for it
    workers: int | None = None  # --workers it was started with (None: one per core); --resume keeps it

    @staticmethod
    def path(results: Path, sweep: str) -> Path:
        return Path(results) / MANIFEST_DIR / f"{sweep}.json"

    def write(self, results: Path) -> Path:
        """Written once, atomically; an existing manifest of the same id (the same sweep) is kept."""
        path = self.path(results, self.sweep_id)
        if path.exists():
            return path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; free space or pass --results DIR") from None
        return path

    @classmethod
    def read(cls, results: Path, sweep: str) -> Manifest:
        path = cls.path(results, sweep)
        if not path.exists():
            known = sorted(p.stem for p in path.parent.glob("sw-*.json")) if path.parent.is_dir() else []
            raise UserError(f"no sweep {sweep!r} in {path.parent}; known: {', '.join(known[-5:]) or 'none'}")
        try:
            manifest = cls(**json.loads(path.read_bytes()))
            manifest.check()
        except (ValueError, TypeError) as exc:
            why = " ".join(str(exc).split())[:120]
            raise UserError(f"{path} is damaged ({why}); resume by giving the grid again with --resume") from None
        return manifest

    def check(self) -> None:
        """TypeError unless every field has its kind (a manifest edited by hand, or damaged)."""
        kinds = {"sweep_id": str, "grid": str, "points": int, "unverified": bool, "evaluate": bool, "created_utc": str}
        wrong = [k for k, kind in kinds.items() if not isinstance(getattr(self, k), kind)]
        if not isinstance(self.backends, list) or not all(isinstance(b, str) for b in self.backends):
            wrong.append("backends")
        for name in ("epochs", "workers"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                wrong.append(name)
        if self.budget_s is not None and not isinstance(self.budget_s, int | float):
            wrong.append("budget_s")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            wrong.append("data_dir")
        if wrong:
            raise TypeError(f"{wrong[0]} has the wrong kind of value")

    @classmethod
    def latest(cls, results: Path) -> Manifest:
        folder = Path(results) / MANIFEST_DIR
        found = [cls.read(results, p.stem) for p in folder.glob("sw-*.json")] if folder.is_dir() else []
        if not found:
            raise UserError(f"no sweep to resume in {results}; start one with: {program_name()} sweep --grid ...")
        return max(found, key=lambda m: m.created_utc)
