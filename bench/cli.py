"""The command line: `python -m bench COMMAND` (or `mnist-bench COMMAND`). Each command lives in a module
of its own that registers it (`add_command`); this one builds the parser and turns what escapes a
command into one line and an exit code: 2 for a user's error, 1 for the machine's, 128 + N for signal N."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

from bench.options import Parser
from core.errors import UserError, program_name

COMMANDS = {  # command: its module of bench/ and what the list of commands says of it, in `--help`'s order
    "list": ("catalog", "show every backend, its tier and dtypes, and why one is unavailable"),
    "data": ("catalog", "fetch and verify MNIST and say where it is"),
    "run": ("run", "train one backend and append its results"),
    "all": ("compare", "run every available backend, each in a fresh process, and compare them"),
    "report": ("report", "print the comparison table of a run from results/summary.csv"),
    "check": ("check", "prove a backend matches the float64 numpy reference"),
    "ab": ("ab", "time two backends, or two versions of one, side by side in one process"),
    "evaluate": ("evaluate", "recompute a saved model's test accuracy and compare it with the stored one"),
    "show": ("show", "draw digits and a saved model's weights in the terminal or as PNGs"),
    "plot": ("plots", "draw a run's PNG plots from results/epochs.csv and results/summary.csv"),
    "ceiling": ("ceiling", "measure this machine's peak GFLOP/s with a large numpy matrix product"),
    "profile": ("profile", "time each part of one backend's training step and its share of the machine's ceiling"),
    "scaling": ("scaling", "seconds per training sample over a grid of hidden and batch sizes (a sweep)"),
    "sweep": ("sweep", "train every point of a grid of configurations, locally or on a Dask cluster"),
}


class _Commands:
    """The subparsers as a command's module sees them: `add_parser(name)` gets the command's line from
    COMMANDS, which also opens its own --help."""

    def __init__(self, sub):
        self._sub = sub

    def add_parser(self, name: str, **kwargs):
        line = COMMANDS[name][1]
        kwargs.setdefault("description", line)
        return self._sub.add_parser(name, help=line, **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given `command` (the one on the line, or "" for none), that command's
    module alone is imported and the others are named with their line, so that `--help` answers at once."""
    import importlib

    parser = Parser(
        prog=program_name(), description="Train one MNIST MLP on interchangeable numeric backends and time them."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    loaded = set()
    for name, (module, line) in COMMANDS.items():
        if module in loaded:
            continue
        if command is None or COMMANDS.get(command, ("",))[0] == module:
            importlib.import_module(f"bench.{module}").add_command(_Commands(sub))
            loaded.add(module)
        else:
            sub.add_parser(name, help=line, add_help=False)
    return parser


def _command_on(argv: list[str]) -> str:
    """The command named on the line ("" for none): the first word that is not an option."""
    return next((word for word in argv if not word.startswith("-")), "")


class _PipeSafe:
    """Standard output that, once it cannot be written (its reader has gone, as in `bench run ... | head -1`,
    or its device is full), drops what is printed instead of raising, so that the run goes on to record
    its results; `failed` says why, for one line at the end."""

    def __init__(self, stream):
        self._stream, self.failed = stream, None

    def write(self, text):
        if self.failed is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._close(exc)
        return len(text)

    def flush(self):
        if self.failed is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._close(exc)

    def _close(self, exc: OSError):
        self.failed = exc
        try:  # and the interpreter's own flush at exit finds nothing to write
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _interrupt_on(*signals) -> None:
    """SIGTERM and SIGHUP end a command as Ctrl-C does: finished epochs are recorded and children stopped."""
    import signal

    def handler(signum, frame):
        INTERRUPTED_BY.append(signum)
        raise KeyboardInterrupt

    for name in signals:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


INTERRUPTED_BY: list[int] = []  # the signals that ended this process, other than SIGINT

# errno values that mean the user named a place that cannot be used (exit 2); others are the machine's (exit 1)
_USER_ERRNOS = {"EACCES", "EPERM", "EROFS", "ENOENT", "ENOTDIR", "EISDIR", "ENAMETOOLONG", "EEXIST", "ELOOP"}


def _os_error_line(exc: OSError) -> tuple[str, int]:
    name = errno.errorcode.get(exc.errno or 0, "")
    where = f" ({exc.filename})" if exc.filename else ""
    what = exc.strerror or str(exc)
    if name == "ENOSPC":
        return f"the disk is full{where}; free space, or pass --results DIR on another disk", 1
    if name in _USER_ERRNOS:
        return f"{what}{where}; choose another path or fix its permissions", 2
    return f"{what}{where}", 1


def _unwritten(out: _PipeSafe) -> int:
    """1, with one line on standard error, when what was printed could not all be written; else 0.
    A reader that left (`| head`) is not an error."""
    out.flush()
    if out.failed is None or isinstance(out.failed, BrokenPipeError):
        return 0
    full = getattr(out.failed, "errno", None) == errno.ENOSPC  # the results files are written apart
    line = "the device is full; free space on it or redirect the output" if full else None
    print(f"error: standard output: {line or _os_error_line(out.failed)[0]}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"
    sys.stdout = out = _PipeSafe(sys.stdout)
    _interrupt_on("SIGTERM", "SIGHUP")
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_on(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage line argparse has printed
        return _unwritten(out) or exc.code
    try:
        code = args.func(args)
        return _unwritten(out) or code
    except UserError as exc:
        if args.debug:
            raise
        print(f"error: {str(exc).replace('python -m bench', parser.prog)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished epochs are saved", file=sys.stderr)
        return 128 + INTERRUPTED_BY[0] if INTERRUPTED_BY else 130
    except MemoryError:
        if args.debug:
            raise
        print(
            "error: out of memory; try a smaller --layers, --batch-size or fewer --epochs with --snapshot-every",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        if args.debug:
            raise
        line, code = _os_error_line(exc)
        print(f"error: {line}", file=sys.stderr)
        return code
