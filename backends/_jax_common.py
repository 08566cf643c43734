"""What the two JAX backends share that is not the math: the lazy import, XLA's threads, the model,
data and weights.

jax is imported when `available()` is first asked, so the backend modules import without it. The
network's math (forward, backward, update) is not here: each backend keeps its own in one block.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

jax = None  # the module, once available() has imported it
jnp = None
_problem: str | None = None
threads: int | None = None  # XLA's CPU threads in this process, once start() has created its client


def available() -> str | None:
    global jax, jnp, _problem
    if jax is None and _problem is None:
        try:
            import jax as _jax
            import jax.numpy as _jnp
        except ModuleNotFoundError as exc:
            _problem = "jax is not installed (pip install -e '.[jax]')" if exc.name in ("jax", "jaxlib") else str(exc)
        except Exception as exc:  # noqa: BLE001 - a broken install makes the backend unavailable, not a crash
            _problem = f"jax failed to import: {type(exc).__name__}: {exc}"
        else:
            # float64 arrays need x64 mode. It is process-wide and can only be set here, before any
            # array exists; it changes jax's *default* dtypes only, so every array below names its dtype
            # and a float32 model stays float32 (a Python float scalar is weakly typed: it does not promote).
            _jax.config.update("jax_enable_x64", True)
            _keep_compiled(_jax)
            jax, jnp = _jax, _jnp
    return _problem


def _keep_compiled(jax_module) -> None:
    """Keep compiled steps on disk, as numba keeps its kernels, so that a later process's warm-up loads
    them rather than compiling again: jax's own cache, in this program's cache folder (core.mnist.cache_dir),
    unless the user chose one ($JAX_COMPILATION_CACHE_DIR). Every compile is kept: these take well under
    the second that jax requires by default. Where that folder cannot be written, steps are compiled in
    each process as before (jax would warn on every compile)."""
    if jax_module.config.jax_compilation_cache_dir:
        return
    from core.mnist import cache_dir

    folder = cache_dir() / "jax"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if not os.access(folder, os.W_OK):
        return
    jax_module.config.update("jax_compilation_cache_dir", str(folder))
    jax_module.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def start() -> int:
    """Create XLA's CPU client, once per process, with as many threads as the BLAS limit in force; return them.

    XLA sizes its CPU thread pool when the client is created (on the first array) and never again:
    that is here, in load/load_data, inside the driver's `--threads` limit (discovery, which calls
    available(), runs before it). threadpoolctl cannot reach XLA, and in jax 0.10 the XLA_FLAGS of
    old (`--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`) no longer keep it on
    one thread; the environment variable PJRT_NPROC, read at that moment, does. It is set for that
    moment only, so child processes do not inherit it. A process keeps the count of its first model.
    """
    global threads
    if available():
        raise RuntimeError(f"the JAX backends are unavailable: {available()}")
    if threads is None:
        from core.environment import blas_info

        _, blas_threads = blas_info()
        before = os.environ.get("PJRT_NPROC")
        if blas_threads > 0:
            os.environ["PJRT_NPROC"] = str(blas_threads)
        try:
            jax.devices("cpu")  # creates the client and its thread pool
            threads = int(os.environ.get("PJRT_NPROC") or len(os.sched_getaffinity(0)))
        finally:
            if before is None:
                os.environ.pop("PJRT_NPROC", None)
            else:
                os.environ["PJRT_NPROC"] = before
    return threads


@dataclass
class Data:
    X: object  # jax.Array [n, 784] pixels / 255
    Y: object  # jax.Array [n, 10] one-hot


@dataclass
class Model:
    params: list  # [(W_l, b_l), ...] jax arrays, W_l [n_l, n_{l-1}]; training replaces them (jax-tuned donates)
    activation: str
    loss: str
    batch_size: int  # the run's, for warmup to compile its shapes
    threads: int  # XLA's CPU threads (start)


def load(weights, spec, dtype: str) -> Model:
    """float64 numpy [(W, b), ...] -> a Model of jax arrays in `dtype`."""
    threads = start()
    params = [(jnp.asarray(np.asarray(W, dtype)), jnp.asarray(np.asarray(b, dtype))) for W, b in weights]
    return Model(params, spec.activation, spec.loss, spec.batch_size, threads)


def load_data(images: np.ndarray, labels: np.ndarray, dtype: str) -> Data:
    start()
    X = images.astype(dtype) / np.asarray(255, dtype)  # the reference's exact pixel values
    Y = np.eye(10, dtype=dtype)[labels]
    return Data(jax.device_put(X), jax.device_put(Y))


def weights(model: Model) -> list[tuple[np.ndarray, np.ndarray]]:
    # np.array copies, so the caller never holds a view of device memory
    return [(np.array(W, np.float64), np.array(b, np.float64)) for W, b in model.params]


PREDICT_CHUNK = 1000  # rows per forward pass; a short last chunk is padded, so one compiled shape serves any n


def predict(classes, params, data: Data) -> np.ndarray:
    """argmax of a_L for every sample: `classes(params, X)`, jitted, on chunks of PREDICT_CHUNK rows."""
    n = data.X.shape[0]
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, PREDICT_CHUNK):
        X = data.X[start : start + PREDICT_CHUNK]
        rows = X.shape[0]
        if rows < PREDICT_CHUNK:  # zero rows after the real ones; their classes are dropped
            X = jnp.pad(X, ((0, PREDICT_CHUNK - rows), (0, 0)))
        out[start : start + rows] = np.asarray(classes(params, X))[:rows]
    return out
