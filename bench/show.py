"""`bench show`: pictures of MNIST digits and of what a saved model learned, in the terminal or as PNGs.

    bench show --index 7                      test image 7 (no model needed)
    bench show --digit 3                      the first test image of a 3
    bench show MODEL.npz --weights            every hidden neuron's 784 incoming weights, as 28x28 images
    bench show MODEL.npz --outputs            each digit's incoming weights on the grid of hidden neurons
    bench show MODEL.npz --seed-view --digit 8
                                              the seed program's view: inputs, predictions, and the mean
                                              incoming weights of the neurons active above --threshold
    bench show MODEL.npz --evolution --neuron 5
                                              one hidden neuron's weights in each --snapshot-every file
    ... --png DIR                             the same pictures as PNG files

The weights are the backend-independent float64 arrays of the saved file; the forward pass of the
seed's view is backends/numpy.py's own, not a second copy of the math.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

from bench.options import data_options, number
from bench.pictures import Figure, Panel, grid_shape, on_grid, render_fitting, robust_limit, save_png, wants_color
from core.errors import UserError

PERCENTILE = 99.0  # weight pictures clip their colour scale at this percentile of |w|


def add_commands(sub) -> None:
    # fmt: off
    p = sub.add_parser("show", help="draw digits and a saved model's weights in the terminal or as PNGs",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", type=Path, help="a model saved by: bench run --save PATH")
    what = p.add_argument_group("what to draw (with a model and nothing else chosen: --weights)")
    what.add_argument("--index", type=number(int, 0), metavar="N", help="the test image with this index")
    what.add_argument("--digit", type=number(int, 0), metavar="D",
                      help="the first test image of this digit; the digit of --seed-view")
    what.add_argument("--weights", action="store_true", help="each hidden neuron's incoming weights (28x28)")
    what.add_argument("--outputs", action="store_true", help="each digit's incoming weights on the hidden grid")
    what.add_argument("--seed-view", action="store_true",
                      help="for --digit: inputs, predictions and the mean weights of the active neurons")
    what.add_argument("--evolution", action="store_true",
                      help="one hidden neuron's weights in each snapshot of the run (run --snapshot-every N)")
    what.add_argument("--neuron", default="0", metavar="K",
                      help="hidden neuron(s) for --evolution, from 0: 5 or 3,7 (default 0)")
    what.add_argument("--threshold", type=number(float), default=0.3, metavar="T",
                      help="--seed-view: activation threshold (default 0.3)")
    what.add_argument("--examples", type=number(int, 1), default=2, metavar="N",
                      help="--seed-view: this many right and this many wrong predictions (default 2)")
    how = p.add_argument_group("how")
    how.add_argument("--png", type=Path, metavar="DIR", help="write PNG files into DIR instead of drawing")
    style = how.add_mutually_exclusive_group()
    style.add_argument("--ascii", action="store_true", help="plain characters, no colour (also when NO_COLOR is set)")
    style.add_argument("--color", action="store_true", help="ANSI colour even when stdout is not a terminal")
    how.add_argument("--size", choices=("auto", "full", "half"), default="auto",
                     help="28x28 images at full resolution or halved; auto: full when it fits (default)")
    data_options(how)
    p.set_defaults(func=cmd_show)
    # fmt: on


def cmd_show(args) -> int:
    from core.persist import load_model

    views = [v for v in ("weights", "outputs", "seed_view", "evolution") if getattr(args, v)]
    if args.model is None:
        if views:
            flag = "--" + views[0].replace("_", "-")
            raise UserError(f"{flag} draws a saved model: python -m bench show MODEL.npz {flag}")
        if args.index is None and args.digit is None:
            raise UserError("say what to draw: --index N or --digit D, or give a saved model (see: bench show --help)")
    if args.digit is not None and args.digit > 9:
        raise UserError(f"--digit must be 0 to 9, got {args.digit}")
    if args.seed_view and args.digit is None:
        raise UserError("--seed-view needs --digit D, the digit whose test images to show")
    saved = load_model(args.model) if args.model else None
    if saved and not views and args.index is None and args.digit is None:
        views = ["weights"]

    figures = []
    if args.index is not None or (args.digit is not None and not args.seed_view):
        figures.append(digit_figure(_mnist(args, saved), args.index, args.digit, saved))
    if "weights" in views:
        figures.append(weights_figure(saved))
    if "outputs" in views:
        figures.append(outputs_figure(saved))
    if "seed_view" in views:
        figures.append(seed_view_figure(saved, _mnist(args, saved), args.digit, args.threshold, args.examples))
    if "evolution" in views:
        figures += evolution_figures(saved, _neurons(args.neuron, saved))

    if args.png:
        for fig in figures:
            print(f"wrote {save_png(fig, args.png)}")
        return 0
    color = wants_color(sys.stdout, force=True if args.color else False if args.ascii else None)
    terminal = shutil.get_terminal_size() if sys.stdout.isatty() else None
    print("\n\n".join(render_fitting(fig, color=color, size=args.size, terminal=terminal) for fig in figures))
    return 0


def _mnist(args, saved):
    from core.mnist import load_mnist

    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    if saved and saved.meta["data_digest"] != mnist.digest:
        warnings.warn(f"{saved.path} was trained on other data (digest {saved.meta['data_digest']}, "
                      f"this is {mnist.digest})", stacklevel=1)  # fmt: skip
    return mnist


def _neurons(text: str, saved) -> list[int]:
    n_hidden = saved.spec.layers[1]
    try:
        neurons = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--neuron takes hidden neuron numbers such as 5 or 3,7, got {text!r}") from None
    bad = [k for k in neurons if not 0 <= k < n_hidden]
    if bad:
        raise UserError(f"--neuron {bad[0]} does not exist: the first hidden layer has neurons 0 to {n_hidden - 1}")
    return neurons


def _stem(saved) -> str:
    name = saved.path.name
    return name[: -len(".npz")] if name.endswith(".npz") else name


def _describe(saved) -> str:
    m = saved.meta
    acc = f"{100 * m['test_accuracy']:.2f}% test accuracy" if m["test_accuracy"] is not None else "not evaluated"
    return f"{saved.path.name}: {saved.spec.layers_str} {saved.spec.activation}, epoch {m['epochs_trained']}, {acc}"


def _forward(saved, images: np.ndarray) -> list[np.ndarray]:
    """Every layer's activations a_1 .. a_L for uint8 images [n, 784], by backends/numpy.py in float64."""
    from backends import numpy as reference

    model = reference.load(saved.weights, saved.spec, "float64")
    data = reference.load_data(images, np.zeros(len(images), np.uint8), "float64")
    buf = reference._buffers(model, len(images))
    buf.x[0][...] = data.X  # the images with their column of ones
    with np.errstate(over="ignore"):
        reference._forward(model, buf)
    return [a.copy() for a in buf.a[1:]]


# ---------------------------------------------------------------- the figures
def digit_figure(mnist, index: int | None, digit: int | None, saved=None) -> Figure:
    labels = mnist.test_labels
    if index is None:
        found = np.flatnonzero(labels == digit)
        if not found.size:
            raise UserError(f"the test set holds no image of the digit {digit}")
        index = int(found[0])
    if index >= len(labels):
        raise UserError(f"--index {index} is past the end of the test set (0 to {len(labels) - 1})")
    title = f"test image {index}: label {labels[index]}"
    if saved:
        output = _forward(saved, mnist.test_images[index : index + 1])[-1][0]
        title += f", {saved.path.name} predicts {int(output.argmax())} (output {output.max():.3g})"
    image = mnist.test_images[index].reshape(28, 28)
    return Figure(title, [Panel(f"#{index} label {labels[index]}", image)], 1,
                  name=f"digit-test{index:05d}-label{labels[index]}")  # fmt: skip


def weights_figure(saved) -> Figure:
    W1 = saved.weights[0][0]  # [n_hidden, 784]
    n = len(W1)
    rows, columns = grid_shape(n)
    limit = robust_limit(W1, PERCENTILE)
    panels = [Panel(str(k), on_grid(W1[k]), "signed", limit) for k in range(n)]
    return Figure(
        f"{_describe(saved)}\nincoming weights of each of the {n} hidden neurons, one pixel per input pixel "
        f"({rows}x{columns} grid, neurons numbered from 0)", panels, columns,
        legends=[("weight", limit)], name=f"{_stem(saved)}-hidden-weights",
        notes=[f"colours clipped to [-{limit:.3g}, +{limit:.3g}], the {PERCENTILE:g}th percentile of |w| (max |w| {np.abs(W1).max():.3g})"],
    )  # fmt: skip


def outputs_figure(saved) -> Figure:
    W, b = saved.weights[-1]  # [10, n_previous]
    shape = grid_shape(W.shape[1])
    limit = float(np.abs(W).max()) or 1.0
    panels = [Panel(f"digit {d}\nb {b[d]:+.2f}", on_grid(W[d], shape), "signed", limit) for d in range(len(W))]
    return Figure(
        f"{_describe(saved)}\nincoming weights of each output neuron, one cell per neuron of the layer below "
        f"({shape[0]}x{shape[1]}, the grid of --weights)", panels, grid_shape(len(W))[1],
        legends=[("weight", limit)], name=f"{_stem(saved)}-output-weights",
    )  # fmt: skip


def seed_view_figure(saved, mnist, digit: int, threshold: float, examples: int) -> Figure:
    """The seed program's picture: per test example of `digit`, the input, the prediction, and for each layer
    the mean incoming weights of its neurons whose activation exceeds `threshold`."""
    rows = np.flatnonzero(mnist.test_labels == digit)
    if not rows.size:
        raise UserError(f"the test set holds no image of the digit {digit}")
    predicted = _forward(saved, mnist.test_images[rows])[-1].argmax(axis=1)
    right, wrong = rows[predicted == digit], rows[predicted != digit]
    chosen = [*right[:examples], *wrong[:examples]]
    activations = _forward(saved, mnist.test_images[chosen])
    guesses = activations[-1].argmax(axis=1)

    panels: list[Panel] = []
    for i, row in enumerate(chosen):
        verdict = "right" if guesses[i] == digit else "WRONG"
        panels.append(Panel(f"#{row} is {digit}\nsays {guesses[i]}: {verdict}", mnist.test_images[row].reshape(28, 28)))
    legends = []
    layers = saved.spec.layers
    for l, (W, _) in enumerate(saved.weights, start=1):
        means = []
        for i in range(len(chosen)):
            active = activations[l - 1][i] > threshold
            means.append((int(active.sum()), W[active].mean(axis=0) if active.any() else None))
        found = [m for _, m in means if m is not None]
        limit = robust_limit(np.concatenate(found), PERCENTILE) if found else 1.0
        for count, mean in means:
            title = f"L{l}: {count}/{layers[l]} > {threshold:g}"
            panels.append(Panel(title, None if mean is None else on_grid(mean), "signed", limit))
        legends.append((f"layer {l} mean weight", limit))
    notes = [
        f"digit {digit}: {len(right)} of {len(rows)} test images predicted right, {len(wrong)} wrong; "
        f"the first {min(examples, len(right))} right and {min(examples, len(wrong))} wrong",
        f"rows below the inputs: layer by layer, the mean incoming weights of the neurons whose activation "
        f"is above {threshold:g} (L1 on the 28x28 pixels, L{len(layers) - 1} on the grid of the layer below)",
    ]
    return Figure(f"{_describe(saved)}\nthe seed's view of the digit {digit}", panels, len(chosen), legends, notes,
                  name=f"{_stem(saved)}-seed-view-digit{digit}")  # fmt: skip


def evolution_figures(saved, neurons: list[int]) -> list[Figure]:
    from core.errors import ModelError
    from core.persist import find_snapshots, load_model

    frames = {}
    candidates = [p for _, p in find_snapshots(saved.path)]
    final = saved.path.with_name(_stem(saved).split(".epoch")[0] + ".npz")
    candidates += [final] if final.is_file() else []
    skipped = 0
    for path in candidates:
        try:
            snap = saved if path == saved.path else load_model(path)
        except ModelError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=1)
            continue
        if snap.meta["run_id"] != saved.meta["run_id"] or snap.spec.layers != saved.spec.layers:
            skipped += 1
            continue
        frames.setdefault(snap.meta["epochs_trained"], snap)
    frames.setdefault(saved.meta["epochs_trained"], saved)
    if len(frames) < 2:
        raise UserError(f"no snapshots of {saved.path}'s run beside it; train with: "
                        "python -m bench run --save PATH --snapshot-every N")  # fmt: skip
    order = sorted(frames)
    notes = [f"skipped {skipped} file(s) of other runs beside it"] if skipped else []
    figures = []
    for k in neurons:
        W = np.stack([frames[e].weights[0][0][k] for e in order])
        limit = robust_limit(W, PERCENTILE)
        panels = []
        for e in order:
            acc = frames[e].meta["test_accuracy"]
            panels.append(Panel(f"epoch {e}\n" + (f"{100 * acc:.1f}%" if acc is not None else "initial"),
                                on_grid(frames[e].weights[0][0][k]), "signed", limit))  # fmt: skip
        change = np.abs(W[-1] - W[0])
        unchanged = np.isclose(W[-1], W[0], rtol=1e-6, atol=0)  # float32 runs round the float64 initial weights
        notes_k = notes + [f"mean |change| from epoch {order[0]} to {order[-1]}: {change.mean():.3g}; unchanged: "
                           f"{int(unchanged.sum())} of {change.size} inputs (border pixels, blank in training)",
                           f"colours clipped to [-{limit:.3g}, +{limit:.3g}], the {PERCENTILE:g}th percentile of |w| over the frames"]  # fmt: skip
        figures.append(Figure(
            f"{_describe(saved)}\nhidden neuron {k}: its incoming weights after each saved epoch", panels,
            len(panels), [("weight", limit)], notes_k,
            name=f"{_stem(saved).split('.epoch')[0]}-evolution-neuron{k:02d}", wrap=True,
        ))  # fmt: skip
    return figures
