"""Atomic file writes: a killed process, or two workers writing at once, never leave a torn file."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[pathlib.Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    The temporary name carries the process id, so concurrent writers never mix their bytes; the
    rename is atomic on POSIX, so readers see the old file or the new one, never a part.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as indented JSON (keys sorted; values JSON cannot hold written with ``str``)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")
