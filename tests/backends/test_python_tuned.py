"""python-tuned's machinery: the generated kernels and the ways a batch is cut up for them.

Shared conformance (tests/core/test_conformance.py) runs the default batch of 10; these cover what it does
not reach: batches longer than one kernel call, layers that are not a whole number of neuron blocks,
and the generated kernels against naive formulas."""

import random

import pytest

import backends.python_tuned as tuned
from core.conformance import TOLERANCE, check
from core.spec import Spec


def _flat(rows) -> list:
    """The values of a list of rows, row after row, with its shape first."""
    assert all(len(row) == len(rows[0]) for row in rows)
    return [len(rows), len(rows[0])] + [v for row in rows for v in row]


def _naive_affine(W, b, rows):
    return [[sum(w * x for w, x in zip(w_row, row)) + bias for w_row, bias in zip(W, b)] for row in rows]


def _naive_subtract_outer(W, step, delta, rows):
    return [
        [w - step * sum(d[j] * row[i] for d, row in zip(delta, rows)) for i, w in enumerate(w_row)]
        for j, w_row in enumerate(W)
    ]


@pytest.mark.parametrize("n_rows", [1, 3, tuned.UNROLL, tuned.UNROLL + 5])
@pytest.mark.parametrize("n_out", [1, tuned.BLOCK, 2 * tuned.BLOCK + 3])
def test_kernels_compute_the_equations_for_any_rows_and_neurons(n_rows, n_out):
    rng = random.Random(n_rows * 100 + n_out)
    n_in = 7
    W = [[rng.uniform(-1, 1) for _ in range(n_in)] for _ in range(n_out)]
    b = [rng.uniform(-1, 1) for _ in range(n_out)]
    rows = [[rng.random() for _ in range(n_in)] for _ in range(n_rows)]
    delta = [[rng.uniform(-1, 1) for _ in range(n_out)] for _ in range(n_rows)]

    z = tuned._affine(W, b, rows)
    assert _flat(z) == pytest.approx(_flat(_naive_affine(W, b, rows)), rel=1e-12, abs=1e-12)
    W_new = tuned._subtract_outer(W, 0.3, delta, rows)
    assert _flat(W_new) == pytest.approx(_flat(_naive_subtract_outer(W, 0.3, delta, rows)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        Spec(layers=(784, 5, 3, 10), activation="tanh", init="xavier", batch_size=40, lr=0.5, seed=7),
        Spec(layers=(784, 9, 10), activation="relu", loss="cross-entropy", init="he", batch_size=1, lr=0.1, seed=8),
        Spec(layers=(784, 6, 10), batch_size=57, lr=3.0, seed=9),
    ],
    ids=lambda s: f"{s.layers_str}-batch{s.batch_size}",
)
def test_batches_longer_than_a_kernel_call_and_odd_layers_match_the_reference(spec):
    result = check(tuned, spec, "float64")
    assert result.worst <= TOLERANCE["float64"], result.errors
    assert result.passed
