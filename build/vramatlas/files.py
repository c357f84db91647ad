"""Writing files so that a failure halfway leaves the previous file whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


def write_atomic(path: Path | str, data: bytes | str, mode: int | None = None) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Text is written as UTF-8 with ``\\n`` line ends. The file gets ``mode``, else
    the mode of the file it replaces, else 0o644 (mkstemp's 0o600 would hide
    published tables from a web server).
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    with atomic_file(path, mode) as fh:
        fh.write(payload)
    return path


@contextlib.contextmanager
def atomic_file(path: Path | str, mode: int = 0o644) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, piece by piece: a temporary file beside it, renamed over
    ``path`` when the block ends without an exception (and deleted when it raises)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
