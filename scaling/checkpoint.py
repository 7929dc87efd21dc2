"""Per-epoch checkpoints through Orbax, behind two functions so an Orbax API move is a one-file change."""

from __future__ import annotations

import pathlib
from typing import Any

import orbax.checkpoint as ocp


def _manager(directory: pathlib.Path) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=1, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(directory.absolute(), options=options, item_names=("state", "meta"))


def save(directory: pathlib.Path, step: int, state: Any, meta: dict) -> None:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON) as checkpoint ``step``; keeps the latest."""
    with _manager(directory) as mgr:
        mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
        mgr.wait_until_finished()


def restore_latest(directory: pathlib.Path, abstract_state: Any) -> tuple[int, Any, dict] | None:
    """(step, state, meta) of the newest complete checkpoint, or None when there is none.

    ``abstract_state`` gives the tree structure, shapes, dtypes and shardings to restore into.
    """
    if not directory.exists():
        return None
    with _manager(directory) as mgr:
        step = mgr.latest_step()
        if step is None:
            return None
        out = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                                         meta=ocp.args.JsonRestore()))
    return step, out["state"], out["meta"]
