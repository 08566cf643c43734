"""Waiting for a quiet machine before timing: core.environment.settle, against fake kernel counters."""

from __future__ import annotations

import threading
import time

import pytest

from core import environment
from core.backend import get_backend
from core.driver import train_backend
from core.mnist import load_mnist
from core.spec import Spec
from tests.conftest import run_cli


def counters(folder, reported: int, passes: int):
    folder.mkdir(exist_ok=True)
    (folder / "reported_kib").write_text(f"{reported}\n")
    (folder / "passes").write_text(f"{passes}\n")
    return folder


def test_no_counters_no_wait(tmp_path):
    started = time.perf_counter()
    assert environment.settle(30, root=tmp_path / "absent") is None
    assert time.perf_counter() - started < 0.5


def test_zero_seconds_means_do_not_wait(tmp_path):
    assert environment.settle(0, root=counters(tmp_path / "c", 0, 0)) is None


def test_quiet_counters_wait_one_quiet_period(tmp_path):
    settled = environment.settle(10, quiet_s=0.2, poll_s=0.01, root=counters(tmp_path / "c", 5, 1))
    assert settled.quiet and settled.changes == 0
    assert 0.2 <= settled.waited_s < 2
    assert "no freed memory" in settled.describe()


def test_waits_until_the_passes_stop(tmp_path):
    root = counters(tmp_path / "c", 0, 0)

    def report():  # three passes 0.15 s apart, as the kernel makes them 2 s apart
        for k in range(1, 4):
            time.sleep(0.15)
            counters(root, 1024 * k, k)

    reporter = threading.Thread(target=report)
    reporter.start()
    settled = environment.settle(10, quiet_s=0.3, poll_s=0.01, root=root)
    reporter.join()
    # 3 passes, seen as 1 (a poll delayed on a busy machine) to 6 (a poll between a pass's two writes)
    assert settled.quiet and 1 <= settled.changes <= 6
    assert settled.waited_s >= 0.45 + 0.3  # the last pass, then a quiet period
    assert "waited" in settled.describe()


def test_gives_up_after_max_seconds(tmp_path):
    root = counters(tmp_path / "c", 0, 0)
    stop = threading.Event()

    def report():  # a pass every 20 ms, forever
        k = 0
        while not stop.wait(0.02):
            k += 1
            counters(root, k, k)

    reporter = threading.Thread(target=report)
    reporter.start()
    try:
        settled = environment.settle(0.4, quiet_s=0.2, poll_s=0.01, root=root)
    finally:
        stop.set()
        reporter.join()
    assert not settled.quiet
    assert 0.4 <= settled.waited_s < 2
    assert "still returning" in settled.describe()


def test_driver_waits_before_epoch_one(tmp_path, idx_dir, monkeypatch):
    root = counters(tmp_path / "c", 0, 0)
    monkeypatch.setattr(environment, "PAGE_REPORTING", root)
    monkeypatch.setattr(environment, "REPORTING_QUIET_S", 0.1)
    backend = get_backend("numpy-tuned")
    mnist = load_mnist(idx_dir, verify=False)
    spec = Spec(layers=(784, 8, 10), epochs=1, n_train=len(mnist.train_labels))
    seen = []  # (what on_ready saw, epochs finished by then)
    run = train_backend(
        backend, spec, mnist, "float32", settle_s=5, on_ready=lambda r: seen.append((r.settled, len(r.epochs)))
    )
    assert run.settled.quiet and run.settled.waited_s >= 0.1
    assert seen == [(run.settled, 0)]  # told once, before epoch 1
    assert train_backend(backend, spec, mnist, "float32").settled is None  # by default it does not wait


def test_driver_then_trains_a_copy_and_leaves_the_model_as_it_was(tmp_path, idx_dir, monkeypatch):
    from tests.conftest import assert_allclose_weights

    monkeypatch.setattr(environment, "PAGE_REPORTING", counters(tmp_path / "c", 0, 0))
    monkeypatch.setattr(environment, "REPORTING_QUIET_S", 0.05)
    monkeypatch.setattr(environment, "SPIN_UP_S", 0.2)
    backend = get_backend("numpy-tuned")
    mnist = load_mnist(idx_dir, verify=False)
    spec = Spec(layers=(784, 8, 10), epochs=2, n_train=len(mnist.train_labels))
    seen = []
    spun = train_backend(backend, spec, mnist, "float32", settle_s=5, on_ready=lambda r: seen.append(r.spun_up_s))
    plain = train_backend(backend, spec, mnist, "float32")
    assert seen == [spun.spun_up_s] and spun.spun_up_s >= 0.2  # before epoch 1, for the time asked
    assert plain.spun_up_s == 0  # --settle 0: neither wait nor spin-up
    assert_allclose_weights(backend.weights(spun.model), backend.weights(plain.model))  # bit for bit
    assert [e.test_correct for e in spun.epochs] == [e.test_correct for e in plain.epochs]


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_bad_settle_is_one_line(value):
    result = run_cli("run", "--settle", value)
    assert result.returncode == 2
    assert "--settle" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_settle_environment_is_one_line(monkeypatch):
    monkeypatch.setenv(environment_name := "MNIST_BENCH_SETTLE", "soon")
    result = run_cli("ab", "numpy-tuned", "numpy-tuned")
    assert result.returncode == 2
    assert "--settle" in result.stderr and environment_name in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
