"""The grid language of sweeps: `key=v1,v2;key=...` on the command line or `key = values` in a file.

Keys: hidden (784-H-10) or layers (784-64-32-10, dash-separated), batch, lr, seed, activation, loss,
init, epochs, dtype, samples. `seed` and `epochs` also take ranges `a-b` (inclusive). A key left out
keeps the seed program's default (784-36-10, sigmoid, quadratic, uniform, batch 10, lr 3.0, seed 0),
each backend's default dtype and the whole training set. `dtype=all` is every dtype each backend
supports. `samples=N` trains on the first N training images only.

This module parses and checks grids; it does not expand them into points (core.sweep does). A grid is
counted before anything is built from it: a range is kept as a `range` until its length is known to
fit, and a grid of more than MAX_POINTS points is refused in one line.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from core.errors import UserError
from core.spec import ACTIVATIONS, INITS, LOSSES, N_CLASSES, N_INPUTS

DTYPES = ("float32", "float64")
ALL_DTYPES = "all"  # grid dtype=all: every dtype each backend supports
MAX_POINTS = 100_000  # points one sweep may hold: more is a typo (seed=0-1000000) or a job for several sweeps

Grid = dict[str, list]  # key -> its values, in the order given, without repeats


def too_many(count: int, axes: str) -> UserError:
    """The one-line refusal of a grid of `count` points (`axes` says where the count comes from)."""
    return UserError(
        f"the grid has {count:,} points ({axes}), more than the {MAX_POINTS:,} one sweep may hold; "
        "narrow it (fewer values, a shorter range such as seed=0-4) or split it into several sweeps"
    )


def _clip(token: str) -> str:
    """A token as an error message shows it: on one line, at most 40 characters."""
    return " ".join(token.split())[:40]


# ---------------------------------------------------------------- one value
def _int(key: str, token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise UserError(f"grid key {key} takes integers, got {token[:40]!r}") from None


def _ints_with_ranges(key: str, token: str) -> range:
    """'7' or '0-4' as a range: never a list, so that seed=0-1000000000000 costs nothing until counted."""
    first, dash, last = token.partition("-")
    if not dash or not first:  # "7", or "-1" (a negative number: refused by the spec check later)
        value = _int(key, token)
        return range(value, value + 1)
    a, b = _int(key, first), _int(key, last)
    if b < a:
        raise UserError(f"grid range {key}={a}-{b} runs backwards; write {key}={b}-{a}")
    return range(a, b + 1)


def _layers(token: str) -> list[tuple[int, ...]]:
    try:
        layers = tuple(int(part) for part in token.split("-"))
    except ValueError:
        raise UserError(
            f"grid key layers takes dash-separated sizes such as 784-64-32-10, got {token[:40]!r}"
        ) from None
    if len(layers) < 2 or layers[0] != N_INPUTS or layers[-1] != N_CLASSES:
        raise UserError(
            f"grid layers must run from {N_INPUTS} to {N_CLASSES}, such as 784-64-32-10; got {token[:40]!r}"
        )
    return [layers]


def _hidden(token: str) -> list[int]:
    if "-" in token.lstrip("-"):
        raise UserError(
            f"grid key hidden takes one hidden size per value (hidden=16,36); for deeper networks "
            f"write layers=784-{_clip(token)}-10"
        )
    return [_int("hidden", token)]


def _float(key: str, token: str) -> list[float]:
    try:
        value = float(token)
    except ValueError:
        raise UserError(f"grid key {key} takes numbers, got {token[:40]!r}") from None
    if not math.isfinite(value):
        raise UserError(f"grid key {key} takes finite numbers, got {token[:40]!r}")
    return [value]


def _samples(token: str) -> list[int]:
    value = _int("samples", token)
    if value < 1:
        raise UserError(f"grid key samples takes training-set sizes of at least 1, got {token[:40]!r}")
    return [value]


def _choice(key: str, allowed: tuple[str, ...]):
    def parse(token: str) -> list[str]:
        if token not in allowed:
            raise UserError(f"grid {key}={_clip(token)} is unknown; choose from {', '.join(allowed)}")
        return [token]

    return parse


PARSERS = {
    "hidden": _hidden,
    "layers": _layers,
    "batch": lambda t: [_int("batch", t)],
    "lr": lambda t: _float("lr", t),
    "seed": lambda t: _ints_with_ranges("seed", t),
    "activation": _choice("activation", ACTIVATIONS),
    "loss": _choice("loss", LOSSES),
    "init": _choice("init", INITS),
    "epochs": lambda t: _ints_with_ranges("epochs", t),
    "dtype": _choice("dtype", (*DTYPES, ALL_DTYPES)),
    "samples": _samples,
}
ALIASES = {"batch_size": "batch", "batch-size": "batch", "layer": "layers", "seeds": "seed", "n_train": "samples"}
KEY_ORDER = tuple(PARSERS)


def canonical(key: str, value) -> str:
    """A grid value as the manifest and the point keys spell it."""
    if key == "layers":
        return "-".join(str(n) for n in value)
    if key == "lr":
        return repr(float(value))
    return str(value)


# ---------------------------------------------------------------- a grid
def _add(grid: Grid, raw_key: str, tokens: list[str]) -> None:
    key = ALIASES.get(raw_key.strip().lower(), raw_key.strip().lower())
    if key not in PARSERS:
        raise UserError(f"unknown grid key {raw_key.strip()[:40]!r}; keys: {', '.join(KEY_ORDER)}")
    if key in grid:
        raise UserError(f"grid key {key} is given twice; list its values once: {key}=a,b,c")
    tokens = [t.strip() for t in tokens]
    if not tokens or any(not t for t in tokens):
        raise UserError(f"grid key {key} has an empty value; write {key}=a,b")
    parsed, count = [], 0
    for token in tokens:
        values = PARSERS[key](token)
        count += values.stop - values.start if isinstance(values, range) else len(values)  # len() stops at 2**63
        if count > MAX_POINTS:  # before a range is ever listed
            raise UserError(
                f"grid key {key} lists {count:,} values, more than the {MAX_POINTS:,} points one sweep may hold; "
                f"narrow it (such as {key}=0-4) or split the grid into several sweeps"
            )
        parsed.append(values)
    values = list(dict.fromkeys(value for part in parsed for value in part))  # repeats dropped, order kept
    grid[key] = values
    if key == "dtype" and ALL_DTYPES in values and len(values) > 1:
        raise UserError("grid dtype=all already holds every dtype of each backend; give it alone")
    if "hidden" in grid and "layers" in grid:
        raise UserError("give the grid hidden=... (784-H-10) or layers=..., not both")


def size(grid: Grid) -> int:
    """Points per backend and dtype: the product of the axis lengths (nothing is expanded)."""
    return math.prod(len(values) for key, values in grid.items() if key != "dtype")


def axes_text(grid: Grid) -> str:
    """'1,000 seed x 5 hidden': the axes that multiply the points of a grid."""
    return " x ".join(f"{len(v):,} {k}" for k, v in grid.items() if k != "dtype" and len(v) > 1) or "1 point"


def _checked(grid: Grid) -> Grid:
    if size(grid) > MAX_POINTS:
        raise too_many(size(grid), axes_text(grid))
    return grid


def parse_grid(text: str) -> Grid:
    """'hidden=16,36;batch=1,10;seed=0-4' -> {'hidden': [16, 36], 'batch': [1, 10], 'seed': [0, ..., 4]}."""
    grid: Grid = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, eq, values = part.partition("=")
        if not eq or not key.strip():
            raise UserError(
                f"grid entries are key=values separated by ';', such as hidden=16,36;seed=0-2; got {part.strip()[:40]!r}"
            )
        _add(grid, key, values.split(","))
    if not grid:
        raise UserError("the grid is empty; give it like: --grid 'hidden=16,36;batch=1,10;seed=0-2'")
    return _checked(grid)


def _file_tokens(key: str, value) -> list[str]:
    """A TOML/YAML value -> grid tokens: 16, [16, 36], '0-4', '16,36', [[784, 64, 10]] or ['784-64-10']."""
    items = value if isinstance(value, list) else [value]
    tokens: list[str] = []
    for item in items:
        if isinstance(item, list):  # one layer list: sizes only (a YAML alias could nest lists without end)
            if not all(isinstance(v, int | str) and not isinstance(v, bool) for v in item):
                raise UserError(
                    f"grid file key {_clip(key)} has a list of the wrong kind: write sizes such as [784, 64, 10]"
                )
            tokens.append("-".join(str(v) for v in item))
        elif isinstance(item, bool | dict) or item is None:
            raise UserError(f"grid file key {_clip(key)} has a value of the wrong kind: {_clip(str(item))}")
        elif isinstance(item, str):
            tokens += item.split(",")
        else:
            tokens.append(str(item))
    return tokens


def read_grid_file(path: Path) -> Grid:
    """A grid from a TOML (.toml) or YAML (.yaml, .yml) file of `key = values`, at the top or under [grid]."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read grid file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error of the user's file is one line
        first = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"grid file {path} does not parse: {first}") from None
    if isinstance(data, dict) and isinstance(data.get("grid"), dict):
        data = data["grid"]
    if not isinstance(data, dict) or not data:
        raise UserError(f"grid file {path} holds no grid; write lines such as: hidden = [16, 36]")
    grid: Grid = {}
    for key, value in data.items():
        _add(grid, str(key), _file_tokens(str(key), value))
    return _checked(grid)


def grid_text(grid: Grid) -> str:
    """The canonical text of a grid (keys in a fixed order): what the manifest stores."""
    return ";".join(f"{k}={','.join(canonical(k, v) for v in grid[k])}" for k in KEY_ORDER if k in grid)
