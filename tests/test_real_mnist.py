"""Training on real MNIST: the network learns (the 30-epoch figure is the benchmark's to show)."""

from backends import numpy as nb
from core.driver import train_backend
from core.spec import Spec


def test_one_epoch_on_real_mnist_reaches_90_percent(mnist):
    assert mnist.train_images.shape == (60_000, 784) and mnist.test_images.shape == (10_000, 784)
    run = train_backend(nb, Spec(epochs=1), mnist, "float32")
    assert run.status == "ok"
    assert run.epochs[0].test_accuracy >= 0.90
