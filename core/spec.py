"""The network's specification, its initial weights and the order of its batches.

Everything random in a run comes from one integer seed through `numpy.random.SeedSequence`:
stream (0,) draws the initial weights, stream (1, epoch) draws that epoch's permutation. Each
stream is addressed directly, so epoch 7's order does not depend on how epochs 1-6 were run,
and every backend sees the same start and the same batches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from core.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

N_INPUTS = 784
N_CLASSES = 10
ACTIVATIONS = ("sigmoid", "tanh", "relu")
LOSSES = ("quadratic", "cross-entropy")
INITS = ("uniform", "normal", "xavier", "he")

Weights = "list[tuple[np.ndarray, np.ndarray]]"  # float64 (W, b) per layer (a string: numpy loads lazily)


@dataclass(frozen=True)
class Spec:
    """One training configuration. The defaults reproduce the seed program."""

    layers: tuple[int, ...] = (784, 36, 10)
    activation: str = "sigmoid"
    loss: str = "quadratic"
    init: str = "uniform"
    batch_size: int = 10
    lr: float = 3.0
    epochs: int = 30
    seed: int = 0
    n_train: int = field(default=60_000, compare=False)  # bound for batch_size, set from the data

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        validate(self)

    @property
    def layers_str(self) -> str:
        return ",".join(str(n) for n in self.layers)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = self.layers_str
        del d["n_train"]
        return d


def validate(spec: Spec) -> None:
    """Raise SpecError with a one-line fix for the first thing wrong in `spec`."""
    layers = spec.layers
    if len(layers) < 2:
        raise SpecError(f"--layers needs at least an input and an output size, got {spec.layers_str!r}")
    if layers[0] != N_INPUTS or layers[-1] != N_CLASSES:
        raise SpecError(
            f"--layers must start with {N_INPUTS} (pixels) and end with {N_CLASSES} (digits), "
            f"got {spec.layers_str!r}; try 784,36,10"
        )
    if min(layers) < 1:
        raise SpecError(f"--layers sizes must be positive, got {spec.layers_str!r}")
    for name, value, allowed in (
        ("--activation", spec.activation, ACTIVATIONS),
        ("--loss", spec.loss, LOSSES),
        ("--init", spec.init, INITS),
    ):
        if value not in allowed:
            raise SpecError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    if not 1 <= spec.batch_size <= spec.n_train:
        raise SpecError(f"--batch-size must be between 1 and {spec.n_train}, got {spec.batch_size}")
    if not (math.isfinite(spec.lr) and spec.lr > 0):
        raise SpecError(f"--lr must be a positive finite number, got {spec.lr}")
    if spec.epochs < 1:
        raise SpecError(f"--epochs must be at least 1, got {spec.epochs}")
    if spec.seed < 0:
        raise SpecError(f"--seed must be a non-negative integer, got {spec.seed}")


def parse_layers(text: str) -> tuple[int, ...]:
    """'784,36,10' -> (784, 36, 10), with a one-line error for anything else."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise SpecError(f"--layers takes comma-separated integers such as 784,36,10, got {text!r}") from None


def _rng(seed: int, *stream: int) -> np.random.Generator:
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=stream))


def initial_weights(spec: Spec) -> Weights:
    """float64 `(W, b)` per layer, W of shape [n_out, n_in]; biases start at zero for every init."""
    import numpy as np

    rng = _rng(spec.seed, 0)
    weights = []
    for n_in, n_out in zip(spec.layers[:-1], spec.layers[1:]):
        shape = (n_out, n_in)
        if spec.init == "uniform":  # the seed program: U[-1, 1)
            W = rng.uniform(-1.0, 1.0, shape)
        elif spec.init == "normal":  # Nielsen's network.py: N(0, 1)
            W = rng.standard_normal(shape)
        elif spec.init == "xavier":  # Glorot & Bengio 2010, uniform variant
            limit = math.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform(-limit, limit, shape)
        else:  # "he": He et al. 2015, for relu
            W = rng.standard_normal(shape) * math.sqrt(2.0 / n_in)
        weights.append((W, np.zeros(n_out)))
    return weights


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of the `n` training rows for `epoch` (1-based), identical for every backend."""
    return _rng(seed, 1, epoch).permutation(n)


def batch_slices(n_rows: int, batch_size: int):
    """(start, stop) of consecutive batches over n_rows rows; the last one may be short."""
    for start in range(0, n_rows, batch_size):
        yield start, min(start + batch_size, n_rows)


def flops_per_sample(layers: tuple[int, ...], batch_size: int) -> float:
    """Floating-point operations to train on one sample (2 per multiply-add), as in docs/design.md.

    Forward: one product per layer. Backward: the weight gradient per layer plus the delta
    propagated to every hidden layer. Update: one multiply-add per parameter, shared by the batch.
    """
    pairs = list(zip(layers[:-1], layers[1:]))
    forward = sum(2 * n_in * n_out for n_in, n_out in pairs)
    backward = sum(2 * n_in * n_out for n_in, n_out in pairs) + sum(2 * n_in * n_out for n_in, n_out in pairs[1:])
    update = sum(2 * (n_in + 1) * n_out for n_in, n_out in pairs) / batch_size
    return forward + backward + update


def memory_bytes(spec: Spec, n_images: int, itemsize: int, python_objects: bool = False) -> int:
    """A generous estimate of the memory one training run holds: the dataset in the backend's form, the
    weights many times over (gradients, buffers, the warm-up's and spin-up's copies, snapshots in
    float64) and the activations of a prediction chunk. Pure-Python backends hold Python objects,
    several times the bytes of an array."""
    params = sum(n_in * n_out + n_out for n_in, n_out in zip(spec.layers[:-1], spec.layers[1:]))
    per_value = 40 if python_objects else itemsize  # a float object, its pointer and list overhead
    data = n_images * (spec.layers[0] + spec.layers[-1]) * (8 if python_objects else itemsize)
    chunk = 1000 * sum(spec.layers) * 4 * per_value
    return data + 8 * params * per_value + 4 * params * 8 + chunk
