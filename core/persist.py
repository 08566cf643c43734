"""Saved models: writing and reading the files of core/model_format.py, and what `bench run --save`
writes as a run goes.

Nothing in a file is pickled, and nothing is unpickled on load: `np.load(allow_pickle=False)`, after the
names, shapes and dtypes of every array have been checked against the metadata from the npy headers
alone, so a hostile file cannot make us allocate more than the metadata's network needs.

Writing is atomic (a temporary file, then a hard link or `os.replace`) and never replaces an existing
file unless asked to. Anything wrong with a file is one `ModelError` line that says what and how to fix it.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tokenize
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ModelError, program_name
from core.files import temporary_beside
from core.model_format import MAX_METADATA_BYTES, METADATA, expected_shapes, metadata, spec_from_metadata
from core.spec import Spec, Weights


def _hint() -> str:
    return f"save one with: {program_name()} run --save PATH"


class ModelExistsError(ModelError):
    """The file to write exists and replacing it was not asked for."""


@dataclass
class SavedModel:
    path: Path
    weights: Weights  # float64 [(W, b), ...], W of shape [n_out, n_in]
    meta: dict
    spec: Spec

    @property
    def accuracy(self) -> float | None:
        return self.meta["test_accuracy"]


# ---------------------------------------------------------------- writing
def save_model(path: str | os.PathLike, weights: Weights, meta: dict, *, overwrite: bool = False) -> Path:
    """Write `weights` and `meta` to `path` atomically; refuse to replace a file unless `overwrite`."""
    path = Path(path)
    spec = spec_from_metadata(meta, path)
    arrays = {METADATA: np.frombuffer(json.dumps(meta, allow_nan=False).encode(), np.uint8)}
    for l, (W, b) in enumerate(weights, start=1):
        arrays[f"W{l}"] = np.ascontiguousarray(W, np.float64)
        arrays[f"b{l}"] = np.ascontiguousarray(b, np.float64)
    for name, shape in expected_shapes(spec.layers).items():
        if name not in arrays or arrays[name].shape != shape:
            raise ValueError(f"{name} does not match layers {spec.layers_str}")  # a bug, not a user error
    tmp = temporary_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_without_replacing(tmp, path)
    except OSError as exc:
        raise ModelError(
            f"cannot write the model to {path}: {exc.strerror or exc}; "
            "free space or fix permissions, or choose another path"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _link_without_replacing(tmp: Path, path: Path) -> None:
    """Move tmp to path unless path exists, atomically where the filesystem has hard links."""
    try:
        os.link(tmp, path)  # fails if path exists: no window in which another file could be replaced
        return
    except FileExistsError:
        raise ModelExistsError(f"{path} already exists; pass --force to replace it, or choose another path") from None
    except OSError:
        pass  # no hard links here (some network and FAT filesystems): check, then rename
    if path.exists():
        raise ModelExistsError(f"{path} already exists; pass --force to replace it, or choose another path")
    os.replace(tmp, path)


def snapshot_path(path: str | os.PathLike, epoch: int, epochs: int = 99) -> Path:
    """m.npz -> m.epoch05.npz: the weights after `epoch` epochs of a run of `epochs`."""
    path = Path(path)
    width = max(2, len(str(epochs)))
    return path.with_name(f"{_stem(path)}.epoch{epoch:0{width}d}.npz")


def find_snapshots(path: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch, path) of every snapshot beside `path` (the final model or any of its snapshots), by epoch."""
    path = Path(path)
    stem = re.sub(r"\.epoch\d+$", "", _stem(path))
    found = []
    for candidate in path.parent.glob(f"{_glob_escape(stem)}.epoch*.npz"):
        match = re.fullmatch(re.escape(stem) + r"\.epoch(\d+)\.npz", candidate.name)
        if match:
            found.append((int(match.group(1)), candidate))
    return sorted(found)


def _stem(path: Path) -> str:
    return path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


# ---------------------------------------------------------------- reading
# What reading a damaged zip or npy member can raise; each becomes one ModelError line.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ValueError,
    OSError,
    EOFError,
    KeyError,
    struct.error,
    SyntaxError,
    tokenize.TokenError,
    UnicodeDecodeError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    IndexError,
    TypeError,
    MemoryError,
)


def load_model(path: str | os.PathLike) -> SavedModel:
    """Read and validate a saved model; any problem is one ModelError line naming it."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file; {_hint()}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        try:
            if not zipfile.is_zipfile(f):
                raise ModelError(
                    f"{path} is not a saved model: not an .npz file (not a zip archive, or a truncated one); {_hint()}"
                )
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                return _read(zf, path)
        except ModelError:
            raise
        except _READ_ERRORS as exc:
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ModelError(f"{path} is damaged or not a saved model ({type(exc).__name__}: {reason})") from None


def _read(zf: zipfile.ZipFile, path: Path) -> SavedModel:
    members = zf.namelist()
    if len(set(members)) != len(members):
        raise ModelError(f"{path} is not a saved model: it holds two arrays of the same name")
    names = {m[: -len(".npy")] if m.endswith(".npy") else m: m for m in members}
    if METADATA not in names:
        raise ModelError(f"{path} is not a saved model: it has no 'metadata' array ({_hint()})")

    shape, dtype = _header(zf, names[METADATA], METADATA, path)
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_METADATA_BYTES:
        raise ModelError(f"{path}: 'metadata' must be a 1-d uint8 array of JSON text, got {dtype} {shape}")
    raw = _array(zf, names[METADATA]).tobytes()
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: its metadata is not valid JSON ({str(exc)[:120]})") from None
    spec = spec_from_metadata(meta, path)

    shapes = expected_shapes(spec.layers)
    missing = [n for n in shapes if n not in names]
    extra = sorted(n for n in names if n not in shapes and n != METADATA)
    if missing or extra:
        what = "; ".join(
            part
            for part in (missing and f"missing {', '.join(missing)}", extra and f"unexpected {', '.join(extra)}")
            if part
        )
        raise ModelError(f"{path}: its arrays do not match its metadata (layers {spec.layers_str}): {what}")
    for name, want in shapes.items():
        got, dtype = _header(zf, names[name], name, path)
        if dtype.kind != "f" or dtype.itemsize != 8:
            raise ModelError(f"{path}: array {name} has dtype {dtype}; a saved model holds float64 arrays")
        if got != want:
            raise ModelError(f"{path}: array {name} has shape {got} but layers {spec.layers_str} need {want}")
    arrays = {name: _array(zf, names[name]).astype(np.float64) for name in shapes}
    bad = [name for name, array in arrays.items() if not np.isfinite(array).all()]
    if bad:
        raise ModelError(
            f"{path}: array {bad[0]} holds NaN or infinite weights (its run diverged?); "
            "nothing can be evaluated or drawn from it"
        )
    weights = [(arrays[f"W{l}"], arrays[f"b{l}"]) for l in range(1, len(spec.layers))]
    return SavedModel(path, weights, meta, spec)


def _header(zf: zipfile.ZipFile, member: str, name: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """An npy member's shape and dtype, read from its header without reading its data."""
    if not member.endswith(".npy"):
        raise ModelError(f"{path}: member {member!r} is not an npy array")
    with zf.open(member) as m:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ModelError(f"{path}: array {name} uses npy format {version}, which this version does not read")
    if dtype.hasobject:
        raise ModelError(f"{path}: array {name} holds pickled Python objects; a saved model holds only numbers")
    return tuple(shape), dtype


def _array(zf: zipfile.ZipFile, member: str) -> np.ndarray:
    with zf.open(member) as m:
        return np.lib.format.read_array(m, allow_pickle=False)


# ---------------------------------------------------------------- saving a run
class RunSaver:
    """What `bench run --save PATH [--snapshot-every N]` writes: snapshots as it goes, the model at the end.

    Snapshots are PATH's stem + `.epochNN.npz` after epoch 0 (the initial weights) and every N epochs.
    The final model is the weights of the last *finished* epoch, with the accuracy measured on them, so
    an interrupted run saves what it finished and a file's weights always match its stored accuracy.
    """

    def __init__(
        self,
        path,
        spec: Spec,
        *,
        backend: str,
        dtype: str,
        data_digest: str,
        run_id: str,
        every: int | None = None,
        force: bool = False,
    ) -> None:
        self.path, self.spec, self.every, self.force = Path(path), spec, every, force
        self.common = {"backend": backend, "dtype": dtype, "data_digest": data_digest, "run_id": run_id}
        self.latest: tuple | None = None  # (EpochRecord, weights) of the last finished epoch
        self.written: list[Path] = []

    def planned(self) -> list[Path]:
        """Every file this run will write, the final model first."""
        paths = [self.path]
        if self.every:
            epochs = [0, *range(self.every, self.spec.epochs + 1, self.every)]
            paths += [snapshot_path(self.path, e, self.spec.epochs) for e in epochs]
        return paths

    def check(self) -> None:
        """Refuse before training if any file to be written exists (unless forced)."""
        if self.force:
            return
        for path in self.planned():
            if path.exists():
                raise ModelError(f"{path} already exists; pass --force to replace it, or choose another --save PATH")

    def initial(self, weights: Weights, n_train: int) -> Path | None:
        if not self.every:
            return None
        meta = metadata(
            self.spec, epochs_trained=0, samples_per_epoch=n_train, test_correct=None, test_total=None, **self.common
        )
        return self._save(snapshot_path(self.path, 0, self.spec.epochs), weights, meta)

    def epoch(self, record, weights: Weights) -> Path | None:
        """After each finished epoch: keep its weights, and write a snapshot when one is due."""
        self.latest = (record, weights)
        if self.every and record.epoch % self.every == 0:
            return self._save(
                snapshot_path(self.path, record.epoch, self.spec.epochs), weights, self._meta(record, "ok")
            )
        return None

    def final(self, status: str) -> Path | None:
        """Write the last finished epoch's model to PATH; None if no epoch finished."""
        if self.latest is None:
            return None
        record, weights = self.latest
        return self._save(self.path, weights, self._meta(record, status))

    def _save(self, path: Path, weights: Weights, meta: dict) -> Path:
        """Save; if the file appeared while training (it was checked before), keep both under another name."""
        try:
            saved = save_model(path, weights, meta, overwrite=self.force)
        except ModelExistsError:
            saved = save_model(path.with_name(f"{_stem(path)}.{self.common['run_id']}.npz"), weights, meta)
            warnings.warn(
                f"{path} appeared during the run and was kept; saved this run's model to {saved}", stacklevel=2
            )
        self.written.append(saved)
        return saved

    def _meta(self, record, status: str) -> dict:
        return metadata(
            self.spec,
            epochs_trained=record.epoch,
            samples_per_epoch=record.samples_timed,
            test_correct=record.test_correct,
            test_total=record.test_total,
            status=status,
            **self.common,
        )
