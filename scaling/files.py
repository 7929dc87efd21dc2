"""Atomic file writes (a killed process, or two workers writing at once, never leave a torn file),
whether a directory can be written, and a full disk as one line."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import re
import shutil
import tempfile
from collections.abc import Callable

#: How TensorStore (Orbax's writer) and other C++ layers spell ENOSPC in their messages.
_NO_SPACE = re.compile(r"no space left on device|ENOSPC|disk quota exceeded", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"""["'](/[^"']+)["']""")


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


def unwritable(directory: str | os.PathLike) -> str | None:
    """Why ``directory`` cannot be created or written (one phrase), or None; creates nothing that stays.

    The nearest existing ancestor must be a directory in which a directory can be made (tried with a
    temporary one, removed at once): ``os.access`` says yes for root on file systems that refuse.
    """
    path = pathlib.Path(directory).absolute()
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            return f"{existing} is a broken symbolic link"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    try:
        pathlib.Path(tempfile.mkdtemp(prefix=".scaling-probe-", dir=existing)).rmdir()
    except OSError as e:
        return f"cannot write in {existing}: {e.strerror or e}"
    return None


class DiskFull(OSError):
    """Out of disk space while writing ``path``; its message is the one line the user sees."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else str(path)
        super().__init__(errno.ENOSPC, message(self.path))

    def __str__(self) -> str:
        return self.strerror


def message(path: str | None) -> str:
    where = f" writing {path}" if path else ""
    free = free_bytes(path or ".")
    space = f" ({_size(free)} free there)" if free is not None else ""
    return f"no space left on device{where}{space}; free some space and rerun the same command to resume"


def disk_full(error: BaseException, path: str | os.PathLike | None = None) -> DiskFull | None:
    """``error`` as :class:`DiskFull` when it, or an exception it was raised from, is a full disk.

    The path is the first file name the exceptions give, else ``path``, else the first quoted
    absolute path in their messages.
    """
    chain, seen = [], error
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(e, DiskFull) for e in chain):
        return next(e for e in chain if isinstance(e, DiskFull))
    if not any((isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or _NO_SPACE.search(str(e))
               for e in chain):
        return None
    named = next((e.filename for e in chain if isinstance(e, OSError) and e.filename), None)
    quoted = next((m.group(1) for e in chain for m in [_QUOTED_PATH.search(str(e))] if m), None)
    return DiskFull(named or path or quoted)


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system holding ``path`` (its nearest existing ancestor), or None."""
    existing = pathlib.Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return shutil.disk_usage(existing).free
    except OSError:
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
