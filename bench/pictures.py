"""Pictures of digits and weights, drawn in a terminal (ANSI 256 colours or plain ASCII) or as PNG files.

A `Figure` is a grid of `Panel`s, each a small 2-D image with a title; `bench/show.py` decides what the
images are, this module only draws them, two ways from the same figure:

- terminal: the upper-half-block character with foreground = upper pixel and background = lower
  pixel, so one character line holds two pixel rows and a 28x28 image is 28 columns by 14 lines
  (square in a terminal whose cells are twice as tall as wide); grayscale from the 256-colour gray
  ramp, signed values on a blue-white-red scale from the 6x6x6 colour cube, centred on zero. Without
  colour, one character per two pixel rows from a density ramp;
- PNG: matplotlib (Agg, no display needed), one subplot per panel, with a colour bar per scale.

NaN pixels are drawn as nothing (terminal background): they pad a vector shown on a grid.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

GRAY_LEVELS = [16, *range(232, 256), 231]  # black, the 24-step gray ramp, white
# blue (negative) -> white (0) -> red (positive), darker at the extremes; (r, g, b) in the 6x6x6 cube
_CUBE = [
    (0, 0, 2), (0, 0, 3), (0, 0, 4), (0, 0, 5), (1, 1, 5), (2, 2, 5), (3, 3, 5), (4, 4, 5), (5, 5, 5),
    (5, 4, 4), (5, 3, 3), (5, 2, 2), (5, 1, 1), (5, 0, 0), (4, 0, 0), (3, 0, 0), (2, 0, 0),
]  # fmt: skip
SIGNED_LEVELS = [16 + 36 * r + 6 * g + b for r, g, b in _CUBE]
GRAY_RAMP = " .:-=+*#%@"  # ASCII, dark to light
SIGNED_RAMP = "@Oo- +x*#"  # ASCII, strongest negative .. zero .. strongest positive
UPPER_HALF = "\u2580"
LOWER_HALF = "\u2584"
MIN_PIXELS = 12  # smaller images (a 6x6 grid of output weights) are enlarged to at least this
PNG_CMAP = {"gray": "gray", "signed": "RdBu_r"}


@dataclass
class Panel:
    title: str  # may hold "\n" for a second line
    image: np.ndarray | None  # 2-D; None leaves the cell empty
    scale: str = "gray"  # "gray": pixels 0..255; "signed": centred on zero, clipped to +-limit
    limit: float = 1.0


@dataclass
class Figure:
    title: str
    panels: list[Panel]
    columns: int
    legends: list[tuple[str, float]] = field(default_factory=list)  # (what, limit) of each signed scale
    notes: list[str] = field(default_factory=list)
    name: str = "figure"  # the PNG file name, without .png
    by_column: bool = False  # each column is one example read top to bottom: re-flow moves whole columns


# ---------------------------------------------------------------- layout
def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) for n cells: the most square exact factorisation (36 -> 6x6, 32 -> 4x8, 10 -> 2x5)
    when it is no more than 2.5 times wider than tall, else a near-square grid with empty cells at the
    end (37 -> 6x7, 22 -> 5x5). Never taller than wide, and up to 4 cells in one row."""
    if n < 1:
        raise ValueError("a grid needs at least one cell")
    if n <= 4:
        return 1, n
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    if n // rows <= 2.5 * rows:
        return rows, n // rows
    columns = math.ceil(math.sqrt(n))
    return math.ceil(n / columns), columns


def on_grid(values: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A vector laid out row by row on a grid (28x28 for 784 pixels), NaN in the unused cells."""
    values = np.asarray(values, np.float64).ravel()
    rows, columns = shape or ((28, 28) if values.size == 784 else grid_shape(values.size))
    out = np.full(rows * columns, np.nan)
    out[: values.size] = values
    return out.reshape(rows, columns)


def robust_limit(values, percentile: float = 99.0) -> float:
    """The symmetric colour range: the given percentile of |values|, so a few outliers do not wash it out."""
    finite = np.abs(np.asarray(values, np.float64))
    finite = finite[np.isfinite(finite)]
    limit = float(np.percentile(finite, percentile)) if finite.size else 1.0
    return limit if limit > 0 else 1.0


# ---------------------------------------------------------------- terminal
def wants_color(stream=None, force: bool | None = None) -> bool:
    """Colour when `force` says so, else when the stream is a terminal and NO_COLOR is unset (no-color.org)."""
    if force is not None:
        return force
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _display(panel: Panel, half: bool) -> np.ndarray | None:
    """The panel's image as drawn: halved (2x2 means) for --size half, small ones enlarged."""
    if panel.image is None:
        return None
    image = np.asarray(panel.image, np.float64)
    if half and min(image.shape) >= 2 * MIN_PIXELS:
        h, w = image.shape
        padded = np.pad(image, ((0, h % 2), (0, w % 2)), mode="edge")
        with np.errstate(invalid="ignore"):
            image = padded.reshape(h // 2 + h % 2, 2, w // 2 + w % 2, 2).mean(axis=(1, 3))
    k = math.ceil(MIN_PIXELS / max(image.shape))
    if k > 1:
        image = np.kron(image, np.ones((k, k)))
    return image


def _levels(panel: Panel, image: np.ndarray, n: int) -> np.ndarray:
    """Each pixel's level 0..n-1 on the panel's scale; -1 for NaN."""
    if panel.scale == "gray":
        t = image / 255.0
    else:
        t = (np.clip(image / panel.limit, -1, 1) + 1) / 2
    levels = np.full(image.shape, -1, dtype=np.int64)
    ok = np.isfinite(t)
    levels[ok] = np.rint(np.clip(t[ok], 0, 1) * (n - 1)).astype(np.int64)
    return levels


def _ansi_lines(panel: Panel, image: np.ndarray) -> list[str]:
    palette = GRAY_LEVELS if panel.scale == "gray" else SIGNED_LEVELS
    levels = _levels(panel, image, len(palette))
    if len(levels) % 2:
        levels = np.vstack([levels, np.full((1, levels.shape[1]), -1)])
    lines = []
    for top, bottom in zip(levels[0::2], levels[1::2]):
        parts, state = [], None
        for u, d in zip(top.tolist(), bottom.tolist()):
            if u < 0 and d < 0:
                code, char = "\x1b[0m", " "
            elif u < 0:
                code, char = f"\x1b[0;38;5;{palette[d]}m", LOWER_HALF
            elif d < 0:
                code, char = f"\x1b[0;38;5;{palette[u]}m", UPPER_HALF
            else:
                code, char = f"\x1b[38;5;{palette[u]};48;5;{palette[d]}m", UPPER_HALF
            if code != state:
                parts.append(code)
                state = code
            parts.append(char)
        lines.append("".join(parts) + "\x1b[0m")
    return lines


def _ascii_lines(panel: Panel, image: np.ndarray) -> list[str]:
    if len(image) % 2:
        image = np.vstack([image, np.full((1, image.shape[1]), np.nan)])
    with np.errstate(invalid="ignore"):
        pairs = np.nanmean(np.stack([image[0::2], image[1::2]]), axis=0)  # one character per two pixel rows
    ramp = GRAY_RAMP if panel.scale == "gray" else SIGNED_RAMP
    levels = _levels(panel, pairs, len(ramp))
    return ["".join(" " if v < 0 else ramp[v] for v in row) for row in levels.tolist()]


def _cell(panel: Panel, color: bool, half: bool) -> tuple[list[str], list[str], int]:
    """(title lines, image lines, width in characters) of one panel."""
    image = _display(panel, half)
    if image is None:
        return panel.title.splitlines(), [], 0
    lines = _ansi_lines(panel, image) if color else _ascii_lines(panel, image)
    return panel.title.splitlines(), lines, image.shape[1]


def legend(what: str, limit: float, color: bool) -> str:
    if color:
        bar = "".join(f"\x1b[48;5;{c}m " for c in SIGNED_LEVELS) + "\x1b[0m"
        return f"{what}: blue -{limit:.3g} {bar} +{limit:.3g} red"
    bar = SIGNED_RAMP.replace(" ", "0")
    return f"{what}: -{limit:.3g} {bar} +{limit:.3g} ({SIGNED_RAMP[:4]} negative, {SIGNED_RAMP[5:]} positive)"


def render(fig: Figure, *, color: bool, half: bool = False, width: int | None = None) -> str:
    """The figure as text for a terminal: a title, the grid of panels, legends and notes; the text lines
    wrapped at `width` columns when given."""
    cells = [_cell(p, color, half) for p in fig.panels]
    columns = max(1, fig.columns)
    widths = [0] * columns
    for i, (titles, _, w) in enumerate(cells):
        widths[i % columns] = max(widths[i % columns], w, *(len(t) for t in titles))
    out = _wrapped(fig.title.splitlines(), width)
    for start in range(0, len(cells), columns):
        row = cells[start : start + columns]
        n_titles = max(len(c[0]) for c in row)
        n_lines = max(len(c[1]) for c in row)
        for j in range(n_titles + n_lines):
            parts = []
            for k, (titles, lines, w) in enumerate(row):
                cell_width = widths[k]
                if j < n_titles:
                    parts.append((titles[j] if j < len(titles) else "").ljust(cell_width))
                elif j - n_titles < len(lines):
                    parts.append(lines[j - n_titles] + " " * (cell_width - w))
                else:
                    parts.append(" " * cell_width)
            out.append(" ".join(parts).rstrip())
    out += [legend(what, limit, color) for what, limit in fig.legends]
    out += _wrapped(fig.notes, width)
    return "\n".join(out)


def _wrapped(lines: list[str], width: int | None) -> list[str]:
    if width is None:
        return list(lines)
    return [part for line in lines for part in (textwrap.wrap(line, width) or [""])]


def render_fitting(fig: Figure, *, color: bool, size: str, terminal: os.terminal_size | None = None) -> str:
    """`size` full, half, or auto: full resolution when it fits the terminal, else half, with the panels
    re-flowed onto more rows where half is still too wide; text lines wrap at the terminal's width."""
    width = terminal.columns if terminal else None
    if size != "auto":
        return render(fig, color=color, half=size == "half", width=width)
    full = render(fig, color=color, width=width)
    if terminal is None:
        return full
    if _text_width(full) <= terminal.columns and full.count("\n") + 2 <= terminal.lines:
        return full
    half = render(fig, color=color, half=True, width=width)
    if _text_width(half) <= terminal.columns or fig.columns <= 1:
        return half
    panel_width = max(
        _text_width(render(replace(fig, panels=[p], columns=1, title="", legends=[], notes=[]), color=color, half=True))
        for p in fig.panels
    )
    fitting = max(1, (terminal.columns + 1) // (panel_width + 1))
    return render(reflowed(fig, fitting), color=color, half=True, width=width)


def reflowed(fig: Figure, columns: int) -> Figure:
    """`fig` with at most `columns` panels a row: panels keep their reading order, or, for a figure
    `by_column`, whole columns move below the others in blocks."""
    if columns >= fig.columns:
        return fig
    if not fig.by_column:
        return replace(fig, columns=columns)
    columns = math.ceil(fig.columns / math.ceil(fig.columns / columns))  # blocks of even width
    rows = math.ceil(len(fig.panels) / fig.columns)
    blank = Panel("", None)
    panels = []
    for first in range(0, fig.columns, columns):
        for r in range(rows):
            for c in range(first, first + columns):
                i = r * fig.columns + c
                panels.append(fig.panels[i] if c < fig.columns and i < len(fig.panels) else blank)
    return replace(fig, panels=panels, columns=columns)


def _text_width(text: str) -> int:
    return max(len(_strip(line)) for line in text.splitlines())


def _strip(line: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", line)


# ---------------------------------------------------------------- PNG
def save_png(fig: Figure, folder: str | os.PathLike) -> Path:
    """Draw the figure with matplotlib's Agg backend into folder/<fig.name>.png."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as MplFigure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns = max(1, fig.columns)
    rows = math.ceil(len(fig.panels) / columns)
    figure = MplFigure(figsize=(1.0 + 1.5 * columns, 1.0 + 1.7 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    images: dict[tuple[str, float], tuple] = {}  # legend -> (a mappable, its axes)
    for ax, panel in zip(axes.ravel(), fig.panels):
        ax.set_axis_off()
        ax.set_title(panel.title, fontsize=8)
        if panel.image is None:
            continue
        vmin, vmax = (0, 255) if panel.scale == "gray" else (-panel.limit, panel.limit)
        cmap = matplotlib.colormaps[PNG_CMAP[panel.scale]].with_extremes(bad="#dddddd")
        im = ax.imshow(np.asarray(panel.image, np.float64), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if panel.scale == "signed":
            key = next((k for k in fig.legends if math.isclose(k[1], panel.limit)), None)
            if key:
                images.setdefault(key, (im, []))[1].append(ax)
    for ax in axes.ravel()[len(fig.panels) :]:
        ax.set_axis_off()
    for (what, _), (im, owners) in images.items():
        figure.colorbar(im, ax=owners, shrink=0.6, label=what)
    wrap = max(60, int(figure.get_figwidth() * 13))  # characters per title line at this font size
    figure.suptitle("\n".join(textwrap.fill(line, wrap) for line in [*fig.title.splitlines(), *fig.notes]), fontsize=9)
    path = folder / f"{fig.name}.png"
    figure.savefig(path, dpi=100)
    return path
