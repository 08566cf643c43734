"""Kernel micro-benchmarks: one training step and one test-set prediction, every available backend side by side.

`bench run` times whole epochs; these time the two kernels underneath with pytest-benchmark's
statistics (rounds, median, spread), grouped so that backends are compared within a group:

- "train-step": `train` over one batch of 10 rows (the default spec: 784-36-10, sigmoid, quadratic,
  lr 3.0). Each round takes the next batch of epoch 1's order, as an epoch would, so the model keeps
  training on fresh data instead of one batch it would soon saturate on.
- "predict": `predict` on the 10,000 real MNIST test images (untrained initial weights).

Each backend runs in its default dtype, under `--threads` (default 1) and after its own `warmup`
plus an untimed call; setup and warm-up are never timed. A backend whose prediction would take
more than SLOW_PREDICT_S (the pure-Python one, about 8 s) is timed on the full test set in a single
round, so the group stays comparable; its `extra_info` says so. Every row records the backend,
dtype, threads, FLOPs per call and GFLOP/s at the median.

    .venv/bin/python -m pytest bench/microbench --benchmark-only --benchmark-json results/microbench.json
"""

from __future__ import annotations

import sys
from itertools import cycle
from time import perf_counter

import numpy as np
import pytest

from core.backend import discover
from core.environment import blas_info
from core.spec import Spec, batch_slices, epoch_order, flops_per_sample, initial_weights

SPEC = Spec()  # the seed's network and step: 784-36-10, sigmoid, quadratic, batch 10, lr 3.0
SLOW_PREDICT_S = 2.0  # estimated seconds for the test set above which predict is timed in one round

BACKENDS = [
    pytest.param(e.backend, id=e.name, marks=[pytest.mark.skip(reason=f"{e.name}: {e.problem}")] if e.problem else [])
    for e in discover().values()
]


def _forward_flops(layers: tuple[int, ...]) -> int:
    """Floating-point operations to predict one sample (2 per multiply-add): the forward products."""
    return sum(2 * n_in * n_out for n_in, n_out in zip(layers[:-1], layers[1:]))


def _model(backend, images, labels):
    """The backend's model of the seed's initial weights and its form of the data, warmed up."""
    dtype = backend.dtypes[0]
    model = backend.load(initial_weights(SPEC), SPEC, dtype)
    data = backend.load_data(images, labels, dtype)
    if hasattr(backend, "warmup"):
        backend.warmup(model, data)
    return model, data, dtype


def _describe(benchmark, backend, dtype: str, threads: int, flops: float, **more) -> None:
    blas, blas_threads = blas_info()
    benchmark.extra_info.update(
        backend=backend.name, dtype=dtype, threads=threads, blas=blas, blas_threads=blas_threads, flops=flops, **more
    )
    if backend.name == "torch":  # torch's own pool, which its load() set from the BLAS limit
        benchmark.extra_info["torch_threads"] = sys.modules["torch"].get_num_threads()


def _record_rate(benchmark, flops: float) -> None:
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats is not None:
        benchmark.extra_info["gflops_per_s_at_median"] = flops / stats.stats.median / 1e9


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step(benchmark, backend, mnist, threads):
    n = len(mnist.train_labels)
    model, data, dtype = _model(backend, mnist.train_images, mnist.train_labels)
    order = epoch_order(SPEC.seed, 1, n)
    batches = cycle([order[start:stop] for start, stop in batch_slices(n, SPEC.batch_size)])

    def step():
        backend.train(model, data, next(batches), SPEC.batch_size, SPEC.lr)

    step()  # untimed: first call after warm-up
    flops = flops_per_sample(SPEC.layers, SPEC.batch_size) * SPEC.batch_size
    benchmark.group = "train-step"
    _describe(
        benchmark,
        backend,
        dtype,
        threads,
        flops,
        rows_per_call=SPEC.batch_size,
        layers=SPEC.layers_str,
        activation=SPEC.activation,
        loss=SPEC.loss,
        batches="consecutive batches of epoch 1's order",
    )
    benchmark(step)
    _record_rate(benchmark, flops)
    assert all(np.isfinite(W).all() for W, _ in backend.weights(model))


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict(benchmark, backend, mnist, threads):
    images, labels = mnist.test_images, mnist.test_labels
    model, data, dtype = _model(backend, images, labels)
    sample = backend.load_data(images[:100], labels[:100], dtype)
    t0 = perf_counter()
    backend.predict(model, sample)  # untimed: warms the path and estimates the full test set
    estimate = (perf_counter() - t0) * len(labels) / 100

    flops = _forward_flops(SPEC.layers) * len(labels)
    benchmark.group = "predict"
    _describe(benchmark, backend, dtype, threads, flops, images_per_call=len(labels), layers=SPEC.layers_str)
    if estimate > SLOW_PREDICT_S:
        benchmark.extra_info["rounds"] = f"1 round: estimated {estimate:.1f} s per call, above {SLOW_PREDICT_S} s"
        predicted = benchmark.pedantic(backend.predict, args=(model, data), rounds=1, iterations=1)
    else:
        predicted = benchmark(backend.predict, model, data)
    _record_rate(benchmark, flops)
    assert np.shape(predicted) == labels.shape
