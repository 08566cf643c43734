"""Writing a file so that a reader never sees half of it: a temporary file beside it, then a rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_beside(path: Path, suffix: str = "") -> Path:
    """A hidden name in `path`'s folder for this process's temporary copy (`suffix` keeps an extension
    that a writer such as matplotlib reads the format from)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


@contextmanager
def replacing(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; if the block succeeds it replaces `path` in one rename, and
    either way no temporary file is left behind."""
    path = Path(path)
    tmp = temporary_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, content: bytes | str, *, durable: bool = False) -> None:
    """`path` holds `content`, whole, or is left as it was; `durable`: on disk before the rename (fsync)."""
    data = content.encode() if isinstance(content, str) else content
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if durable:
            os.fsync(f.fileno())
