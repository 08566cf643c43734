"""The backend contract and the registry that finds backends.

A backend is any object (usually a module in `backends/`) with these attributes:

    name: str                   the CLI name, `<substrate>-<tier>` by convention (numpy-plain)
    summary: str                one line for `bench list`
    tier: str                   "plain" (what a competent user of the library writes first) or
                                "tuned" (an expert's best that keeps this contract)
    dtypes: tuple[str, ...]     supported dtypes, the default first
    available() -> str | None   None when usable, else a short reason
    load(weights, spec, dtype)  float64 [(W, b), ...] -> a backend-native model
    load_data(images, labels, dtype)   uint8 [n, 784], [n] -> the backend's own dataset
    train(model, data, rows, batch_size, lr)   SGD over `rows` in order, in place
    predict(model, data) -> np.ndarray   predicted class of every sample
    weights(model) -> [(W, b), ...]      float64 copies

and optionally `substrate: str` (the library it measures, for grouping rows; default: the name up to
its first "-"), `warmup(model, data)` (JIT compilation, first BLAS call),
`supports(spec) -> str | None` (None, or why it declines this configuration),
`threaded: bool` (default True; False when more threads cannot change its speed, so `bench all`
times it at one thread count only) and `profile_parts(model, data, rows, batch_size, lr) -> dict`
(named callables each running one part of the step alone over `rows`, for `bench profile`).

Backends are found by scanning the `backends` package and the entry-point group
`mnist_bench.backends` (for backends in other distributions); nothing is registered by hand.
`bench ab` also takes a backend from a module file (`backend_from_file`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BackendError, program_name

ENTRY_POINT_GROUP = "mnist_bench.backends"
TIERS = ("plain", "tuned")
REQUIRED = ("name", "summary", "tier", "dtypes", "available", "load", "load_data", "train", "predict", "weights")


@dataclass
class Entry:
    """A discovered backend, or why it cannot be used."""

    name: str
    origin: str  # module path or entry point
    backend: Any | None
    problem: str | None  # None when usable

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(getattr(self.backend, "dtypes", ()))

    @property
    def summary(self) -> str:
        return getattr(self.backend, "summary", "")

    @property
    def tier(self) -> str:
        return getattr(self.backend, "tier", "")

    @property
    def substrate(self) -> str:
        return substrate_of(self.backend) if self.backend is not None else self.name.split("-")[0]

    @property
    def threaded(self) -> bool:
        return bool(getattr(self.backend, "threaded", True))


def substrate_of(backend) -> str:
    return getattr(backend, "substrate", None) or backend.name.split("-")[0]


def _entry(origin: str, fallback_name: str, load) -> Entry:
    try:
        backend = load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
        return Entry(fallback_name, origin, None, f"failed to import: {type(exc).__name__}: {exc}")
    missing = [attr for attr in REQUIRED if not hasattr(backend, attr)]
    if missing:
        return Entry(fallback_name, origin, None, f"not a backend: lacks {', '.join(missing)}")
    if backend.tier not in TIERS:
        return Entry(
            backend.name, origin, None, f"not a backend: tier is {backend.tier!r}, not one of {', '.join(TIERS)}"
        )
    try:
        problem = backend.available()
    except Exception as exc:  # noqa: BLE001
        problem = f"available() raised {type(exc).__name__}: {exc}"
    return Entry(backend.name, origin, backend, problem)


def discover() -> dict[str, Entry]:
    """Every backend in `backends/` and in the entry-point group, by name, in a stable order."""
    from importlib.metadata import entry_points  # here: slow to import, and --help needs none

    import backends

    found: dict[str, Entry] = {}
    for info in sorted(pkgutil.iter_modules(backends.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = f"backends.{info.name}"
        entry = _entry(module, info.name.replace("_", "-"), lambda m=module: importlib.import_module(m))
        found.setdefault(entry.name, entry)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        entry = _entry(f"entry point {ep.value}", ep.name, ep.load)
        found.setdefault(entry.name, entry)
    return found


def registry_of(names: list[str] | None) -> dict[str, Entry]:
    """The registry of the backends `names` (each from its own module where that finds it, as
    `get_backend` does), or of every backend when no names are given or one is not found that way."""
    own = {name: _own_entry(name) for name in names or ()}
    return own if own and all(own.values()) else discover()


def backend_from_file(path: Path) -> Entry:
    """The backend defined by one module file outside the registry (a variant being tried, say).

    A file of the `backends` package is imported under its package name; any other file under a name
    derived from its path, the same in every process (numba's on-disk cache refers to it)."""
    path = path.resolve()
    package = Path(__file__).resolve().parents[1] / "backends"
    if path.parent == package:
        return _entry(str(path), path.stem, lambda: importlib.import_module(f"backends.{path.stem}"))
    module_name = "backend_file_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]

    def load():
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # before running it: dataclasses look their module up
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        return sys.modules[module_name]

    return _entry(str(path), path.stem, load)


def get_backend(name: str, registry: dict[str, Entry] | None = None):
    """The usable backend called `name`, or a BackendError saying what is known or why it is unusable.

    Without a registry only the backend's own module is imported where that finds it (backends/<name>.py,
    dashes as underscores, or the entry point called `name`), since torch and jax are slow to import; an
    unknown or unusable name falls back to discovering every backend, to say what is known."""
    if registry is None:
        own = _own_entry(name)
        if own is not None:
            return own.backend
        registry = discover()
    if name not in registry:
        raise BackendError(unknown_backend(name, registry))
    entry = registry[name]
    if entry.problem:
        raise BackendError(f"backend {name!r} is unavailable: {entry.problem}")
    return entry.backend


def _own_entry(name: str) -> Entry | None:
    """The usable backend `name` from its own module or entry point alone; None where that does not find it."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        return None
    module = "backends." + name.replace("-", "_")
    try:
        here = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        here = False
    if here and (entry := _entry(module, name, lambda: importlib.import_module(module))).name == name:
        return None if entry.problem else entry
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        entry = _entry(f"entry point {ep.value}", name, ep.load)
        if entry.name == name and not entry.problem:
            return entry
    return None


def unknown_backend(name: str, registry: dict[str, Entry]) -> str:
    """The one-line error for a backend name that is not in `registry`, pointing at the likely one."""
    tiers = [n for n, e in registry.items() if e.substrate == name]
    if tiers:  # a name from before backends were split into tiers
        return f"unknown backend {name!r}: each substrate now has tiers, pick one of {', '.join(tiers)}"
    return f"unknown backend {name!r}; known: {', '.join(registry) or 'none'} (see: {program_name()} list)"


def resolve_dtype(backend, dtype: str | None) -> str:
    """The backend's default dtype, or `dtype` if it supports it."""
    if dtype is None:
        return backend.dtypes[0]
    if dtype not in backend.dtypes:
        raise BackendError(
            f"backend {backend.name!r} does not support --dtype {dtype}; it supports {', '.join(backend.dtypes)}"
        )
    return dtype


def check_supports(backend, spec) -> None:
    """Raise BackendError if the backend declines this configuration."""
    supports = getattr(backend, "supports", None)
    reason = supports(spec) if supports else None
    if reason:
        raise BackendError(f"backend {backend.name!r} declines this configuration: {reason}")


def _code_lines(path: Path) -> int:
    """Lines of `path` holding code: not blank, not only a comment, not part of a docstring."""
    import ast
    import io
    import tokenize

    text = path.read_text()
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
        tokenize.ENCODING,
    }
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstrings)


def source_files(backend) -> list[Path]:
    """The files a backend's code is in: its module (every file of a package) and the private modules
    of `backends` (named `_...`) that it uses."""
    import inspect
    import types

    module = inspect.getmodule(backend) if not isinstance(backend, types.ModuleType) else backend
    if module is None or not getattr(module, "__file__", None):
        return []
    path = Path(module.__file__)
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    for value in vars(module).values():
        used = value if isinstance(value, types.ModuleType) else inspect.getmodule(value)
        name = getattr(used, "__name__", "")
        if name.startswith("backends._") and getattr(used, "__file__", None):
            files.append(Path(used.__file__))
    return list(dict.fromkeys(files))


def lines_of_code(backend) -> int | str:
    """Non-blank, non-comment, non-docstring lines of the backend's source files; "" where unknown."""
    files = source_files(backend)
    try:
        return sum(_code_lines(f) for f in files) if files else ""
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ""
