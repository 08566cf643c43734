"""numba-tuned's split of the hidden units between threads: valid for any measured rates."""

import numpy as np
import pytest

threads = pytest.importorskip("backends.numba_tuned.threads")


def assert_valid(bounds, n1, T):
    assert len(bounds) == T
    assert bounds[0][0] == 0 and bounds[-1][1] == n1  # every unit
    assert all(hi == lo for (_, hi), (lo, _) in zip(bounds, bounds[1:]))  # contiguous: no gap, no overlap
    assert all(hi - lo >= threads.MIN_UNITS_PER_THREAD for lo, hi in bounds)


def test_equal_rates_keep_the_default_split():
    assert threads.split(36, 2) == threads.split(36, 2, [5.0, 5.0]) == [(0, 18), (18, 36)]


def test_a_faster_thread_gets_more_units():
    (lo0, hi0), _ = threads.split(36, 2, [2.0, 1.0])
    assert hi0 - lo0 > 20


@pytest.mark.parametrize("rates", [[0.0, 1.0], [float("nan"), 1.0], [float("inf"), 1.0], [-1.0, 2.0], [1.0]])
def test_a_measurement_that_says_nothing_gives_equal_shares(rates):
    assert threads.split(36, 2, rates) == threads.split(36, 2)


def test_any_rates_give_a_valid_split():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        T = int(rng.integers(1, 5))
        n1 = int(rng.integers(T * threads.MIN_UNITS_PER_THREAD, 200))
        rates = list(np.exp(rng.normal(0, 3, T)))  # from even to very lopsided
        assert_valid(threads.split(n1, T, rates), n1, T)
