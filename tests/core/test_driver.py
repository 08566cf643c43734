"""The shared driver: same batches for every backend, timing apart from evaluation, honest budgets, the
test loss of every epoch and the flag on a run that did not learn."""

import math

import numpy as np
import pytest

from backends import numpy_tuned as nb
from core.conformance import synthetic_digits
from core.driver import EpochRecord, RunRecord, _stalled_note, train_backend
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


def test_the_test_loss_is_the_references_cost_before_and_after_every_epoch():
    from backends import numpy_plain as reference

    backend, seen = Recorder(), []
    mnist = tiny()

    def cost_now(run, epoch):
        model = reference.load(backend.weights(run.model), run.spec, "float64")
        seen.append(reference.cost(model, reference.load_data(mnist.test_images, mnist.test_labels, "float64")))

    run = train_backend(backend, Spec(epochs=2, n_train=200), mnist, "float64", on_epoch=cost_now)
    assert [e.test_loss for e in run.epochs] == pytest.approx(seen, rel=1e-12)
    assert math.isfinite(run.initial_loss) and run.final_loss == run.epochs[-1].test_loss < run.initial_loss


def test_a_diverged_epoch_has_no_loss():
    class Diverging(Recorder):
        def train(self, model, data, rows, batch_size, lr):
            super().train(model, data, rows, batch_size, lr)
            model.W[1][0, 0] = np.nan

    run = train_backend(Diverging(), Spec(epochs=3, n_train=200), tiny(), "float64")
    assert run.status == "diverged" and len(run.epochs) == 1 and math.isnan(run.final_loss)


def test_an_absurd_learning_rate_is_flagged_with_both_losses():
    spec = Spec(epochs=2, lr=1000.0, loss="cross-entropy", n_train=200)
    run = train_backend(Recorder(), spec, tiny(), "float64")
    assert run.status == "stalled", run.note
    assert f"test loss did not fall ({run.initial_loss:.4g} before epoch 1, {run.final_loss:.4g} after epoch 2)" in (
        run.note
    )
    assert "\n" not in run.note and "try a smaller --lr" in run.note


def epochs(*pairs) -> list[EpochRecord]:
    """Epoch records of (accuracy, test loss)."""
    return [EpochRecord(i, 1.0, 0.1, 100, False, round(100 * a), 100, test_loss=t) for i, (a, t) in enumerate(pairs, 1)]


@pytest.mark.parametrize(
    "status, records, verified, flagged",
    [
        ("ok", epochs((0.9, 0.2), (0.5, 0.4)), True, "test loss did not fall (0.3 before epoch 1, 0.4 after epoch 2)"),
        ("budget", epochs((0.9, 0.3)), True, "test loss did not fall (0.3 before epoch 1, 0.3 after epoch 1)"),
        ("ok", epochs((0.9, math.nan)), True, "test loss did not fall"),
        ("ok", epochs((0.1, 0.2)), True, "stayed near chance (best 10.0%): the network"),
        ("ok", epochs((0.9, 0.2)), True, ""),
        ("ok", epochs((0.1, 0.4)), False, ""),  # unverified data: no known chance, no known loss to beat
        ("interrupted", epochs((0.1, 0.4)), True, ""),
        ("diverged", epochs((0.1, math.nan)), True, ""),
    ],
)
def test_a_run_whose_loss_does_not_fall_or_accuracy_stays_at_chance_is_stalled(status, records, verified, flagged):
    run = RunRecord("x", "float64", Spec(), epochs=records, status=status, initial_loss=0.3)
    note = _stalled_note(run, verified)
    assert (flagged in note and bool(note)) if flagged else note == ""


@pytest.mark.slow
def test_on_real_mnist_the_loss_falls_and_an_absurd_learning_rate_is_stalled(mnist):
    from core.mnist import Mnist

    part = Mnist(
        mnist.train_images[:2000],
        mnist.train_labels[:2000],
        mnist.test_images[:1000],
        mnist.test_labels[:1000],
        source=mnist.source,
        digest=mnist.digest,
    )
    normal = train_backend(Recorder(), Spec(epochs=2, n_train=2000), part, "float64")
    assert normal.status == "ok" and normal.epochs[1].test_loss < normal.epochs[0].test_loss < normal.initial_loss
    for loss in ("quadratic", "cross-entropy"):
        absurd = train_backend(Recorder(), Spec(epochs=2, lr=1000.0, loss=loss, n_train=2000), part, "float64")
        assert absurd.status in ("stalled", "diverged"), absurd.note
