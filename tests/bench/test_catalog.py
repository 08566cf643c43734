"""`bench list` on a terminal: every backend, wrapped to the terminal's width."""

import io
import os
import shutil

from bench.cli import main
from core.backend import discover


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_list_names_every_backend_and_fits_an_80_column_terminal(monkeypatch):
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda fallback=None: os.terminal_size((80, 24)))
    assert main(["list"]) == 0
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    first_words = {line.split()[0] for line in lines[2:] if line[:1].strip()}
    assert first_words == set(discover())
