"""Reading a finished run's directory back: which run a study may reuse, and copying it."""

import dataclasses
import json
import pathlib

import pytest

from scaling import config, proxies, runs, train
from scaling.network import Network
from scaling.train import TrainConfig


def test_finished_run_finds_only_the_same_config_finished_on_as_many_devices(tmp_path):
    """What a study may copy instead of training: config equal but for execution fields, "ok", a checkpoint."""
    cfg = TrainConfig(network=Network(depth=0.25, width=0.5, base_resolution=16), dataset="digits",
                      **proxies.SMOKE, recipe="proxy")

    def run(name, cfg, status="ok", devices=1, ckpt=True):
        workdir = tmp_path / name
        (workdir / "ckpt").mkdir(parents=True) if ckpt else workdir.mkdir()
        (workdir / "config.json").write_text(json.dumps(config.to_dict(train.prepare(cfg)[0])))
        (workdir / "result.json").write_text(json.dumps({"status": status, "num_devices": devices}))
        return workdir

    others = [run("seed1", dataclasses.replace(cfg, seed=1)), run("diverged", cfg, status="diverged"),
              run("two_devices", cfg, devices=2), run("no_ckpt", cfg, ckpt=False),
              run("longer", dataclasses.replace(cfg, epochs=2)), tmp_path / "missing"]
    assert runs.finished_run(cfg, others) is None
    same = run("same", dataclasses.replace(cfg, quiet=False, compilation_cache=None))  # execution fields differ
    assert runs.finished_run(cfg, [*others, same]) == same


def test_a_copied_run_is_whole_and_a_failed_copy_leaves_no_workdir(tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "ckpt" / "1").mkdir(parents=True)
    for name in ("config.json", "result.json", "metrics.jsonl", "ckpt/1/state"):
        (source / name).write_text(name)
    runs.copy_run(source, tmp_path / "copy")
    assert sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*")) == [
        "ckpt", "ckpt/1", "ckpt/1/state", "config.json", "metrics.jsonl", "result.json"]

    def copy_then_die(src, dst, **kwargs):
        (pathlib.Path(dst) / "ckpt").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(runs.shutil, "copytree", copy_then_die)
    with pytest.raises(KeyboardInterrupt):
        runs.copy_run(source, tmp_path / "killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "source"]  # no workdir, no temporary left
