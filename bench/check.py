"""`bench check NAME`: proof that a backend lands on the float64 reference's weights."""

from __future__ import annotations

from bench.options import number


def add_command(sub) -> None:
    p = sub.add_parser("check")
    p.add_argument("name", help="backend name (see: bench list)")
    p.add_argument("--dtype", help="one dtype (default: every dtype the backend supports)")
    p.add_argument(
        "--threads",
        type=number(int, 1),
        default=1,
        help="BLAS and numba threads (default 1, as bench run); numba shares batches among threads",
    )
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from tabulate import tabulate

    from core.backend import get_backend, resolve_dtype
    from core.conformance import TOLERANCE, check, configurations
    from core.environment import limit_threads

    backend = get_backend(args.name)
    dtypes = [resolve_dtype(backend, args.dtype)] if args.dtype else list(backend.dtypes)
    rows, failed = [], 0
    for dtype in dtypes:
        for spec in configurations():
            with limit_threads(args.threads):
                r = check(backend, spec, dtype)
            config = f"{spec.layers_str} {spec.activation} {spec.loss}"
            if r.declined:
                rows.append((dtype, config, "declined", "", "", r.declined))
                continue
            worst = max(r.errors, key=lambda e: e[1])
            failed += not r.passed
            rows.append(
                (
                    dtype,
                    config,
                    "pass" if r.passed else "FAIL",
                    f"{worst[1]:.1e} ({worst[0]})",
                    f"{100 * r.agreement:.1f}%",
                    f"tolerance {TOLERANCE[dtype]:.0e}",
                )
            )
    print(tabulate(rows, headers=["dtype", "configuration", "result", "largest error", "same predictions", ""]))
    who = f"{backend.name} with {args.threads} threads" if args.threads > 1 else backend.name
    print(f"{who}: {'FAILED ' + str(failed) + ' configuration(s)' if failed else 'matches the reference'}")
    return 1 if failed else 0
