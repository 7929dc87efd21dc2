"""Decoded splits, kept per process in memory and on disk as .npz under $SCALING_DATA_CACHE."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterable

import numpy as np

from scaling import files

from .memory import Pool

CACHE_ENV = "SCALING_DATA_CACHE"
CACHE_FORMAT = 2
CACHE_MAX_BYTES = 8 << 30      # never write a disk cache larger than this

_MEMORY: dict = {}
_LOCK = threading.Lock()


def clear_memory_cache() -> None:
    """Forget the decoded datasets kept by this process."""
    with _LOCK:
        _MEMORY.clear()


def remember(key, compute):
    """The value kept under `key` in this process, computing (and keeping) it on first use."""
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
    value = compute()
    with _LOCK:
        return _MEMORY.setdefault(key, value)


def _cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV)
    if value is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "scaling", "data")
    if value.strip().lower() in ("", "0", "off", "none", "false", "no"):
        return None
    return os.path.expanduser(value)


def signature(parts: Iterable[str]) -> str:
    """Short hash of the strings that identify a decoded split (file names, sizes, mtimes, image size, ...)."""
    h = hashlib.sha256(f"format {CACHE_FORMAT}".encode())
    for part in parts:
        h.update(f"|{part}".encode())
    return h.hexdigest()[:24]


class SplitCache:
    """One source split decoded at one image size: looked up in memory, then on disk.

    `key` identifies it within the process, `name` and `sig` (see `signature`) name its .npz file. Limits are
    served as prefixes of the full split; a decode of a prefix is kept in memory only.
    """

    def __init__(self, key: tuple, name: str, sig: str):
        self.key = key
        directory = _cache_dir()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
        self.path = None if directory is None else os.path.join(directory, f"{safe}-{sig}.npz")

    def find(self, limit: int | None) -> Pool | None:
        with _LOCK:
            full = _MEMORY.get(self.key + (None,))
            hit = _MEMORY.get(self.key + (limit,))
        if full is not None:
            return full.prefix(limit)
        if hit is not None:
            return hit
        if self.path is None or not os.path.exists(self.path):
            return None
        full = _read_npz(self.path)
        if full is None:
            return None
        with _LOCK:
            _MEMORY[self.key + (None,)] = full
        return full.prefix(limit)

    def keep(self, pool: Pool, *, complete: bool) -> None:
        """Remember `pool` (the whole split when `complete`, else a prefix) in memory, a whole split on disk too."""
        with _LOCK:
            _MEMORY[self.key + (None if complete else len(pool.labels),)] = pool
        if complete and self.path is not None and pool.images.nbytes <= CACHE_MAX_BYTES:
            _write_npz(self.path, pool)


def _read_npz(path: str) -> Pool | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return Pool(z["images"], z["labels"].astype(np.int32), int(z["source_size"]))
    except Exception:  # noqa: BLE001 - a corrupt or partial cache is ignored and rewritten
        return None


def _write_npz(path: str, pool: Pool) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:  # an open file: np.savez would append ".npz" to a bare name
            np.savez(f, images=pool.images, labels=pool.labels, source_size=np.int64(pool.source_size))

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        files.atomic_write(path, write)  # readers never see a partial file
    except OSError:
        pass  # the cache is an optimisation only
