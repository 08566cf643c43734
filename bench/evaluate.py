"""`bench evaluate MODEL.npz`: a saved model's test accuracy, recomputed on any backend, beside the stored one."""

from __future__ import annotations

import warnings
from pathlib import Path
from time import perf_counter

from bench.options import data_options


def add_command(sub) -> None:
    p = sub.add_parser("evaluate")
    p.add_argument("model", type=Path, help="a model saved by: bench run --save PATH")
    p.add_argument("--backend", default="numpy-plain", help="backend to evaluate with (default %(default)s)")
    p.add_argument("--dtype", help="default: the dtype the model was trained in, if the backend has it")
    data_options(p)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    import numpy as np

    from core.backend import check_supports, get_backend, resolve_dtype
    from core.mnist import load_mnist
    from core.persist import load_model

    saved = load_model(args.model)
    meta, spec = saved.meta, saved.spec
    backend = get_backend(args.backend)
    dtype = resolve_dtype(backend, args.dtype or (meta["dtype"] if meta["dtype"] in backend.dtypes else None))
    check_supports(backend, spec)
    mnist = load_mnist(args.data_dir, verify=not args.unverified)
    if mnist.digest != meta["data_digest"]:
        warnings.warn(
            f"{args.model} was trained on data with digest {meta['data_digest']}, this is "
            f"{mnist.digest} ({mnist.source}): the accuracies need not agree",
            stacklevel=1,
        )

    t0 = perf_counter()
    model = backend.load(saved.weights, spec, dtype)
    data = backend.load_data(mnist.test_images, mnist.test_labels, dtype)
    predicted = np.asarray(backend.predict(model, data))
    seconds = perf_counter() - t0
    correct, total = int(np.count_nonzero(predicted == mnist.test_labels)), len(mnist.test_labels)

    print(
        f"{args.model}: layers {spec.layers_str}, {spec.activation}, {spec.loss}; trained {meta['epochs_trained']} "
        f"of {spec.epochs} epochs with {meta['backend']} {meta['dtype']}, seed {spec.seed} "
        f"(mnist-bench {meta['version']}, run {meta['run_id']}, {meta['status']})"
    )
    print(
        f"  test accuracy now:    {correct:>6} / {total}  {100 * correct / total:6.2f}%  "
        f"({backend.name} {dtype}, {seconds:.2f} s)"
    )
    if meta["test_accuracy"] is None:
        print("  stored in the file:   none (these weights were never evaluated: the initial weights)")
        return 0
    stored_correct, stored_total = meta["test_correct"], meta["test_total"]
    if stored_total == total and stored_correct == correct:
        verdict = "the same"
    elif stored_total == total:
        verdict = f"differs by {correct - stored_correct:+d} images"
    else:
        verdict = "a different test set"
    print(
        f"  stored in the file:   {stored_correct:>6} / {stored_total}  {100 * meta['test_accuracy']:6.2f}%  "
        f"({meta['backend']} {meta['dtype']}): {verdict}"
    )
    return 0
