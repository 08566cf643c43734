"""`bench show`: grid shapes, half-block and ASCII drawing, colour rules, the four pictures, PNG files."""

import io
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import figures, pictures
from bench.cli import main
from bench.pictures import SIGNED_LEVELS, UPPER_HALF, Figure, Panel, grid_shape, on_grid, render, wants_color
from core.persist import SavedModel, load_model, save_model
from core.spec import Spec, initial_weights
from tests.conftest import write_idx_dir

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained for 2 epochs on synthetic digits through `bench run`, with snapshots 0, 1, 2."""
    folder = tmp_path_factory.mktemp("show")
    idx = write_idx_dir(folder / "idx")
    model = folder / "m.npz"
    data = ["--data-dir", str(idx), "--unverified"]
    code = main(
        [
            "run",
            "--epochs",
            "2",
            "--layers",
            "784,12,10",
            "--save",
            str(model),
            "--snapshot-every",
            "1",
            "--quiet",
            "--results",
            str(folder / "results"),
            *data,
        ]
    )
    assert code == 0
    return model, data


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(capsys, *args) -> str:
    assert main(["show", *args]) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------- layout
@pytest.mark.parametrize(
    "n, shape",
    [
        (36, (6, 6)),
        (64, (8, 8)),
        (32, (4, 8)),
        (10, (2, 5)),
        (12, (3, 4)),
        (37, (6, 7)),
        (22, (5, 5)),
        (1, (1, 1)),
        (3, (1, 3)),
        (7, (3, 3)),
    ],
)
def test_grid_shape_is_the_squarest_factorisation_or_a_near_square_with_empty_cells(n, shape):
    assert grid_shape(n) == shape


def test_grid_shape_always_fits_never_leaves_an_empty_row_and_is_exact_when_it_can_be():
    for n in range(1, 500):
        rows, columns = grid_shape(n)
        assert rows * columns >= n and rows <= columns and rows * columns - n < columns, n
        squarest = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
        if n // squarest <= 2.5 * squarest or n <= 4:
            assert rows * columns == n, n


def test_a_vector_is_laid_on_its_grid_row_by_row_with_nan_padding():
    grid = on_grid(np.arange(37.0))
    assert grid.shape == (6, 7) and grid[0, 6] == 6 and grid[5, 1] == 36 and np.isnan(grid[5, 2:]).all()
    assert on_grid(np.arange(784)).shape == (28, 28)


# ---------------------------------------------------------------- drawing
def test_half_blocks_put_the_upper_pixel_in_the_foreground_and_the_lower_in_the_background():
    image = np.zeros((28, 28))
    image[0] = 255  # white row above a black row
    text = render(Figure("t", [Panel("p", image)], 1), color=True)
    lines = text.splitlines()
    assert len(lines) == 2 + 14  # figure title, panel title, 28 pixel rows in 14 character lines
    assert lines[2].startswith(f"\x1b[38;5;231;48;5;16m{UPPER_HALF}")  # fg white (upper), bg black (lower)
    assert "\x1b[38;5;16;48;5;16m" in lines[3]


def test_signed_values_use_a_blue_white_red_scale_centred_on_zero():
    panel = Panel("w", None, "signed", limit=2.0)
    levels = pictures._levels(panel, np.array([[-2.0, -1.0, 0.0, 1.0, 2.0, 7.0, np.nan]]), len(SIGNED_LEVELS))
    assert levels.tolist() == [[0, 4, 8, 12, 16, 16, -1]]
    cube = [((c - 16) // 36, (c - 16) // 6 % 6, (c - 16) % 6) for c in SIGNED_LEVELS]  # (r, g, b)
    assert cube[8] == (5, 5, 5)  # zero is white
    assert all(b > r for r, _, b in cube[:8]) and all(r > b for r, _, b in cube[9:])  # blue below, red above


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert wants_color(Terminal()) and not wants_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_color(Terminal()) and wants_color(io.StringIO(), force=True)


def test_a_digit_falls_back_to_plain_ascii_under_no_color(trained, monkeypatch, capsys):
    _, data = trained
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["show", "--index", "3", *data]) == 0
    assert "\x1b[38;5;" in sys.stdout.getvalue() and UPPER_HALF in sys.stdout.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(["show", "--index", "3", *data]) == 0
    text = sys.stdout.getvalue()
    assert "\x1b" not in text and UPPER_HALF not in text and text.isascii()
    picture = text.splitlines()[2:16]
    assert len(picture) == 14 and all(len(line) <= 28 and set(line) <= set(pictures.GRAY_RAMP) for line in picture)
    assert any(line.strip() for line in picture)


def test_ascii_flag_and_color_flag_override_the_terminal(trained, capsys):
    model, data = trained
    assert "\x1b" not in shown(capsys, str(model), "--weights", "--ascii")
    assert "\x1b[" in shown(capsys, str(model), "--outputs", "--color")  # stdout is not a terminal here


# ---------------------------------------------------------------- the pictures
def saved_model(layers) -> SavedModel:
    spec = Spec(layers=layers)
    return SavedModel(Path("x.npz"), initial_weights(spec), {"epochs_trained": 0, "test_accuracy": None}, spec)


@pytest.mark.parametrize(
    "layers, weight_columns, output_grid",
    [((784, 36, 10), 6, (6, 6)), ((784, 64, 32, 10), 8, (4, 8)), ((784, 37, 10), 7, (6, 7))],
)
def test_weight_pictures_follow_the_shape_of_the_network(layers, weight_columns, output_grid):
    saved = saved_model(layers)
    weights = figures.weights_figure(saved)
    assert len(weights.panels) == layers[1] and weights.columns == weight_columns
    assert all(p.image.shape == (28, 28) and p.scale == "signed" for p in weights.panels)
    np.testing.assert_array_equal(weights.panels[3].image.ravel(), saved.weights[0][0][3])
    outputs = figures.outputs_figure(saved)
    assert len(outputs.panels) == 10 and outputs.columns == 5
    assert {p.image.shape for p in outputs.panels} == {output_grid}


def test_seed_view_shows_inputs_predictions_and_mean_weights_of_active_neurons(trained, capsys):
    from core.mnist import load_mnist

    model, data = trained
    saved, mnist = load_model(model), load_mnist(data[1], verify=False)
    fig = figures.seed_view_figure(saved, mnist, 3, 0.3, 2)
    n = fig.columns
    assert 1 <= n <= 4 and len(fig.panels) == 3 * n  # inputs, layer 1 means, layer 2 means
    inputs, hidden = fig.panels[:n], fig.panels[n : 2 * n]
    index = int(inputs[0].title.split()[0][1:])
    assert mnist.test_labels[index] == 3 and inputs[0].image.shape == (28, 28)
    a1 = 1 / (1 + np.exp(-(mnist.test_images[index] / 255 @ saved.weights[0][0].T + saved.weights[0][1])))
    active = a1 > 0.3
    assert hidden[0].title.startswith(f"L1: {active.sum()}/12 > 0.3")
    if active.any():
        np.testing.assert_allclose(hidden[0].image.ravel(), saved.weights[0][0][active].mean(axis=0))
    everything = figures.seed_view_figure(saved, mnist, 3, 0.0, 2)  # every neuron is above 0
    assert {p.image.shape for p in everything.panels[2 * n :]} == {(3, 4)}  # on the 3x4 grid of 12 hidden neurons
    text = shown(capsys, str(model), "--seed-view", "--digit", "3", *data)
    assert "the seed's view of the digit 3" in text and ("right" in text or "WRONG" in text)


def test_evolution_has_a_frame_per_snapshot_and_skips_other_runs(trained, capsys, tmp_path):
    model, _ = trained
    for path in model.parent.glob("m*.npz"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    other = load_model(model)
    save_model(tmp_path / "m.epoch07.npz", other.weights, {**other.meta, "run_id": "another run"})
    (figure,) = figures.evolution_figures(load_model(tmp_path / "m.npz"), [4])
    assert [p.title.splitlines()[0] for p in figure.panels] == ["epoch 0", "epoch 1", "epoch 2"]
    assert figure.notes[0] == "skipped 1 file(s) of other runs beside it"
    np.testing.assert_allclose(figure.panels[0].image.ravel(), initial_weights(other.spec)[0][0][4])
    assert "unchanged:" in figure.notes[-2]
    text = shown(capsys, "--evolution", str(tmp_path / "m.epoch01.npz"), "--neuron", "4", "--ascii")
    assert "hidden neuron 4" in text and "epoch 2" in text


# ---------------------------------------------------------------- PNG files
def test_every_picture_can_be_written_as_a_valid_png(trained, tmp_path, capsys):
    from matplotlib.image import imread

    model, data = trained
    out = tmp_path / "png"
    shown(capsys, str(model), "--weights", "--outputs", "--seed-view", "--digit", "5", "--png", str(out), *data)
    shown(capsys, str(model), "--evolution", "--neuron", "0,11", "--png", str(out))
    text = shown(capsys, "--digit", "7", "--png", str(out), *data)
    names = sorted(p.name for p in out.iterdir())
    assert names[0].startswith("digit-test") and names[0].endswith("-label7.png") and f"wrote {out}" in text
    assert names[1:] == [
        "m-evolution-neuron00.png",
        "m-evolution-neuron11.png",
        "m-hidden-weights.png",
        "m-output-weights.png",
        "m-seed-view-digit5.png",
    ]
    for name in names:
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


# ---------------------------------------------------------------- mistakes
@pytest.mark.parametrize(
    "args, message",
    [
        (["--weights"], "--weights draws a saved model: python -m bench show MODEL.npz --weights"),
        ([], "say what to draw"),
        (["MODEL", "--seed-view"], "--seed-view needs --digit D"),
        (
            ["MODEL", "--evolution", "--neuron", "12"],
            "--neuron 12 does not exist: the first hidden layer has neurons 0 to 11",
        ),
        (["MODEL", "--evolution", "--neuron", "x"], "--neuron takes hidden neuron numbers"),
        (["MODEL", "--digit", "12"], "--digit must be 0 to 9"),
        (["MODEL", "--index", "100", "DATA"], "--index 100 is past the end of the test set (0 to 99)"),
    ],
)
def test_show_mistakes_are_one_line_errors(trained, capsys, args, message):
    model, data = trained
    args = [str(model) if a == "MODEL" else a for a in args]
    args = [*args[:-1], *data] if args[-1:] == ["DATA"] else args
    assert main(["show", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err


def test_evolution_without_snapshots_says_how_to_make_them(trained, tmp_path, capsys):
    model, _ = trained
    lone = tmp_path / "lone.npz"
    lone.write_bytes(model.read_bytes())
    assert main(["show", str(lone), "--evolution"]) == 2
    assert "train with: python -m bench run --save PATH --snapshot-every N" in capsys.readouterr().err


# ---------------------------------------------------------------- fitting the terminal
def _visible_widths(text: str) -> list[int]:
    return [len(pictures._strip(line)) for line in text.splitlines()]


@pytest.mark.parametrize("color", [True, False], ids=["color", "ascii"])
def test_every_view_fits_an_80_column_terminal(color):
    """The seed's 784-36-10 network at 80x24: the 6x6 weight grid, the outputs, a wide seed view and a long
    evolution strip all re-flow to fit, and long text lines wrap."""
    rng = np.random.default_rng(0)
    spec = Spec()
    meta = {"run_id": "r", "epochs_trained": 30, "test_accuracy": 0.95}
    saved = SavedModel(path=Path("m.npz"), weights=initial_weights(spec), meta=meta, spec=spec)
    mnist = type("Mnist", (), {})()
    mnist.test_images = rng.integers(0, 256, (200, 784), dtype=np.uint8)
    mnist.test_labels = np.arange(200) % 10
    views = [
        figures.weights_figure(saved),
        figures.outputs_figure(saved),
        figures.seed_view_figure(saved, mnist, 8, 0.3, 3),
        Figure("strip", [Panel(f"epoch {e}", rng.normal(size=(28, 28)), "signed") for e in range(9)], 9),
    ]
    terminal = os.terminal_size((80, 24))
    for fig in views:
        text = pictures.render_fitting(fig, color=color, size="auto", terminal=terminal)
        assert max(_visible_widths(text)) <= 80, fig.title


def test_reflowing_a_by_column_figure_keeps_each_column_together():
    panels = [Panel(f"r{r}c{c}", np.zeros((28, 28))) for r in range(3) for c in range(6)]
    fig = pictures.reflowed(Figure("t", panels, 6, by_column=True), 4)
    assert fig.columns == 3  # two even blocks rather than 4 + 2
    assert [p.title for p in fig.panels[:6]] == ["r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"]
    assert [p.title for p in fig.panels[9:12]] == ["r0c3", "r0c4", "r0c5"]
    by_rows = pictures.reflowed(Figure("t", panels, 6), 4)
    assert by_rows.columns == 4 and by_rows.panels == panels
