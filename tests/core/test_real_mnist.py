"""Training on real MNIST: the network learns (the 30-epoch figure is the benchmark's to show)."""

import pytest

from core.backend import discover
from core.driver import train_backend
from core.spec import Spec

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["numpy-plain", "numpy-tuned", "numba-tuned"])
def test_one_epoch_on_real_mnist_reaches_90_percent(mnist, name):
    assert mnist.train_images.shape == (60_000, 784) and mnist.test_images.shape == (10_000, 784)
    entry = discover()[name]
    if entry.problem:
        pytest.skip(entry.problem)
    run = train_backend(entry.backend, Spec(epochs=1), mnist, "float32")
    assert run.status == "ok" and mnist.verified
    assert run.epochs[0].test_accuracy >= 0.90
