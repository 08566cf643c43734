"""The numba backend with threads sharing each batch: the same training as one thread, pieces or not."""

import gc
import threading

import numpy as np
import pytest

from core.conformance import check, synthetic_digits
from core.environment import limit_threads
from core.spec import Spec, initial_weights

nb = pytest.importorskip("backends.numba_tuned")
if nb.available():
    pytest.skip(nb.available(), allow_module_level=True)
numba = pytest.importorskip("numba")
if numba.config.NUMBA_NUM_THREADS < 2:
    pytest.skip("numba has one thread on this machine", allow_module_level=True)

SPEC = Spec(layers=(784, 36, 10), lr=3.0, seed=7)


def _train(threads: int, pieces: list[int], dtype: str = "float64", spec: Spec = SPEC):
    """Weights after training on 137 synthetic rows (a short last batch), given to `train` in pieces."""
    images, labels = synthetic_digits(137, spec.seed)
    rows = np.random.default_rng(1).permutation(137)
    with limit_threads(threads):
        model = nb.load(initial_weights(spec), spec, dtype)
        data = nb.load_data(images, labels, dtype)
        nb.warmup(model, data)
        for piece in np.split(rows, np.cumsum(pieces)[:-1]):
            nb.train(model, data, piece, spec.batch_size, spec.lr)
        return nb.weights(model), model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", [SPEC, Spec(layers=(784, 17, 10), activation="relu", loss="cross-entropy", lr=0.1)])
def test_two_threads_match_the_reference(dtype, spec):
    with limit_threads(2):
        result = check(nb, spec, dtype)
    assert result.passed, result.errors


def test_two_threads_train_as_one_does():
    one, _ = _train(1, [137])
    two, model = _train(2, [137])
    assert model.crew is not None and model.crew.T == 2  # the shared kernel ran
    for (W1, b1), (W2, b2) in zip(one, two):
        np.testing.assert_allclose(W2, W1, atol=1e-12)  # the order of z2's sum differs, by rounding only
        np.testing.assert_allclose(b2, b1, atol=1e-12)


def test_two_threads_agree_with_one_while_the_machine_is_busy():
    """Races show when one thread runs late: keep a core busy with BLAS and train with two threads
    again and again (an earlier design got the last batch wrong in 25 of 40 such runs)."""
    one, _ = _train(1, [137])
    stop = threading.Event()

    def busy():
        a = np.random.default_rng(0).random((300, 300))
        while not stop.is_set():
            a @ a  # releases the GIL

    noise = threading.Thread(target=busy)
    noise.start()
    try:
        for _ in range(15):
            two, _ = _train(2, [40, 97])
            for (W1, b1), (W2, b2) in zip(one, two):
                np.testing.assert_allclose(W2, W1, atol=1e-12)
                np.testing.assert_allclose(b2, b1, atol=1e-12)
    finally:
        stop.set()
        noise.join()


@pytest.mark.parametrize("threads", [1, 2])
def test_rows_in_pieces_train_as_rows_at_once(threads, monkeypatch):
    """The driver hands an epoch over in pieces (for its progress bar); on batch boundaries that
    changes nothing, and the crew of threads carries over from one call to the next. (The split of
    the units is fixed here: measured, two runs may split them differently and round differently.)"""
    monkeypatch.setattr(nb.threads, "measured_split", lambda net, data, B, T: nb.threads.split(int(net.sizes[1]), T))
    whole, _ = _train(threads, [137])
    pieces, _ = _train(threads, [30, 50, 10, 47])
    for (W1, b1), (W2, b2) in zip(whole, pieces):
        np.testing.assert_array_equal(W1, W2)
        np.testing.assert_array_equal(b1, b2)


def test_more_rows_than_images_in_one_call():
    """Rows may repeat (two epochs in one call): the crew makes room for them."""
    images, labels = synthetic_digits(30, 3)
    with limit_threads(2):
        model = nb.load(initial_weights(SPEC), SPEC, "float64")
        data = nb.load_data(images, labels, "float64")
        nb.train(model, data, np.arange(30), 10, 1.0)
        data = nb.load_data(images, labels, "float64")  # the same images anew: a crew for them
        nb.train(model, data, np.tile(np.arange(30), 2), 10, 1.0)
    with limit_threads(1):
        serial = nb.load(initial_weights(SPEC), SPEC, "float64")
        nb.train(serial, data, np.tile(np.arange(30), 3), 10, 1.0)
    for (W1, _), (W2, _) in zip(nb.weights(model), nb.weights(serial)):
        np.testing.assert_allclose(W1, W2, atol=1e-12)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_helper_thread_raises_instead_of_hanging(monkeypatch):
    def broken_serve(*args):
        raise ValueError("injected")

    monkeypatch.setattr(nb.threads, "serve", broken_serve)  # what a helper thread runs
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="thread failed"):
        _train(2, [137])
    for helper in set(threading.enumerate()) - before:
        helper.join(timeout=10)  # its error is reported here, not in the next test


def test_helper_threads_end_with_their_model():
    _, model = _train(2, [137])
    helpers = model.crew.helpers
    assert len(helpers) == 1 and helpers[0].is_alive()  # thread 1 waits for the next call
    del model
    gc.collect()
    helpers[0].join(timeout=10)
    assert not helpers[0].is_alive()


def test_warm_up_starts_the_threads_that_the_first_timed_call_uses():
    images, labels = synthetic_digits(40, 3)
    with limit_threads(2):
        model = nb.load(initial_weights(SPEC), SPEC, "float32")
        data = nb.load_data(images, labels, "float32")
        before = nb.weights(model)
        nb.warmup(model, data)
        crew = model.crew
        assert crew is not None and all(helper.is_alive() for helper in crew.helpers)
        for (W, b), (W0, b0) in zip(nb.weights(model), before):
            assert np.array_equal(W, W0) and np.array_equal(b, b0)  # warm-up trained a copy, not the model
        nb.train(model, data, np.arange(40), SPEC.batch_size, SPEC.lr)
        assert model.crew is crew  # the first call started no thread


def test_threads_share_the_hidden_units_in_blocks_of_two():
    split, least = nb.threads.split, nb.threads.MIN_UNITS_PER_THREAD
    assert split(36, 2) == [(0, 18), (18, 36)]  # `affine` takes 18 rows as 4 blocks of 4 and one of 2
    assert split(40, 2) == [(0, 20), (20, 40)]
    assert split(17, 2) == [(0, 8), (8, 17)]  # the last thread takes the odd unit
    for n1 in range(8, 80):
        for T in range(2, n1 // least + 1):
            bounds = split(n1, T)
            assert bounds[0][0] == 0 and bounds[-1][1] == n1
            assert all(hi - lo >= least for lo, hi in bounds), (n1, T, bounds)
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert all(hi % nb.threads.SPLIT_STEP == 0 for _, hi in bounds[:-1])


def test_warmup_measures_a_split_that_the_crew_then_uses():
    _, model = _train(2, [137])
    lo_hi = [(own[1], own[2]) for *_, own in model.crew.bundles]  # Own: t, lo, hi, ...
    assert model.split == lo_hi
    assert model.split in [nb.threads.split(36, 2, [s, 1.0]) for s in nb.threads.SHARES]
