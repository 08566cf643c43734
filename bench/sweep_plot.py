"""results/sweep-SWEEP_ID.png: a sweep's accuracy and seconds per epoch across its grid, mean ± std over seeds.

The x axis is the first grid key that varies (layers, batch, lr, ...); each other combination that
varies (backend, dtype, the remaining keys) is one series, in bench.plots' palette.
"""

from __future__ import annotations

from pathlib import Path

from bench.sweep_report import config_label, natural, summarize, varying

DPI = 130
CLIP = 0.9  # on the log axis of seconds, a whisker below the mean stops at this fraction of it
X_ORDER = ["layers", "batch_size", "lr", "samples", "epochs", "activation", "loss", "init"]
X_NAMES = {"layers": "hidden layer sizes", "batch_size": "batch size", "lr": "learning rate"}


def _x_label(key: str, value) -> str:
    if key == "layers":
        return "-".join(str(value).split(",")[1:-1])
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_plot(points, sweep: str, out: Path) -> Path | None:
    """Draw the figure of `points` (read_sweep's rows) into `out`; None when no point has a result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.plots import palette

    table = summarize(points)
    table = table[table["seeds"] > 0]
    if table.empty:
        return None
    keys = varying(points)
    x_key = next((k for k in X_ORDER if k in keys), "layers")
    series_keys = ["backend", "dtype", *[k for k in keys if k not in ("backend", "dtype", x_key)]]
    xs = sorted(set(table[x_key]), key=lambda v: natural(x_key, v))
    series = list(table.groupby(series_keys, sort=False))
    colors = palette()
    fig, (ax_acc, ax_s) = plt.subplots(1, 2, figsize=(14, 6.2), dpi=DPI)
    width = min(0.12, 0.5 / max(1, len(series)))
    clipped = False
    for i, (name, group) in enumerate(series):
        group = group.set_index(x_key).reindex(xs)
        pos = [j + (i - (len(series) - 1) / 2) * width for j in range(len(xs))]
        label = config_label(dict(zip(series_keys, name if isinstance(name, tuple) else (name,))), series_keys)
        marker = "os^Dv<>"[i // len(colors) % 7]
        style = dict(marker=marker, color=colors[i % len(colors)], capsize=3, linewidth=1.2, markersize=5, label=label)
        ax_acc.errorbar(pos, 100 * group["acc_mean"], yerr=100 * group["acc_std"].fillna(0), **style)
        s_std = group["s_std"].fillna(0)
        below = s_std.clip(upper=CLIP * group["s_mean"].clip(lower=0))  # a log axis cannot draw mean - std <= 0
        clipped |= bool((below < s_std).any())
        ax_s.errorbar(pos, group["s_mean"], yerr=[below.fillna(0), s_std], **style)
    for ax, what in ((ax_acc, "test accuracy after the last epoch (%)"), (ax_s, "seconds per epoch (log)")):
        ax.set_xticks(range(len(xs)), [_x_label(x_key, v) for v in xs])
        ax.set_xlabel(X_NAMES.get(x_key, x_key))
        ax.set_ylabel(what)
        ax.grid(True, alpha=0.3)
    ax_s.set_yscale("log")
    ax_acc.legend(fontsize=8, loc="best")
    done = points[points["_done"]]
    cpu = ", ".join(sorted(done["cpu"].astype(str).unique()))
    seeds = ", ".join(f"{s:g}" for s in sorted(done["seed"].unique()))
    epochs = ", ".join(f"{e:g}" for e in sorted(done["epochs"].unique()))
    fig.suptitle(f"Sweep {sweep}: mean ± std over seeds {seeds}", x=0.01, ha="left", fontsize=13, fontweight="bold")
    note = f" · lower whiskers of seconds cut at {CLIP:.0%} of the mean where the std is larger" if clipped else ""
    fig.text(
        0.01,
        0.915,
        f"{cpu} · {len(done)} jobs on {done['host'].nunique()} host(s), {done['worker'].nunique()} worker(s) · "
        f"1 thread per job · epochs {epochs}{note}",
        fontsize=9,
        color="0.25",
    )
    fig.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.1, wspace=0.2)
    path = Path(out) / f"sweep-{sweep}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp, dpi=DPI)
    finally:
        plt.close(fig)
    tmp.replace(path)  # never a half-written PNG under the real name
    return path
