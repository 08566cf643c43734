"""The saved model's file format: an `.npz` of `W1, b1, W2, b2, ...` (always float64, whatever dtype the
run trained in: a float32 weight is exactly a float64, so nothing is lost, and every backend loads
float64) and `metadata`, a 1-d uint8 array holding UTF-8 JSON: the specification, backend, dtype, seed,
epochs, test accuracy, the digest of the data it was trained on, the package version and the format
version. This module says what a file holds and checks its metadata; core/persist.py writes and reads
the files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from core import __version__
from core.errors import ModelError, SpecError
from core.spec import Spec

FORMAT = "mnist-bench-model"
FORMAT_VERSION = 1
METADATA = "metadata"
MAX_METADATA_BYTES = 1 << 20

# key -> allowed JSON types; None in a tuple means null is allowed
FIELDS: dict[str, tuple] = {
    "format": (str,),
    "format_version": (int,),
    "layers": (list,),
    "activation": (str,),
    "loss": (str,),
    "init": (str,),
    "batch_size": (int,),
    "lr": (int, float),
    "seed": (int,),
    "epochs": (int,),  # epochs the run was asked for
    "epochs_trained": (int,),  # epochs these weights have seen (0 = the initial weights)
    "samples_per_epoch": (int,),  # fewer than the training set where a time budget cut epochs short
    "backend": (str,),
    "dtype": (str,),
    "test_correct": (int, None),
    "test_total": (int, None),
    "test_accuracy": (int, float, None),  # null for weights that were never evaluated (epoch 0)
    "data_digest": (str,),
    "version": (str,),
    "run_id": (str,),
    "status": (str,),
    "created_utc": (str,),
}


def array_names(n_layers: int) -> list[str]:
    """['W1', 'b1', 'W2', 'b2', ...] for a network of `n_layers` weight layers."""
    return [f"{kind}{l}" for l in range(1, n_layers + 1) for kind in ("W", "b")]


def expected_shapes(layers: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for l, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        shapes[f"W{l}"], shapes[f"b{l}"] = (n_out, n_in), (n_out,)
    return shapes


def metadata(
    spec: Spec,
    *,
    backend: str,
    dtype: str,
    epochs_trained: int,
    samples_per_epoch: int,
    test_correct: int | None,
    test_total: int | None,
    data_digest: str,
    run_id: str,
    status: str = "ok",
) -> dict:
    """The metadata of one saved model, as it is written."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layers": list(spec.layers),
        "activation": spec.activation,
        "loss": spec.loss,
        "init": spec.init,
        "batch_size": spec.batch_size,
        "lr": spec.lr,
        "seed": spec.seed,
        "epochs": spec.epochs,
        "epochs_trained": epochs_trained,
        "samples_per_epoch": samples_per_epoch,
        "backend": backend,
        "dtype": dtype,
        "test_correct": test_correct,
        "test_total": test_total,
        "test_accuracy": None if test_correct is None or not test_total else test_correct / test_total,
        "data_digest": data_digest,
        "version": __version__,
        "run_id": run_id,
        "status": status,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def spec_from_metadata(meta, path: Path | str = "model") -> Spec:
    """Check the metadata's fields and types and build the Spec it describes."""
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: its metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: its metadata does not say format {FORMAT!r}; not a model saved by mnist-bench")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelError(
            f"{path} is in model format {version}, newer than this mnist-bench reads "
            f"({FORMAT_VERSION}); upgrade mnist-bench"
        )
    for key, types in FIELDS.items():
        if key not in meta:
            raise ModelError(f"{path}: its metadata lacks {key!r}")
        value = meta[key]
        ok = (value is None and None in types) or (
            not isinstance(value, bool) and isinstance(value, tuple(t for t in types if t is not None))
        )
        if not ok:
            raise ModelError(f"{path}: metadata {key!r} has the wrong type ({type(value).__name__})")
    if meta["format_version"] < 1:
        raise ModelError(f"{path}: metadata format_version {meta['format_version']} is not a format version")
    layers = meta["layers"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in layers) or len(layers) > 64:
        raise ModelError(f"{path}: metadata 'layers' must be a short list of integers")
    if max(layers, default=0) > 1 << 16:
        raise ModelError(f"{path}: metadata 'layers' has a layer of {max(layers)} neurons; not a model this reads")
    correct, total, acc = meta["test_correct"], meta["test_total"], meta["test_accuracy"]
    if (correct is None, total is None, acc is None) not in ((True, True, True), (False, False, False)):
        raise ModelError(f"{path}: metadata test_correct, test_total and test_accuracy must all be null or all numbers")
    if acc is not None and not (0 <= correct <= total and total > 0 and abs(acc - correct / total) < 1e-9):
        raise ModelError(f"{path}: metadata test accuracy {acc} does not equal test_correct / test_total")
    if meta["epochs_trained"] < 0:
        raise ModelError(f"{path}: metadata 'epochs_trained' is negative")
    try:
        return Spec(
            layers=tuple(layers),
            activation=meta["activation"],
            loss=meta["loss"],
            init=meta["init"],
            batch_size=meta["batch_size"],
            lr=float(meta["lr"]),
            epochs=meta["epochs"],
            seed=meta["seed"],
            n_train=max(meta["batch_size"], 60_000),
        )
    except (SpecError, OverflowError) as exc:
        raise ModelError(f"{path}: its metadata describes no valid network: {exc}") from None
