"""Errors a user can fix. The CLI prints them as one line and exits non-zero, without a traceback.

Anything else that escapes is a bug in this program and keeps its traceback on purpose.
"""

import os
import shlex
import sys


def program_name() -> str:
    """What the user typed to start us, for usage lines and hints: `mnist-bench` (the installed script)
    or `python -m bench`."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m bench" if script in ("__main__.py", "", "-c") else script


def command_line() -> str:
    """This process's command as the user typed it, for the records a run writes (comparison.md, sweeps)."""
    return f"{program_name()} {shlex.join(sys.argv[1:])}"


class UserError(Exception):
    """A problem with what the user asked for or handed us; the message says what and how to fix it."""


class SpecError(UserError):
    """An invalid network or training specification."""


class DataError(UserError):
    """MNIST could not be found, read or verified."""


class ModelError(UserError):
    """A saved model file is not one we can load."""


class BackendError(UserError):
    """An unknown or unusable backend, or a combination it declines."""
