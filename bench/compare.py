"""`bench check` and `bench all`: proof of sameness, and every backend timed side by side."""

from __future__ import annotations


def add_commands(sub, spec_options, number) -> None:
    p = sub.add_parser("check", help="prove a backend matches the float64 numpy reference")
    p.add_argument("name", help="backend name (see: bench list)")
    p.add_argument("--dtype", help="one dtype (default: every dtype the backend supports)")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from tabulate import tabulate

    from core.backend import get_backend, resolve_dtype
    from core.conformance import TOLERANCE, check, configurations

    backend = get_backend(args.name)
    dtypes = [resolve_dtype(backend, args.dtype)] if args.dtype else list(backend.dtypes)
    rows, failed = [], 0
    for dtype in dtypes:
        for spec in configurations():
            r = check(backend, spec, dtype)
            config = f"{spec.layers_str} {spec.activation} {spec.loss}"
            if r.declined:
                rows.append((dtype, config, "declined", "", "", r.declined))
                continue
            worst = max(r.errors, key=lambda e: e[1])
            failed += not r.passed
            rows.append((dtype, config, "pass" if r.passed else "FAIL", f"{worst[1]:.1e} ({worst[0]})",
                         f"{100 * r.agreement:.1f}%", f"tolerance {TOLERANCE[dtype]:.0e}"))  # fmt: skip
    print(tabulate(rows, headers=["dtype", "configuration", "result", "largest error", "same predictions", ""]))
    print(f"{backend.name}: {'FAILED ' + str(failed) + ' configuration(s)' if failed else 'matches the reference'}")
    return 1 if failed else 0
