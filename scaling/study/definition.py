"""What a study is: its points, and the definition a rerun under the same name must match (its config,
:class:`~scaling.schema.StudyConfig`, is re-exported here)."""

from __future__ import annotations

import dataclasses
import json

from scaling import config, train
from scaling.config import ConfigError, upgrade
from scaling.network import Network
from scaling.schema import StudyConfig


class StudyError(ConfigError):
    """A study that cannot start (bad storage, study name, definition); one line, exit 2."""


#: StudyConfig fields that say how a study runs, not what it computes: they may differ between
#: workers and between reruns.
EXECUTION_FIELDS = ("storage", "results_dir", "heartbeat", "grace", "max_retries", "reuse", "retry_failed")

#: Fields added after studies were committed, with the value that leaves a study as it was: a study's
#: definition omits them at that value, so an older study resumes under the newer code.
ADDED_FIELDS = {"budgets": [], "match_macs": 0.0, "strategies": [], "costs": []}
#: Fields renamed after studies were committed (``network.resolution`` -> ``resolution_scale``): a
#: stored definition is read with the new names (:func:`scaling.config.upgrade`) before it is compared.
RENAMED_FIELDS = config.RENAMED_FIELDS


@dataclasses.dataclass(frozen=True)
class Point:
    """One training run of a study: a network (named ``name`` in the study's tables) and a seed."""

    name: str
    seed: int
    network: Network
    params: dict  # recorded as Optuna params, besides candidate and seed (alpha..phi, or d, w, r)
    attrs: dict = dataclasses.field(default_factory=dict)  # extra user attrs (merged members, ...)
    changes: dict = dataclasses.field(default_factory=dict)  # TrainConfig fields this point sets (lr, ...)

    @property
    def key(self) -> str:
        return f"{self.name}-s{self.seed}"

    def optuna_params(self) -> dict:
        return {"candidate": self.name, "seed": self.seed, **self.params}


def train_config(study: StudyConfig, point: Point) -> train.TrainConfig:
    return dataclasses.replace(study.train, network=point.network, seed=point.seed, **point.changes)


def config_dict(cfg) -> dict:
    """A search's or sweep's config as JSON, without the storage URL (it may hold a password)."""
    out = config.to_dict(cfg)
    out["study"].pop("storage", None)
    return out


def definition(kind: str, config_dict: dict, points: list[Point]) -> dict:
    """What makes a study: rerunning with another definition under the same name is an error.

    ``config_dict`` may be a stored one (``summary.json``'s): it is read with RENAMED_FIELDS applied."""
    cfg = upgrade(json.loads(json.dumps(config_dict)))
    for holder in _dicts(cfg):
        for name in (*EXECUTION_FIELDS, *train.EXECUTION_FIELDS):
            holder.pop(name, None)
        for name, off in ADDED_FIELDS.items():  # a study that does not use them reads as before they existed
            if name in holder and holder[name] == off:
                holder.pop(name)
    return {"kind": kind, "config": cfg, "points": [p.key for p in points]}


def differs(a, b, prefix="") -> list[str]:
    """The dotted keys where two definitions differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in dict.fromkeys([*a, *b]) for k in differs(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if a != b else []


def _dicts(tree):
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _dicts(value)
