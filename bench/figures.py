"""The pictures `bench show` draws: a test digit, a saved model's weights and outputs on the hidden
grid, the seed program's view, and one neuron over a run's snapshots."""

from __future__ import annotations

import warnings

import numpy as np

from bench.pictures import Figure, Panel, grid_shape, on_grid, robust_limit
from core.errors import UserError, program_name

PERCENTILE = 99.0  # weight pictures clip their colour scale at this percentile of |w|


def _stem(saved) -> str:
    name = saved.path.name
    return name[: -len(".npz")] if name.endswith(".npz") else name


def _describe(saved) -> str:
    m = saved.meta
    acc = f"{100 * m['test_accuracy']:.2f}% test accuracy" if m["test_accuracy"] is not None else "not evaluated"
    return f"{saved.path.name}: {saved.spec.layers_str} {saved.spec.activation}, epoch {m['epochs_trained']}, {acc}"


def _forward(saved, images: np.ndarray) -> list[np.ndarray]:
    """Every layer's activations a_1 .. a_L for uint8 images [n, 784], by the float64 reference
    (backends/numpy_plain.py), whatever backend trained the model."""
    from backends import numpy_plain as reference

    model = reference.load(saved.weights, saved.spec, "float64")
    return reference.forward(model, images / 255.0)[1:]


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
    return Figure(
        title, [Panel(f"#{index} label {labels[index]}", image)], 1, name=f"digit-test{index:05d}-label{labels[index]}"
    )


def weights_figure(saved) -> Figure:
    W1 = saved.weights[0][0]  # [n_hidden, 784]
    n = len(W1)
    rows, columns = grid_shape(n)
    limit = robust_limit(W1, PERCENTILE)
    panels = [Panel(str(k), on_grid(W1[k]), "signed", limit) for k in range(n)]
    return Figure(
        f"{_describe(saved)}\nincoming weights of each of the {n} hidden neurons, one pixel per input pixel "
        f"({rows}x{columns} grid, neurons numbered from 0)",
        panels,
        columns,
        legends=[("weight", limit)],
        name=f"{_stem(saved)}-hidden-weights",
        notes=[
            f"colours clipped to [-{limit:.3g}, +{limit:.3g}], the {PERCENTILE:g}th percentile of |w| (max |w| {np.abs(W1).max():.3g})"
        ],
    )


def outputs_figure(saved) -> Figure:
    W, b = saved.weights[-1]  # [10, n_previous]
    shape = grid_shape(W.shape[1])
    limit = float(np.abs(W).max()) or 1.0
    panels = [Panel(f"digit {d}\nb {b[d]:+.2f}", on_grid(W[d], shape), "signed", limit) for d in range(len(W))]
    return Figure(
        f"{_describe(saved)}\nincoming weights of each output neuron, one cell per neuron of the layer below "
        f"({shape[0]}x{shape[1]}, the grid of --weights)",
        panels,
        grid_shape(len(W))[1],
        legends=[("weight", limit)],
        name=f"{_stem(saved)}-output-weights",
    )


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
    return Figure(
        f"{_describe(saved)}\nthe seed's view of the digit {digit}",
        panels,
        len(chosen),
        legends,
        notes,
        name=f"{_stem(saved)}-seed-view-digit{digit}",
        by_column=True,
    )


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
        raise UserError(
            f"no snapshots of {saved.path}'s run beside it; train with: "
            f"{program_name()} run --save PATH --snapshot-every N"
        )
    order = sorted(frames)
    notes = [f"skipped {skipped} file(s) of other runs beside it"] if skipped else []
    figures = []
    for k in neurons:
        W = np.stack([frames[e].weights[0][0][k] for e in order])
        limit = robust_limit(W, PERCENTILE)
        panels = []
        for e in order:
            acc = frames[e].meta["test_accuracy"]
            panels.append(
                Panel(
                    f"epoch {e}\n" + (f"{100 * acc:.1f}%" if acc is not None else "initial"),
                    on_grid(frames[e].weights[0][0][k]),
                    "signed",
                    limit,
                )
            )
        change = np.abs(W[-1] - W[0])
        unchanged = np.isclose(W[-1], W[0], rtol=1e-6, atol=0)  # float32 runs round the float64 initial weights
        notes_k = notes + [
            f"mean |change| from epoch {order[0]} to {order[-1]}: {change.mean():.3g}; unchanged: "
            f"{int(unchanged.sum())} of {change.size} inputs (border pixels, blank in training)",
            f"colours clipped to [-{limit:.3g}, +{limit:.3g}], the {PERCENTILE:g}th percentile of |w| over the frames",
        ]
        figures.append(
            Figure(
                f"{_describe(saved)}\nhidden neuron {k}: its incoming weights after each saved epoch",
                panels,
                len(panels),
                [("weight", limit)],
                notes_k,
                name=f"{_stem(saved).split('.epoch')[0]}-evolution-neuron{k:02d}",
            )
        )
    return figures
