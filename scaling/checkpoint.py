"""Per-epoch checkpoints through Orbax, behind two functions so an Orbax API move is a one-file change.

The state is written packed: its leaves concatenated into one flat vector per dtype. Orbax writes
each leaf as its own TensorStore array, at a fixed cost a leaf, so saving a proxy's 143-leaf state
once an epoch was a noticeable part of a short digits run; packed, a save writes 2 arrays
(benchmarks/RESULTS.md, "The main job against the code the issue was filed on"). The tree structure
comes back from the caller's abstract state on restore; checkpoints written before packing restore
as they were written.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from scaling import files
from scaling.config import ConfigError


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory.absolute(), options=options, item_names=("state", "meta"))


def _pack(state: Any) -> dict[str, np.ndarray]:
    """The leaves of ``state`` (host-readable arrays) in tree order, one flat vector per dtype."""
    groups: dict[str, list[np.ndarray]] = {}
    for leaf in jax.tree.leaves(state):
        groups.setdefault(np.dtype(leaf.dtype).name, []).append(np.asarray(leaf).ravel())
    return {dtype: np.concatenate(parts) for dtype, parts in groups.items()}


def _unpack(packed: dict, abstract_state: Any, directory: pathlib.Path) -> Any:
    """Inverse of :func:`_pack`: ``abstract_state``'s tree, each leaf placed with its sharding."""
    leaves, treedef = jax.tree.flatten(abstract_state)
    dtypes = [np.dtype(leaf.dtype).name for leaf in leaves]
    sizes = collections.Counter()
    for dtype, leaf in zip(dtypes, leaves, strict=True):
        sizes[dtype] += math.prod(leaf.shape)
    if {k: getattr(v, "size", None) for k, v in packed.items()} != sizes:
        raise ConfigError(f"{directory} holds another network's state: delete it to train this run from the start")
    offsets = collections.Counter()
    out = []
    for dtype, leaf in zip(dtypes, leaves, strict=True):
        start = offsets[dtype]
        offsets[dtype] += math.prod(leaf.shape)
        # A copy per leaf: the train step donates its state, and no two leaves may share one buffer.
        values = packed[dtype][start:offsets[dtype]].reshape(leaf.shape).copy()
        out.append(jax.device_put(values, leaf.sharding))
    return jax.tree.unflatten(treedef, out)


@contextlib.contextmanager
def _orbax_quiet():
    """Orbax's own log lines off: on a failed write its threads log their tracebacks before the
    exception reaches us (100 lines on a full disk), and a rerun warns that it removes the torn
    step's temporary directory. The exception itself still propagates."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def save(directory: pathlib.Path, step: int, state: Any, meta: dict) -> None:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON) as checkpoint ``step``; keeps the latest.

    A full disk raises :class:`scaling.files.DiskFull` naming ``directory``; the previous checkpoint
    stays whole (Orbax finalises a step by renaming its temporary directory).
    """
    try:
        with _orbax_quiet(), _manager(directory) as mgr:
            mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(_pack(state)),
                                                   meta=ocp.args.JsonSave(meta)))
            mgr.wait_until_finished()
    except Exception as e:
        if files.disk_full(e) is not None:
            raise files.DiskFull(directory) from None
        raise


def restore_latest(directory: pathlib.Path, abstract_state: Any) -> tuple[int, Any, dict] | None:
    """(step, state, meta) of the newest complete checkpoint, or None when there is none.

    ``abstract_state`` gives the tree structure, shapes, dtypes and shardings to restore into.
    """
    if not directory.exists():
        return None
    with _orbax_quiet(), _manager(directory) as mgr:
        step = mgr.latest_step()
        if step is None:
            return None
        out = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                         meta=ocp.args.JsonRestore()))
        if _packed(out["state"]):
            return step, _unpack(out["state"], abstract_state, directory), out["meta"]
        # Written before packing (one array per leaf, until 2026-12-05): Orbax restores it into the tree.
        state = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))["state"]
    return step, state, out["meta"]


def _packed(tree: Any) -> bool:
    """Whether a restored tree is :func:`_pack`'s form: flat vectors keyed by dtype name."""
    def dtype_name(key):
        try:
            return np.dtype(key).name == key
        except TypeError:
            return False

    return isinstance(tree, dict) and all(dtype_name(k) and np.ndim(v) == 1 for k, v in tree.items())
