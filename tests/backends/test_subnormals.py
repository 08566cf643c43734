"""numpy trains with subnormal floats flushed to zero, and leaves the thread's float mode as it found it."""

import platform
import sys

import numpy as np
import pytest

from backends import numpy_tuned as nb
from core.conformance import synthetic_digits
from core.spec import Spec, initial_weights

x86_linux = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the flush-to-zero mode is set only on x86-64 Linux",
)
SUBNORMAL = np.array([1e-39], np.float32)  # below float32's smallest normal number, ~1.2e-38


def subnormals_survive() -> bool:
    return SUBNORMAL[0] != 0 and (SUBNORMAL * np.float32(1))[0] != 0


@x86_linux
def test_inside_the_block_subnormals_count_as_zero_and_after_it_they_do_not():
    assert subnormals_survive()
    with nb.flush_subnormals():
        assert (SUBNORMAL * np.float32(1))[0] == 0  # an operand taken as 0
        assert (np.array([1e-30], np.float32) * np.float32(1e-9))[0] == 0  # a result flushed
        assert (np.array([1e-30], np.float32) * np.float32(1e-3))[0] != 0  # normal numbers untouched
    assert subnormals_survive()


@x86_linux
def test_the_mode_is_restored_when_the_block_raises():
    with pytest.raises(RuntimeError), nb.flush_subnormals():
        raise RuntimeError("a backend failed mid-epoch")
    assert subnormals_survive()


def test_training_leaves_the_float_mode_as_it_found_it():
    spec = Spec(layers=(784, 8, 10), seed=0)
    images, labels = synthetic_digits(40, seed=1)
    model = nb.load(initial_weights(spec), spec, "float32")
    nb.train(model, nb.load_data(images, labels, "float32"), np.arange(40), batch_size=10, lr=3.0)
    assert subnormals_survive()
