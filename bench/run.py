"""`bench run`: train one backend, print each epoch, and append its rows to the results."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.options import number, settle_option, spec_from_args, spec_options
from core.errors import UserError


def add_command(sub) -> None:
    p = sub.add_parser("run")
    p.add_argument("--backend", default="numpy-tuned", help="backend name (default %(default)s; see: bench list)")
    p.add_argument("--dtype", help="the backend's dtype (default: its first)")
    spec_options(p)
    p.add_argument("--budget", type=number(float, 1), help="seconds; extrapolate epochs that do not fit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    settle_option(p, spin_up=True)
    p.add_argument("--save", type=Path, metavar="PATH", help="save the trained model (.npz) to PATH")
    p.add_argument(
        "--snapshot-every",
        type=number(int, 1),
        metavar="N",
        help="with --save: also save the weights after epoch 0 and every N epochs as PATH.epochNN.npz",
    )
    p.add_argument("--force", action="store_true", help="let --save replace existing model files")
    p.add_argument("--run-id", help=argparse.SUPPRESS)  # set by `bench all` to group its backends
    p.add_argument("--summary-json", type=Path, help=argparse.SUPPRESS)  # `bench all` writes the summary
    p.set_defaults(func=cmd_run)


def _epoch_line(run, e) -> str:
    how = f" (extrapolated from {e.samples_timed:,} samples)" if e.extrapolated else ""
    flag = "  DIVERGED" if e.status == "diverged" else ""
    return (
        f"epoch {e.epoch:>2}/{run.spec.epochs}: {e.train_s:8.3f} s{how}  "
        f"{e.test_correct:>5} / {e.test_total}  {100 * e.test_accuracy:6.2f}%  loss {e.test_loss:.4f}  "
        f"(eval {e.eval_s:.3f} s){flag}"
    )


def cmd_run(args) -> int:
    import numpy as np

    from core import environment, results
    from core.backend import check_supports, get_backend, resolve_dtype, substrate_of
    from core.driver import train_backend
    from core.mnist import load_mnist
    from core.spec import flops_per_sample, initial_weights, memory_bytes

    try:
        spec_from_args(args)  # a bad option is reported before any data is fetched
        environment.check_threads(args.threads)
        backend = get_backend(args.backend)
        dtype = resolve_dtype(backend, args.dtype)
        mnist = load_mnist(args.data_dir, verify=not args.unverified)
        spec = spec_from_args(args, n_train=len(mnist.train_labels))
        check_supports(backend, spec)
        n_images = len(mnist.train_labels) + len(mnist.test_labels)
        loss_bytes = len(mnist.test_labels) * (spec.layers[0] + spec.layers[-1]) * 8  # the reference's test set
        environment.check_memory(
            memory_bytes(spec, n_images, np.dtype(dtype).itemsize, substrate_of(backend) == "python") + loss_bytes,
            f"training {backend.name} on layers {spec.layers_str}",
        )
        model_bytes = 8 * sum(n_in * n_out + n_out for n_in, n_out in zip(spec.layers[:-1], spec.layers[1:]))
        saves = (2 + spec.epochs // args.snapshot_every if args.snapshot_every else 1) if args.save else 0
        results.check_writable(args.results, saves * model_bytes)
        if args.save:
            results.check_writable(args.save.parent, saves * model_bytes, "the model", "choose another --save PATH")
        # files of another version's columns are set aside now, so that the warning precedes epoch 1
        results.set_aside_other_columns(args.results / "epochs.csv", results.EPOCH_COLUMNS)
        if not args.summary_json:
            results.set_aside_other_columns(args.results / "summary.csv", results.SUMMARY_COLUMNS)
    except UserError as exc:
        _write_summary_json(args, {"status": "failed", "note": str(exc)})
        raise
    run_id = args.run_id or results.new_run_id()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    epochs_csv, summary_csv = args.results / "epochs.csv", args.results / "summary.csv"
    saver = _run_saver(args, spec, backend, dtype, mnist, run_id)  # refuses an existing file before training

    def on_ready(run):
        said = [run.settled.describe()] if run.settled else []
        if run.spun_up_s:
            said.append(
                f"trained a copy of the model for {run.spun_up_s:.1f} s (untimed) to bring the cores up to speed"
            )
        if said:
            print(f"before epoch 1: {'; then '.join(said)}", flush=True)

    def on_epoch(run, e):
        print(_epoch_line(run, e), flush=True)
        results.append_rows(epochs_csv, results.EPOCH_COLUMNS, [results.epoch_row(run_id, run, e, args.threads)])
        if saver:
            saver.epoch(e, backend.weights(run.model))

    with environment.limit_threads(args.threads):
        env = environment.capture()
        print(
            f"{backend.name} ({backend.tier}) {dtype}, {args.threads} thread(s), layers {spec.layers_str}, {spec.activation}, "
            f"{spec.loss}, batch {spec.batch_size}, lr {spec.lr}, {spec.epochs} epochs, seed {spec.seed}; "
            f"MNIST from {mnist.source}; BLAS {env['blas']}; run {run_id}",
            flush=True,
        )
        if saver:
            saver.initial(initial_weights(spec), len(mnist.train_labels))
        try:
            run = train_backend(
                backend,
                spec,
                mnist,
                dtype,
                budget_s=args.budget,
                on_epoch=on_epoch,
                progress=not args.quiet and sys.stderr.isatty(),
                settle_s=args.settle,
                on_ready=on_ready,
            )
        except Exception as exc:  # a backend that raises is reported as failed, with its reason
            _write_summary_json(args, {"status": "failed", "note": f"{type(exc).__name__}: {exc}"})
            raise
    print(
        f"setup {run.setup_s:.3f} s, warm-up/compile {run.compile_s:.3f} s, median epoch "
        f"{run.median_train_s:.3f} s; test loss {run.initial_loss:.4f} before epoch 1, {run.final_loss:.4f} after; "
        f"{run.status}{': ' + run.note if run.note else ''}"
    )
    if saver:
        _save_final(saver, run)
    flops = flops_per_sample(spec.layers, spec.batch_size) * len(mnist.train_labels)
    row = {**results.summary_row(run_id, started, run, args.threads, env, flops), "data": mnist.data_label}
    if args.summary_json:
        _write_summary_json(args, row)
    else:
        results.fill_speedups([row])
        results.append_rows(summary_csv, results.SUMMARY_COLUMNS, [row])
        print(f"appended to {epochs_csv} and {summary_csv}")
    from bench.cli import INTERRUPTED_BY

    interrupted = 128 + INTERRUPTED_BY[0] if INTERRUPTED_BY else 130
    return {"ok": 0, "budget": 0, "interrupted": interrupted}.get(run.status, 1)


def _run_saver(args, spec, backend, dtype, mnist, run_id):
    """The RunSaver for --save, after checking that it would replace nothing; None without --save."""
    from core.persist import RunSaver

    if args.snapshot_every and not args.save:
        raise UserError("--snapshot-every needs --save PATH: snapshots are named after the model file")
    if not args.save:
        return None
    saver = RunSaver(
        args.save,
        spec,
        backend=backend.name,
        dtype=dtype,
        data_digest=mnist.digest,
        run_id=run_id,
        every=args.snapshot_every,
        force=args.force,
    )
    saver.check()
    return saver


def _save_final(saver, run) -> None:
    path = saver.final(run.status)
    if path is None:
        print("no epoch finished: no model saved")
        return
    record = saver.latest[0]
    snapshots = f"; {len(saver.written) - 1} snapshots beside it" if len(saver.written) > 1 else ""
    print(
        f"saved the model after epoch {record.epoch} ({100 * record.test_accuracy:.2f}% test accuracy, "
        f"{run.status}) to {path}{snapshots}"
    )


def _write_summary_json(args, row: dict) -> None:
    path = getattr(args, "summary_json", None)
    if path:
        path.write_text(json.dumps(row, default=str))
