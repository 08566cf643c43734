"""MNIST acquisition: sources in order, checksums decide, the cache heals, pickles stay harmless."""

import gzip
import os
import pickle

import numpy as np
import pytest

from core import mnist
from core.errors import DataError
from tests.conftest import write_idx_dir


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Synthetic IDX files whose sums stand in for MNIST's, an empty cache, and no network."""
    source = write_idx_dir(tmp_path / "source", n_train=50, n_test=20)
    sums = {name: (mnist.sha256((source / name).read_bytes()), 0) for name in mnist.FILES}
    monkeypatch.setattr(mnist, "FILES", sums)
    monkeypatch.setenv(mnist.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "MIRRORS", {})
    calls = []

    def from_wheel():
        calls.append("wheel")
        return {name: (source / name).read_bytes() for name in sums}

    monkeypatch.setattr(mnist, "_from_wheel", from_wheel)
    return source, calls


def test_directory_of_idx_files_is_loaded_and_verified(fake_mnist):
    source, calls = fake_mnist
    data = mnist.load_mnist(source)
    assert data.train_images.shape == (50, 784) and data.train_images.dtype == np.uint8
    assert data.test_labels.shape == (20,)
    assert calls == []


def test_gzipped_directory_is_accepted(fake_mnist, tmp_path):
    write_idx_dir(tmp_path / "gz", n_train=50, n_test=20, gz=True)
    assert len(mnist.load_mnist(tmp_path / "gz").train_labels) == 50


def test_corrupt_gzip_is_refused(fake_mnist, tmp_path):
    folder = write_idx_dir(tmp_path / "gz", n_train=50, n_test=20, gz=True)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="corrupt gzip"):
        mnist.load_mnist(folder)


def test_directory_with_wrong_checksum_is_skipped_with_a_warning(fake_mnist, tmp_path):
    write_idx_dir(tmp_path / "other", n_train=50, n_test=20, seed=9)
    with pytest.warns(UserWarning, match="checksum differs"):
        data = mnist.load_mnist(tmp_path / "other")
    assert data.source.startswith("PyPI wheel")  # fell through to the next source


def test_missing_directory_or_file_is_a_clear_error(fake_mnist, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        mnist.load_mnist(tmp_path / "nowhere")
    source, _ = fake_mnist
    (source / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        mnist.load_mnist(source)


def test_environment_variable_names_the_directory(fake_mnist, monkeypatch):
    source, calls = fake_mnist
    monkeypatch.setenv(mnist.DATA_ENV, str(source))
    assert mnist.load_mnist().source == str(source)


def test_fetched_data_is_cached_and_a_damaged_cache_rebuilt(fake_mnist):
    _, calls = fake_mnist
    first = mnist.load_mnist()
    assert calls == ["wheel"]
    assert mnist.load_mnist().source.startswith("cache") and calls == ["wheel"]
    cached = mnist.cache_dir() / "train-images-idx3-ubyte"
    cached.write_bytes(cached.read_bytes()[:-1] + b"\x07")
    with pytest.warns(UserWarning, match="damaged"):
        again = mnist.load_mnist()
    assert calls == ["wheel", "wheel"]
    np.testing.assert_array_equal(again.train_images, first.train_images)


def test_no_source_at_all_says_what_was_tried(fake_mnist, monkeypatch):
    def broken():
        raise OSError("no network")

    monkeypatch.setattr(mnist, "_from_wheel", broken)
    with pytest.raises(DataError, match=r"tried: PyPI wheel .*no network.*--data-dir"):
        mnist.load_mnist()


def test_unverified_needs_a_directory_and_accepts_any_idx(fake_mnist, tmp_path):
    with pytest.raises(DataError, match="--unverified needs --data-dir"):
        mnist.load_mnist(verify=False)
    write_idx_dir(tmp_path / "other", n_train=30, n_test=10, seed=9)
    assert "unverified" in mnist.load_mnist(tmp_path / "other", verify=False).source


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_anything_but_numpy_arrays():
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle (posix|os).system"):
        mnist.safe_unpickle(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle .*set"):
        mnist.safe_unpickle(pickle.dumps({1, 2}, protocol=2))


def test_unpickler_restores_nielsens_layout_into_idx_bytes():
    rng = np.random.default_rng(0)

    def part(n):
        return rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n)

    train, valid, test = part(5), part(3), part(4)
    contents = mnist.contents_from_nielsen_pickle(pickle.dumps((train, valid, test), protocol=4))
    data = mnist._dataset(contents, "test")
    np.testing.assert_array_equal(data.train_images[5:], np.rint(valid[0] * 256).astype(np.uint8))
    np.testing.assert_array_equal(data.test_labels, test[1])


def test_real_wheel_pickle_layout_is_refused_when_it_holds_code():
    evil = gzip.compress(pickle.dumps(_Exploit(), protocol=2))
    with pytest.raises(DataError, match="not in the expected layout"):
        mnist.contents_from_nielsen_pickle(gzip.decompress(evil))


def test_image_and_label_counts_that_disagree_are_refused(tmp_path):
    from core.idx import write_idx

    folder = write_idx_dir(tmp_path / "idx", n_train=50, n_test=20)
    (folder / "train-labels-idx1-ubyte").write_bytes(write_idx(np.zeros(49, np.uint8)))
    with pytest.raises(DataError, match="50 images but 49 labels"):
        mnist.load_mnist(folder, verify=False)
