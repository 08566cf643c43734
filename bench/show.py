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
seed's view is the reference's (backends/numpy_plain.py), not a second copy of the math.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from pathlib import Path

from bench.options import data_options, folder, number
from core.errors import UserError, program_name


def add_command(sub) -> None:
    # fmt: off
    p = sub.add_parser("show",
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
    how.add_argument("--png", type=folder, metavar="DIR", help="write PNG files into DIR instead of drawing")
    style = how.add_mutually_exclusive_group()
    style.add_argument("--ascii", action="store_true", help="plain characters, no colour (also when NO_COLOR is set)")
    style.add_argument("--color", action="store_true", help="ANSI colour even when stdout is not a terminal")
    how.add_argument("--size", choices=("auto", "full", "half"), default="auto",
                     help="28x28 images at full resolution or halved; auto: full when it fits (default)")
    data_options(how)
    p.set_defaults(func=cmd_show)
    # fmt: on


def cmd_show(args) -> int:
    from bench.figures import digit_figure, evolution_figures, outputs_figure, seed_view_figure, weights_figure
    from bench.pictures import render_fitting, save_png, wants_color
    from core.persist import load_model

    views = [v for v in ("weights", "outputs", "seed_view", "evolution") if getattr(args, v)]
    if args.model is None:
        if views:
            flag = "--" + views[0].replace("_", "-")
            raise UserError(f"{flag} draws a saved model: {program_name()} show MODEL.npz {flag}")
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
        warnings.warn(
            f"{saved.path} was trained on other data (digest {saved.meta['data_digest']}, this is {mnist.digest})",
            stacklevel=1,
        )
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
