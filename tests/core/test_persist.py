"""Saved models: round trips into every backend, `run --save` then `evaluate`, and clean refusals of bad files."""

import importlib
import io
import json
import os
import re
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli import main
from core import __version__, persist
from core.conformance import synthetic_digits
from core.errors import ModelError
from core.model_format import FIELDS, FORMAT_VERSION, metadata
from core.persist import RunSaver, load_model, save_model, snapshot_path
from core.spec import Spec, initial_weights
from tests.conftest import assert_allclose_weights, run_cli

SPEC = Spec(layers=(784, 8, 10), epochs=3, seed=5)


def meta_for(spec=SPEC, **changes) -> dict:
    run = {"backend": "numpy", "dtype": "float32", "data_digest": "0123456789abcdef", "run_id": "test-run"}
    meta = metadata(spec, epochs_trained=2, samples_per_epoch=300, test_correct=37, test_total=100, **run)
    meta.update(changes)
    return meta


def backend_module(name: str):
    """The backend module itself: discovering every backend would import heavy optional ones."""
    return importlib.import_module(f"backends.{name.replace('-', '_')}")


def trained_weights(spec=SPEC):
    """Weights after a few SGD steps, so that no array is all zeros."""
    backend = backend_module("numpy-tuned")
    model = backend.load(initial_weights(spec), spec, "float64")
    images, labels = synthetic_digits(50, 0)
    backend.train(model, backend.load_data(images, labels, "float64"), np.arange(50), 10, 3.0)
    return backend.weights(model)


@pytest.fixture
def saved(tmp_path):
    weights = trained_weights()
    return save_model(tmp_path / "m.npz", weights, meta_for()), weights


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "backend_name, dtype", [("numpy-tuned", "float64"), ("numpy-plain", "float32"), ("python-plain", "float64")]
)
def test_saved_model_loads_into_any_backend_and_predicts_as_the_original(saved, backend_name, dtype):
    path, weights = saved
    model = load_model(path)
    assert_allclose_weights(model.weights, weights)  # bit for bit
    assert model.spec == SPEC and model.meta["dtype"] == "float32"
    backend = backend_module(backend_name)
    images, labels = synthetic_digits(40, 9)
    data = backend.load_data(images, labels, dtype)
    from_file = backend.predict(backend.load(model.weights, model.spec, dtype), data)
    original = backend.predict(backend.load(weights, SPEC, dtype), data)
    np.testing.assert_array_equal(from_file, original)
    rtol = 1e-6 if dtype == "float32" else 0
    assert_allclose_weights(backend.weights(backend.load(model.weights, model.spec, dtype)), weights, rtol=rtol)


def test_file_holds_float64_arrays_and_json_metadata_and_no_pickle(saved):
    path, _ = saved
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["W1", "W2", "b1", "b2", "metadata"]
        assert {npz[name].dtype for name in ("W1", "b1", "W2", "b2")} == {np.dtype(np.float64)}
        assert npz["metadata"].dtype == np.uint8 and npz["metadata"].ndim == 1
        meta = json.loads(npz["metadata"].tobytes())
    assert meta["layers"] == [784, 8, 10] and meta["activation"] == "sigmoid" and meta["loss"] == "quadratic"
    assert meta["init"] == "uniform" and meta["seed"] == 5 and meta["backend"] == "numpy"
    assert meta["test_accuracy"] == 0.37 and meta["data_digest"] == "0123456789abcdef"
    assert meta["version"] == __version__ and meta["format_version"] == FORMAT_VERSION


def test_saving_never_replaces_a_file_unless_forced_and_leaves_no_temporary_files(saved):
    path, weights = saved
    before = path.read_bytes()
    with pytest.raises(ModelError, match="already exists; pass --force"):
        save_model(path, weights, meta_for(test_correct=99, test_accuracy=0.99))
    assert path.read_bytes() == before
    save_model(path, weights, meta_for(test_correct=99, test_accuracy=0.99), overwrite=True)
    assert load_model(path).accuracy == 0.99
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.npz"]


def test_run_saver_writes_snapshots_and_keeps_a_file_that_appears_during_the_run(tmp_path):
    from core.driver import EpochRecord

    path = tmp_path / "m.npz"
    saver = RunSaver(path, SPEC, backend="numpy", dtype="float64", data_digest="d", run_id="r1", every=2)
    assert saver.planned() == [path, snapshot_path(path, 0, 3), snapshot_path(path, 2, 3)]
    saver.check()
    weights = trained_weights()
    saver.initial(initial_weights(SPEC), 300)
    for epoch in (1, 2, 3):
        saver.epoch(EpochRecord(epoch, 1.0, 0.1, 300, False, 30 + epoch, 100), weights)
    path.write_bytes(b"someone else's file")
    with pytest.warns(UserWarning, match="appeared during the run"):
        final = saver.final("ok")
    assert path.read_bytes() == b"someone else's file" and final == tmp_path / "m.r1.npz"
    assert load_model(final).meta["epochs_trained"] == 3 and load_model(final).meta["test_correct"] == 33
    assert [p.name for _, p in persist.find_snapshots(path)] == ["m.epoch00.npz", "m.epoch02.npz"]
    assert load_model(tmp_path / "m.epoch00.npz").accuracy is None
    with pytest.raises(ModelError, match="m.npz already exists"):
        RunSaver(path, SPEC, backend="numpy", dtype="float64", data_digest="d", run_id="r2").check()


# ---------------------------------------------------------------- end to end
def test_run_save_then_evaluate_reports_the_same_accuracy(idx_dir, tmp_path, capsys):
    model = tmp_path / "models" / "m.npz"
    common = ["--data-dir", str(idx_dir), "--unverified"]
    saving = ["--save", str(model), "--snapshot-every", "1"]
    run = run_cli("run", "--epochs", "2", *saving, "--quiet", "--results", str(tmp_path / "results"), *common)
    assert run.returncode == 0, run.stderr
    correct = re.search(r"epoch  2/2: .*?(\d+) / 100", run.stdout).group(1)
    assert f"saved the model after epoch 2 ({correct}.00% test accuracy, ok) to {model}" in run.stdout
    assert sorted(p.name for p in model.parent.iterdir()) == [
        "m.epoch00.npz",
        "m.epoch01.npz",
        "m.epoch02.npz",
        "m.npz",
    ]

    assert main(["evaluate", str(model), *common]) == 0  # the CLI in this process: a fresh one costs seconds
    out = capsys.readouterr().out
    now, stored = (line for line in out.splitlines() if "test accuracy now" in line or "stored" in line)
    assert f"{correct} / 100" in now and f"{correct} / 100" in stored and "the same" in stored

    before = model.read_bytes()
    assert (
        main(["run", "--epochs", "1", "--save", str(model), "--quiet", "--results", str(tmp_path / "r2"), *common]) == 2
    )
    captured = capsys.readouterr()
    assert "already exists; pass --force" in captured.err and "epoch" not in captured.out
    assert model.read_bytes() == before


# ---------------------------------------------------------------- bad files
def npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def model_arrays(weights=None, meta=None) -> dict:
    weights = weights or trained_weights()
    arrays = {"metadata": np.frombuffer(json.dumps(meta or meta_for()).encode(), np.uint8)}
    for l, (W, b) in enumerate(weights, start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    return arrays


def _without(arrays, name):
    return {k: v for k, v in arrays.items() if k != name}


BAD_FILES = {
    "text": (lambda a: b"W1,b1\n1,2\n", "not an .npz file (not a zip archive"),
    "npy": (lambda a: _npy(a["W1"]), "not an .npz file"),
    "pickle": (lambda a: __import__("pickle").dumps(a), "not an .npz file"),
    "pickled object array": (
        lambda a: npz_bytes({**a, "W1": np.array([{"x": 1}], dtype=object)}),
        "array W1 holds pickled Python objects",
    ),
    "wrong shape": (
        lambda a: npz_bytes({**a, "W1": np.zeros((9, 784))}),
        "array W1 has shape (9, 784) but layers 784,8,10 need (8, 784)",
    ),
    "missing array": (lambda a: npz_bytes(_without(a, "b2")), "missing b2"),
    "extra array": (lambda a: npz_bytes({**a, "W3": np.zeros((10, 10))}), "unexpected W3"),
    "float32 arrays": (lambda a: npz_bytes({**a, "W2": a["W2"].astype(np.float32)}), "W2 has dtype float32"),
    "no metadata": (lambda a: npz_bytes(_without(a, "metadata")), "has no 'metadata' array"),
    "metadata not json": (
        lambda a: npz_bytes({**a, "metadata": np.frombuffer(b"{layers: 784", np.uint8)}),
        "metadata is not valid JSON",
    ),
    "metadata as text array": (lambda a: npz_bytes({**a, "metadata": np.array("{}")}), "1-d uint8 array of JSON"),
    "metadata of other layers": (
        lambda a: npz_bytes({**a, "metadata": _meta(layers=[784, 36, 10])}),
        "layers 784,36,10 need",
    ),
    "metadata lacking a key": (lambda a: npz_bytes({**a, "metadata": _meta(drop="seed")}), "lacks 'seed'"),
    "metadata of the wrong type": (
        lambda a: npz_bytes({**a, "metadata": _meta(seed="five")}),
        "'seed' has the wrong type",
    ),
    "metadata of a bad network": (
        lambda a: npz_bytes({**a, "metadata": _meta(activation="swish")}),
        "describes no valid network: unknown --activation",
    ),
    "another program's npz": (lambda a: npz_bytes({**a, "metadata": _meta(format="other")}), "not a model saved by"),
    "a newer format": (lambda a: npz_bytes({**a, "metadata": _meta(format_version=99)}), "upgrade mnist-bench"),
    "inconsistent accuracy": (lambda a: npz_bytes({**a, "metadata": _meta(test_accuracy=0.9)}), "does not equal"),
    "truncated": (lambda a: npz_bytes(a)[:-200], "not a zip archive, or a truncated one"),
    "corrupted data": (lambda a: _flip(npz_bytes(a), 5000), "damaged or not a saved model"),
    "empty file": (lambda a: b"", "not an .npz file"),
}


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _meta(drop=None, **changes):
    meta = meta_for(**changes)
    meta.pop(drop, None)
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


def _flip(content: bytes, at: int) -> bytes:
    return content[:at] + bytes([content[at] ^ 0xFF]) + content[at + 1 :]


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_model_files_are_refused_with_one_line_and_exit_code_2(case, tmp_path, capsys):
    make, message = BAD_FILES[case]
    path = tmp_path / "bad.npz"
    path.write_bytes(make(model_arrays()))
    with pytest.raises(ModelError, match=re.escape(message)):
        load_model(path)
    capsys.readouterr()
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {path}"), err


def test_a_bad_model_file_is_refused_by_a_fresh_process_too(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(npz_bytes({**model_arrays(), "W1": np.array([object()], dtype=object)}))
    done = run_cli("evaluate", str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "pickled Python objects" in done.stderr
    missing = run_cli("show", str(tmp_path / "nothing.npz"))
    assert missing.returncode == 2 and "no such model file" in missing.stderr


# ---------------------------------------------------------------- fuzzing the loader
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 150))
_SMALL = Spec(layers=(784, 2, 10))
_VALID = npz_bytes(model_arrays(initial_weights(_SMALL), meta_for(_SMALL)))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
    truncate=st.one_of(st.none(), st.integers(0, len(_VALID))),
)
def test_mutated_model_bytes_are_loaded_or_refused_cleanly(tmp_path, cuts, truncate):
    content = bytearray(_VALID)
    for at, value in cuts:
        content[at] = value
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(content[:truncate]))
    try:
        load_model(path)
    except ModelError as exc:
        assert "\n" not in str(exc)


_MEMBERS = zipfile.ZipFile(io.BytesIO(_VALID)).namelist()


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    member=st.sampled_from(_MEMBERS),
    cuts=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6),
    truncate=st.one_of(st.none(), st.integers(0, 300)),
)
def test_mutated_arrays_inside_a_sound_zip_are_loaded_or_refused_cleanly(tmp_path, member, cuts, truncate):
    """Mutations in the npy headers and data, behind valid zip checksums."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_VALID)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            content = bytearray(source.read(name))
            if name == member:
                for at, value in cuts:
                    content[at % len(content)] = value
                content = content[:truncate]
            target.writestr(name, bytes(content))
    path = tmp_path / "fuzz.npz"
    path.write_bytes(buffer.getvalue())
    try:
        load_model(path)
    except ModelError as exc:
        assert "\n" not in str(exc)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(sorted(FIELDS)), _JSON, max_size=4))
def test_mutated_metadata_is_loaded_or_refused_cleanly(tmp_path, changes):
    meta = {**meta_for(_SMALL), **changes}
    path = tmp_path / "fuzz.npz"
    arrays = model_arrays(initial_weights(_SMALL), None)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path.write_bytes(npz_bytes(arrays))
    try:
        model = load_model(path)
    except ModelError as exc:
        assert "\n" not in str(exc)
    else:
        assert model.spec.layers == (784, 2, 10)


def test_zip_members_that_are_not_arrays_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(npz_bytes(model_arrays()))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(ModelError, match="unexpected notes.txt"):
        load_model(path)
