"""`bench sweep`'s grid language: lists, ranges and layer lists, grid files, the points a grid expands
to and their stable keys, and bad grids refused in one line."""

import pytest

from core.errors import UserError
from core.sweep import Point, expand, parse_grid, read_grid_file, sweep_id
from tests.conftest import run_cli


def test_grid_takes_lists_ranges_and_layer_lists():
    grid = parse_grid(" hidden=16,36,128 ; batch=1,10,32;lr=0.5,3;seed=0-4;activation=sigmoid,relu;epochs=1-2")
    assert grid == {
        "hidden": [16, 36, 128],
        "batch": [1, 10, 32],
        "lr": [0.5, 3.0],
        "seed": [0, 1, 2, 3, 4],
        "activation": ["sigmoid", "relu"],
        "epochs": [1, 2],
    }
    assert parse_grid("layers=784-64-32-10,784-36-10;seed=0-1,5")["layers"] == [(784, 64, 32, 10), (784, 36, 10)]
    assert parse_grid("seed=0-1,5,1")["seed"] == [0, 1, 5]  # repeats dropped, order kept


def test_grid_expands_to_every_point_with_the_seed_defaults():
    backends = {"numpy-tuned": ("float32", "float64"), "python-plain": ("float64",)}
    points = expand(parse_grid("hidden=16,36;seed=0-1"), backends, 3)
    assert len(points) == 2 * 2 * 2
    assert {p.dtype for p in points if p.backend == "numpy-tuned"} == {"float32"}  # each backend's default dtype
    p = points[0]
    seed_program = ((784, 16, 10), "sigmoid", "quadratic", "uniform", 10, 3.0, 3)
    assert (p.layers, p.activation, p.loss, p.init, p.batch_size, p.lr, p.epochs) == seed_program


def test_point_key_is_stable():
    point = Point("numba-tuned", "float32", (784, 64, 32, 10), "relu", "cross-entropy", "he", 10, 0.5, 3, 2)
    assert point.key == (
        "backend=numba-tuned dtype=float32 layers=784-64-32-10 activation=relu loss=cross-entropy "
        "init=he batch=10 lr=0.5 seed=3 epochs=2"
    )


def test_sweep_id_does_not_depend_on_how_the_grid_is_spelled():
    backends = {"numpy-tuned": ("float32", "float64")}
    a = expand(parse_grid("seed=0-2;hidden=16,36;lr=3"), backends, 2)
    b = expand(parse_grid("hidden=36,16;seed=2,1,0"), backends, 2)
    c = expand(parse_grid("hidden=36,16;seed=2,1,0"), backends, 3)
    assert sweep_id(a, "mnist") == sweep_id(b, "mnist") != sweep_id(c, "mnist")
    assert sweep_id(a, "mnist") != sweep_id(a, "unverified /elsewhere")


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".toml", 'hidden = [16, 36]\nseed = "0-2"\nlr = 3.0\n'),
        (".toml", '[grid]\nhidden = "16,36"\nseed = [0, 1, 2]\nlr = [3]\n'),
        (".yaml", "hidden: [16, 36]\nseed: 0-2\nlr: 3.0\n"),
    ],
)
def test_grid_file_in_toml_or_yaml_is_the_same_grid(tmp_path, suffix, text):
    path = tmp_path / f"grid{suffix}"
    path.write_text(text)
    assert read_grid_file(path) == parse_grid("hidden=16,36;seed=0-2;lr=3")


@pytest.mark.parametrize(
    "text, message",
    [
        ("hiden=16", "unknown grid key 'hiden'; keys: hidden, layers, batch"),
        ("seed=4-2", "runs backwards; write seed=2-4"),
        ("hidden=16;hidden=32", "given twice"),
        ("hidden=", "empty value"),
        ("hidden=16;layers=784-10", "not both"),
        ("batch=x", "batch takes integers"),
        ("activation=swish", "choose from sigmoid, tanh, relu"),
        ("hidden=64-32", "write layers=784-64-32-10"),
        ("layers=784-36", "must run from 784 to 10"),
        ("lr=nan", "finite"),
        ("hidden 16", "key=values separated by ';'"),
    ],
)
def test_bad_grid_is_one_line_user_error(text, message):
    with pytest.raises(UserError, match=message) as caught:
        expand(parse_grid(text), {"numpy-tuned": ("float32",)}, 1)
    assert "\n" not in str(caught.value)


def test_bad_values_and_conflicting_epochs_are_refused_before_anything_runs():
    with pytest.raises(UserError, match="in the grid: --batch-size must be between 1"):
        expand(parse_grid("batch=0"), {"numpy-tuned": ("float32",)}, 1)
    with pytest.raises(UserError, match="epochs in the grid or as --epochs, not both"):
        expand(parse_grid("epochs=1-2"), {"numpy-tuned": ("float32",)}, 3)
    with pytest.raises(UserError, match="does not support dtype float32"):
        expand(parse_grid("dtype=float32"), {"python-plain": ("float64",)}, 1)


def test_bad_grid_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    done = run_cli("sweep", "--grid", "hidden=16;sed=0-2", "--results", str(tmp_path), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: unknown grid key 'sed'; keys: hidden, layers, batch, lr, seed, activation, "
        "loss, init, epochs, dtype, samples"
    )
    assert not (tmp_path / "sweep.csv").exists()


def test_samples_and_dtype_all_in_the_grid():
    grid = parse_grid("hidden=8;batch=1,10;samples=2000;dtype=all")
    assert grid["samples"] == [2000] and grid["dtype"] == ["all"]
    points = expand(grid, {"numpy-tuned": ("float32", "float64"), "python-plain": ("float64",)}, 5)
    pairs = [("numpy-tuned", "float32"), ("numpy-tuned", "float64"), ("python-plain", "float64")]
    assert sorted({(p.backend, p.dtype) for p in points}) == pairs
    assert all(p.samples == 2000 and p.key.endswith(" samples=2000") for p in points)
    assert Point("numpy-tuned", "float32", (784, 8, 10), "sigmoid", "quadratic", "uniform", 10, 3.0, 0, 1).key.endswith(
        "epochs=1"
    )  # a point on the whole training set keeps the key it had before samples existed
    assert sweep_id(points, "mnist", 2.0) != sweep_id(points, "mnist", 2.0, evaluate=False)
    with pytest.raises(UserError, match="--batch-size must be between 1 and 5, got 10"):
        expand(parse_grid("batch=10;samples=5"), {"numpy-tuned": ("float32",)}, 1)
    with pytest.raises(UserError, match="at least 1"):
        parse_grid("samples=0")
    with pytest.raises(UserError, match="give it alone"):
        parse_grid("dtype=all,float32")
