"""`bench ab`: two backends, or a backend and a module file, timed side by side in one process."""

import os

import pytest

from tests.bench.helpers import main_here
from tests.conftest import ROOT, run_cli


def ab(idx_dir, *args):
    return run_cli("ab", *args, "--epochs", "3", "--data-dir", str(idx_dir), "--unverified")


def test_a_backend_against_a_copy_of_its_module(idx_dir, tmp_path):
    copy = tmp_path / "numpy_variant.py"
    copy.write_text((ROOT / "backends" / "numpy_tuned.py").read_text())
    done = ab(idx_dir, "numpy-tuned", str(copy))
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("A ", "B "))]
    assert [r[:3] for r in rows] == [["A", "numpy-tuned", "numpy-tuned"], ["B", str(copy), "numpy-tuned"]]
    assert rows[0][-1] == rows[1][-1]  # same code, same weights, same batches: same accuracy
    assert "B/A, epoch by epoch: median" in done.stdout and "3 epochs each, alternating" in done.stdout


def test_the_same_backend_twice_by_name_and_by_package_path(idx_dir):
    done = ab(idx_dir, "numpy-tuned", str(ROOT / "backends" / "numpy_tuned.py"))
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_one_backend_at_two_thread_counts_side_by_side(idx_dir):
    done = ab(idx_dir, "numba-tuned", "numba-tuned", "--threads-b", "2")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("A ", "B "))]
    assert [r[:5] for r in rows] == [["A", "numba-tuned", "numba-tuned", "float32", "1"], ["B", *rows[1][1:4], "2"]]
    assert "A 1 thread(s), B 2" in done.stdout and "what B's threads buy" in done.stdout


def test_more_threads_for_b_than_cores_is_one_line(idx_dir):
    too_many = str((os.cpu_count() or 1) + 1)
    done = main_here("ab", "numpy-tuned", "numpy-tuned", "--threads-b", too_many, "--data-dir", str(idx_dir))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --threads-b {too_many} is more than the {os.cpu_count()} cores of this machine; "
        f"pass at most {os.cpu_count()}"
    ]


@pytest.mark.parametrize(
    "module, message",
    [
        (None, "is neither a backend"),
        ("x = 1\n", "not a backend: lacks name"),
        ("raise ImportError('half-written')\n", "failed to import: ImportError: half-written"),
        (
            "from backends.numpy_tuned import *\n"
            "from backends.numpy_tuned import load, load_data, predict, weights\n"
            "def train(*args):\n    raise RuntimeError('a bug in train')\n",
            "failed in train: RuntimeError: a bug in train",
        ),
    ],
)
def test_a_bad_side_is_one_line(idx_dir, tmp_path, module, message):
    path = tmp_path / "variant.py"
    if module is not None:
        path.write_text(module)
    other = str(path) if module is not None else "nosuch"
    done = main_here("ab", "numpy-tuned", other, "--epochs", "3", "--data-dir", str(idx_dir), "--unverified")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr


def test_ctrl_c_reports_the_epochs_both_sides_finished(idx_dir, tmp_path):
    path = tmp_path / "interrupted.py"
    path.write_text(
        "from backends.numpy_tuned import *\n"
        "from backends.numpy_tuned import train as _train\n"
        "trained = [0]\n"
        "def train(model, data, rows, *args):\n"
        "    if trained[0] >= 2 * len(data.X):  # two epochs, then Ctrl-C in the third\n"
        "        raise KeyboardInterrupt\n"
        "    trained[0] += len(rows)\n"
        "    _train(model, data, rows, *args)\n"
    )
    done = ab(idx_dir, "numpy-tuned", str(path))
    assert done.returncode == 130, done.stderr
    assert "2 epochs each" in done.stdout and "interrupted after 2 epochs each" in done.stderr


@pytest.mark.parametrize("name", ["numpy-tuned", "numba-tuned"])
def test_a_side_loaded_anew_every_epoch_trains_as_one_model_does(idx_dir, name):
    from bench.ab import Side, side_by_side
    from core.backend import discover, get_backend
    from core.driver import train_backend
    from core.environment import limit_threads
    from core.mnist import load_mnist
    from core.spec import Spec
    from tests.conftest import assert_allclose_weights

    registry = discover()
    if registry[name].problem:
        pytest.skip(registry[name].problem)
    backend = get_backend(name, registry)
    mnist = load_mnist(idx_dir, verify=False)
    spec = Spec(epochs=3)
    with limit_threads(2):  # numba: a crew of two threads, made anew with each model
        side = Side(name, backend, "float32")
        side_by_side([side], spec, mnist)
        run = train_backend(backend, spec, mnist, "float32")
    assert len(side.seconds) == 3
    assert_allclose_weights(side.weights, backend.weights(run.model))  # bit for bit
