"""numba-tuned's memory: weights start on a page in a model and in every copy of it, as its kernels assume;
threads sharing the batches write pages of their own."""

import copy

import numpy as np
import pytest

from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights

nt = pytest.importorskip("backends.numba_tuned")
kernels = pytest.importorskip("backends.numba_tuned.kernels")
if nt.available():
    pytest.skip(nt.available(), allow_module_level=True)


@pytest.mark.parametrize("shape", [(0, 0), (3,), (36, 1024), (2, 3, 16)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_copied_arrays_equal_the_original_and_start_on_a_page(shape, dtype):
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    for _ in range(4):  # several allocations: numpy's own copies land part-way into a line in some
        b = kernels.copied(a)
        assert b.shape == a.shape and b.dtype == a.dtype and b.flags.c_contiguous and b.flags.writeable
        assert b.ctypes.data % kernels.PAGE == 0 or b.size == 0  # (an empty array has no memory to place)
        assert np.array_equal(a, b) and not np.shares_memory(a, b)


def test_a_copied_model_has_its_weights_on_pages_and_trains_apart():
    spec = Spec(layers=(784, 8, 10), seed=0)
    images, labels = synthetic_digits(20, seed=1)
    data = nt.load_data(images, labels, "float32")
    model = nt.load(initial_weights(spec), spec, "float32")
    before = nt.weights(model)
    for _ in range(4):
        twin = copy.deepcopy(model)
        assert all(a.ctypes.data % kernels.PAGE == 0 for a in (*twin.net.W[1:], *twin.net.b[1:]))
        assert all(W.strides[0] % kernels.LINE == 0 for W in twin.net.W[1:])  # every row on a cache line
    nt.train(twin, data, np.arange(20), batch_size=10, lr=3.0)
    assert not np.array_equal(nt.weights(twin)[0][0], before[0][0])
    assert all(np.array_equal(w, v) for (w, _), (v, _) in zip(nt.weights(model), before))


@pytest.mark.parametrize("registers", [16, 32])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [784, 513, 2000])
def test_wide_rows_of_weights_are_laid_out_for_the_blocking_of_the_target(monkeypatch, registers, dtype, n):
    """16 registers: whole pages (rows at one offset in a page); 32: an odd number of half pages."""
    monkeypatch.setattr(kernels, "TARGET", kernels.TARGET._replace(registers=registers))
    W = kernels.padded(6, n, dtype)
    stride = W.strides[0]
    assert W.ctypes.data % kernels.PAGE == 0 and W.flags.c_contiguous and W.shape[1] >= n and not W.any()
    assert n * W.itemsize <= stride < n * W.itemsize + kernels.PAGE  # the row and less than a page more
    assert stride % kernels.PAGE == (0 if registers == 16 else kernels.PAGE // 2)
    narrow = kernels.padded(6, 36, dtype)
    assert narrow.strides[0] % kernels.LINE == 0 and narrow.strides[0] < 36 * W.itemsize + kernels.LINE


def _pages(a: np.ndarray) -> set:
    start = a.ctypes.data // kernels.PAGE
    return set(range(start, (a.ctypes.data + a.nbytes - 1) // kernels.PAGE + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [10, 100])
def test_threads_of_a_crew_write_no_page_in_common(dtype, batch_size):
    """A page written by two threads makes the CPU's prefetchers bounce its lines between their cores."""
    threads = pytest.importorskip("backends.numba_tuned.threads")
    spec = Spec(layers=(784, 36, 10), seed=0)
    images, labels = synthetic_digits(20, seed=1)
    model = nt.load(initial_weights(spec), spec, dtype)
    crew = threads.Crew(
        model.net, nt.load_data(images, labels, dtype), batch_size, 3, 20, [(0, 12), (12, 24), (24, 36)]
    )
    try:
        written = []  # the pages each writer writes: each thread's own blocks and rows of W1, each part of z2
        for _, _, _, own in crew.bundles:
            _, lo, hi = own[:3]
            blocks = [a for a in own if isinstance(a, np.ndarray)] + [model.net.W[1][lo:hi]]
            assert blocks and all(a.shape[0] > 0 for a in blocks)
            written.append(set().union(*(_pages(a) for a in blocks)))
        parts = crew.shared.z2_parts
        assert parts.shape[:2] == (2, 3) and parts.shape[2] >= batch_size
        written += [_pages(parts[p, t]) for p in range(2) for t in range(3)]
        for i, pages in enumerate(written):
            assert all(not pages & other for other in written[i + 1 :])
    finally:
        crew.close()
