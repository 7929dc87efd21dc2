"""A finished run's directory, read back: reuse it (a study) or load it (a notebook, the CAMs).

:func:`scaling.train.train_and_evaluate` writes a workdir (``config.json``, ``metrics.jsonl``,
``result.json``, ``ckpt/``) and is the only writer. This module holds what reads a *finished* one
afterwards, starting from its directory rather than from a config:

- :func:`finished_run` and :func:`copy_run`: a study copies a run that another study already trained
  instead of training it again (runs are deterministic, so it would compute the same numbers);
- :func:`load_config` and :func:`load_model`: the config, and the model with the evaluated weights
  and the result, of a finished run, for notebooks and :mod:`scaling.cam`.

Loading lives here and not in :mod:`scaling.train` because someone holding a run's directory looks
for what reads runs, and the training loop never does any of it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil

import jax
from flax import nnx

from scaling import checkpoint, config, train
from scaling.config import ConfigError
from scaling.train import TrainConfig


def finished_run(cfg: TrainConfig, workdirs) -> pathlib.Path | None:
    """The first of ``workdirs`` that holds a finished run ("ok", with its checkpoint) of ``cfg`` on
    as many devices: training ``cfg`` again would compute the same numbers (runs are deterministic)."""
    cfg, _, devices = train.prepare(cfg)
    for workdir in map(pathlib.Path, workdirs):
        try:
            result = json.loads((workdir / "result.json").read_text())
            theirs = json.loads((workdir / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if (result.get("status") == "ok" and result.get("num_devices") == len(devices) and (workdir / "ckpt").is_dir()
                and not config.differences(cfg, theirs, ignore=train.EXECUTION_FIELDS)):
            return workdir
    return None


def copy_run(source: pathlib.Path, workdir: pathlib.Path) -> None:
    """Copy the finished run ``source`` (config, metrics, result, checkpoint) to the new ``workdir``,
    all or nothing: a killed copy leaves no workdir."""
    tmp = workdir.with_name(f".{workdir.name}.{os.getpid()}.copy")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(source, tmp)
        os.replace(tmp, workdir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_config(workdir: str | os.PathLike) -> TrainConfig:
    """The config a run in ``workdir`` was trained with (resolved: the recipe's knobs filled in)."""
    return config.from_dict(TrainConfig, json.loads((pathlib.Path(workdir) / "config.json").read_text()))


def load_model(workdir: str | os.PathLike) -> tuple[nnx.Module, TrainConfig, dict]:
    """(model in eval mode with the evaluated weights, its config, its result) of a finished run."""
    workdir = pathlib.Path(workdir)
    result_path = workdir / "result.json"
    if not result_path.exists():
        raise ConfigError(f"{workdir} holds no finished run (no result.json)")
    result = json.loads(result_path.read_text())
    cfg, spec, devices = train.prepare(dataclasses.replace(load_config(workdir), num_devices=1, quiet=True))
    mesh = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
    trainer = train.Trainer(cfg, spec, result["num_classes"], 1, 1, mesh)
    restored = checkpoint.restore_latest(workdir / "ckpt", trainer.abstract_state())
    if restored is None:
        raise ConfigError(f"{workdir} has no checkpoint")
    trainer.state = restored[1]
    return trainer.model(), cfg, result
