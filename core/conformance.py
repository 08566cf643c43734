"""Proof of sameness: a backend's weights after a short run match the float64 numpy reference.

From the same float64 initial weights and the same row order (including a short last batch),
every backend must land on the reference's weights within a tolerance fit to its dtype, and
predict the same classes. A check that compares nothing is an error, not a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.backend import check_supports
from core.errors import BackendError
from core.spec import Spec, initial_weights

# Relative to the largest reference weight. float32 keeps ~7 digits; a few SGD steps with lr 3
# amplify rounding: numpy float32 lands within ~2e-7 of the float64 reference; 1e-5 leaves room.
TOLERANCE = {"float64": 1e-9, "float32": 1e-5}
N_TRAIN, N_TEST = 57, 200  # 57 rows at batch 10: five full batches and a short one of 7
MIN_AGREEMENT = {"float64": 1.0, "float32": 0.98}  # float32 may flip a near-tie


def configurations() -> list[Spec]:
    """Every activation with every loss, one and two hidden layers (784,64,32,10 among them), every init."""
    specs = []
    for activation, init in (("sigmoid", "uniform"), ("tanh", "xavier"), ("relu", "he")):
        for loss in ("quadratic", "cross-entropy"):
            specs.append(Spec(layers=(784, 16, 10), activation=activation, loss=loss, init=init, lr=0.5, seed=3))
    specs.append(Spec(layers=(784, 12, 8, 10), activation="sigmoid", init="normal", lr=3.0, seed=4))
    specs.append(Spec(layers=(784, 12, 8, 10), activation="relu", loss="cross-entropy", init="he", lr=0.1, seed=5))
    specs.append(Spec(layers=(784, 64, 32, 10), activation="relu", loss="cross-entropy", init="he", lr=0.1, seed=6))
    return specs


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random sparse 'images' (uint8, mostly zero like MNIST) and labels."""
    rng = np.random.default_rng(seed)
    images = (rng.random((n, 784)) < 0.2) * rng.integers(0, 256, (n, 784))
    return images.astype(np.uint8), rng.integers(0, 10, n).astype(np.uint8)


@dataclass
class CheckResult:
    backend: str
    dtype: str
    spec: Spec
    errors: list[tuple[str, float]] = field(default_factory=list)  # (array, max abs error / scale)
    agreement: float = float("nan")
    declined: str | None = None

    @property
    def worst(self) -> float:
        return max(e for _, e in self.errors)

    @property
    def passed(self) -> bool:
        return (
            self.declined is None
            and self.worst <= TOLERANCE[self.dtype]
            and (self.agreement >= MIN_AGREEMENT[self.dtype])
        )


def _short_run(backend, spec: Spec, dtype: str, train, test, rows) -> tuple[list, np.ndarray]:
    model = backend.load(initial_weights(spec), spec, dtype)
    train_data = backend.load_data(*train, dtype)
    if hasattr(backend, "warmup"):
        backend.warmup(model, train_data)
    backend.train(model, train_data, rows, spec.batch_size, spec.lr)
    return backend.weights(model), np.asarray(backend.predict(model, backend.load_data(*test, dtype)))


def check(backend, spec: Spec, dtype: str) -> CheckResult:
    """Compare `backend` in `dtype` with the float64 reference (backends/numpy_plain.py) on one configuration."""
    from backends import numpy_plain as reference

    result = CheckResult(backend.name, dtype, spec)
    try:
        check_supports(backend, spec)
    except BackendError as exc:
        result.declined = str(exc)
        return result
    train, test = synthetic_digits(N_TRAIN, spec.seed), synthetic_digits(N_TEST, spec.seed + 1000)
    rows = np.random.default_rng(spec.seed).permutation(N_TRAIN)
    want, want_pred = _short_run(reference, spec, "float64", train, test, rows)
    got, got_pred = _short_run(backend, spec, dtype, train, test, rows)

    start = initial_weights(spec)
    moved = max(np.abs(W - W0).max() for (W, _), (W0, _) in zip(want, start))
    if moved < 1e-3:
        raise AssertionError(f"the reference barely trained (max change {moved:.2g}): this check would compare nothing")
    if len(got) != len(want):
        raise AssertionError(f"{backend.name} returned {len(got)} layers, expected {len(want)}")
    for l, ((W, b), (W_ref, b_ref)) in enumerate(zip(got, want), start=1):
        for label, mine, ref in ((f"W{l}", W, W_ref), (f"b{l}", b, b_ref)):
            if np.shape(mine) != ref.shape:
                raise AssertionError(f"{backend.name} {label} has shape {np.shape(mine)}, expected {ref.shape}")
            scale = max(1.0, float(np.abs(ref).max()))
            result.errors.append((label, float(np.abs(np.asarray(mine, np.float64) - ref).max()) / scale))
    if got_pred.shape != want_pred.shape:
        raise AssertionError(f"{backend.name} predicted {got_pred.shape} classes, expected {want_pred.shape}")
    result.agreement = float(np.mean(got_pred == want_pred))
    return result
