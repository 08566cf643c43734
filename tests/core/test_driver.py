"""The shared driver: same batches for every backend, timing apart from evaluation, honest budgets."""

import numpy as np

from backends import numpy_tuned as nb
from core.conformance import synthetic_digits
from core.driver import train_backend
from core.mnist import Mnist
from core.spec import Spec


def tiny(n_train=200, n_test=50) -> Mnist:
    (x, y), (tx, ty) = synthetic_digits(n_train, 1), synthetic_digits(n_test, 2)
    return Mnist(x, y, tx, ty, source="synthetic", digest="-")


class Recorder:
    """numpy's backend, recording the rows each train call receives."""

    def __init__(self):
        self.calls = []
        for attr in ("name", "dtypes", "available", "load", "load_data", "predict", "weights"):
            setattr(self, attr, getattr(nb, attr))

    def train(self, model, data, rows, batch_size, lr):
        self.calls.append(np.array(rows))
        nb.train(model, data, rows, batch_size, lr)


def test_each_epoch_trains_every_row_once_in_the_seeded_order():
    backend = Recorder()
    run = train_backend(backend, Spec(epochs=2, batch_size=7, n_train=200), tiny(), "float64")
    assert [e.samples_timed for e in run.epochs] == [200, 200] and not any(e.extrapolated for e in run.epochs)
    first, second = (
        np.concatenate(backend.calls[i : i + len(backend.calls) // 2]) for i in (0, len(backend.calls) // 2)
    )
    assert sorted(first) == list(range(200)) and not np.array_equal(first, second)
    assert all(e.train_s > 0 and e.eval_s > 0 and e.test_total == 50 for e in run.epochs)


def test_a_budget_too_small_for_full_epochs_extrapolates_and_says_so():
    run = train_backend(Recorder(), Spec(epochs=3, batch_size=10, n_train=2000), tiny(2000), "float64", budget_s=1e-6)
    assert run.epochs and all(e.extrapolated and e.samples_timed < 2000 for e in run.epochs)
    assert "extrapolated from" in run.note


def test_a_probe_that_already_covers_the_timed_rows_is_fine():
    # Batch 64 of 100 rows: the probe is one batch, and the budget allows no more than that.
    run = train_backend(Recorder(), Spec(epochs=2, batch_size=64, n_train=100), tiny(100), "float64", budget_s=1e-6)
    assert run.epochs[0].samples_timed == 64 and run.epochs[0].extrapolated


def test_the_calls_timed_do_not_depend_on_the_progress_bar():
    with_bar, without = Recorder(), Recorder()
    spec = Spec(epochs=2, batch_size=10, n_train=2000)
    train_backend(with_bar, spec, tiny(2000), "float64", progress=True)
    train_backend(without, spec, tiny(2000), "float64", progress=False)
    assert len(with_bar.calls) == len(without.calls) > 2
    assert all(np.array_equal(a, b) for a, b in zip(with_bar.calls, without.calls))
