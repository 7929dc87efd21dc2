"""The training engine on real data: accuracy, resume, multi-device equality, divergence, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import optax
import pytest
from conftest import CIFAR10, ROOT

from scaling import checkpoint, cli, train
from scaling.train import TrainConfig, TrainingDiverged, train_and_evaluate

# A small proxy: B0 at width 0.5 and depth 0.25 (7 blocks); tests compile it once or twice each.
TINY = dict(variant=None, depth=0.25, width=0.5, resolution=1.0, base_resolution=16, batch_size=16,
            compilation_cache=None, quiet=True)
COMPARED = ("step", "loss", "train_top1", "minival_top1", "test_top1", "lr")


def _metrics(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_digits_reaches_90_percent_minival(tmp_path, optimized):
    cfg = TrainConfig(**{**TINY, "base_resolution": 32, "batch_size": 32, "epochs": 8})
    result = train_and_evaluate(cfg, tmp_path)
    assert result["status"] == "ok"
    assert result["minival_top1"] >= 0.90, result
    assert result["resolution"] == 32 and result["params"] > 0 and result["macs"] > 0
    lines = _metrics(tmp_path)
    assert [m["epoch"] for m in lines] == list(range(1, 9))
    assert {"loss", "train_top1", "minival_top1", "test_top1", "lr", "images_per_sec", "wall_time"} <= set(lines[0])
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["versions"]["jax"] == jax.__version__ and saved["device_kind"]
    assert saved["config"]["recipe"] == "proxy" and saved["seed"] == 0


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR10.exists(), reason="needs ../shared/datasets/cifar10")
def test_cifar10_folder_subset_clearly_above_chance(tmp_path, optimized):
    cfg = TrainConfig(**{**TINY, "dataset": f"folder:{CIFAR10}", "limit_train": 8000, "limit_test": 1000,
                         "base_resolution": 32, "batch_size": 64, "epochs": 4})
    result = train_and_evaluate(cfg, tmp_path)
    assert result["num_classes"] == 10
    assert result["test_top1"] >= 0.35, result


def test_tfds_cifar10_under_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=64):
        result = train_and_evaluate(TrainConfig(**TINY, dataset="tfds:cifar10", epochs=1, steps_per_epoch=2),
                                    tmp_path)
    assert result["status"] == "ok" and result["steps"] == 2 and result["num_classes"] == 10


def test_rerun_returns_stored_result_without_training(tmp_path, monkeypatch):
    cfg = TrainConfig(**TINY, epochs=1, steps_per_epoch=2)
    first = train_and_evaluate(cfg, tmp_path)
    monkeypatch.setattr(train, "Trainer", None)  # any attempt to train again would fail
    assert train_and_evaluate(cfg, tmp_path) == first
    with pytest.raises(train.ConfigError, match="different config"):
        train_and_evaluate(TrainConfig(**{**TINY, "seed": 1}, epochs=1, steps_per_epoch=2), tmp_path)


def test_interrupted_run_resumes_to_identical_metrics(tmp_path, monkeypatch):
    cfg = TrainConfig(**TINY, epochs=3, steps_per_epoch=4)
    reference = train_and_evaluate(cfg, tmp_path / "straight")

    save = checkpoint.save
    calls = []

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed right after epoch 2's checkpoint

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(cfg, tmp_path / "resumed")
    # Metrics are written after the checkpoint they describe: epoch 2 is checkpointed, not yet listed.
    assert len(_metrics(tmp_path / "resumed")) == 1 and not (tmp_path / "resumed" / "result.json").exists()
    monkeypatch.setattr(checkpoint, "save", save)
    resumed = train_and_evaluate(cfg, tmp_path / "resumed")
    straight, again = _metrics(tmp_path / "straight"), _metrics(tmp_path / "resumed")
    assert [{k: m[k] for k in COMPARED} for m in again] == [{k: m[k] for k in COMPARED} for m in straight]
    assert resumed["minival_top1"] == reference["minival_top1"]


@pytest.mark.slow
def test_sigkilled_process_resumes_and_loses_no_finished_epoch(tmp_path):
    args = [sys.executable, "-m", "scaling.cli", "train", "--dataset", "digits", "--depth", "0.25", "--width", "0.5",
            "--base-resolution", "16", "--batch-size", "16", "--epochs", "4", "--steps-per-epoch", "6", "--quiet"]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
    subprocess.run(args + ["--workdir", str(tmp_path / "straight")], check=True, env=env, cwd=ROOT,
                   capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--workdir", str(killed)], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not ((killed / "metrics.jsonl").exists() and _metrics(killed)):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _metrics(killed)
    assert 1 <= len(done_before) < 4
    subprocess.run(args + ["--workdir", str(killed)], check=True, env=env, cwd=ROOT, capture_output=True)
    after = _metrics(killed)
    assert after[: len(done_before)] == done_before  # finished epochs untouched
    assert [{k: m[k] for k in COMPARED} for m in after] == [
        {k: m[k] for k in COMPARED} for m in _metrics(tmp_path / "straight")]


def test_eight_devices_match_one_device(tmp_path):
    assert jax.local_device_count() == 8, "conftest forces 8 CPU devices"
    common = dict(TINY, batch_size=16, epochs=1, steps_per_epoch=3, limit_train=400)
    one = train_and_evaluate(TrainConfig(**common, num_devices=1), tmp_path / "one")
    eight = train_and_evaluate(TrainConfig(**common, num_devices=8), tmp_path / "eight")
    assert eight["num_devices"] == 8
    assert eight["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert eight["minival_top1"] == pytest.approx(one["minival_top1"], abs=1 / 40)


def test_nan_loss_raises_training_diverged_and_marks_result_failed(tmp_path):
    cfg = TrainConfig(**TINY, epochs=1, steps_per_epoch=8, optimizer="sgd", lr=1e30)
    with pytest.raises(TrainingDiverged) as info:
        train_and_evaluate(cfg, tmp_path)
    assert 1 <= info.value.step <= 8
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "diverged" and result["diverged_step"] == info.value.step
    with pytest.raises(TrainingDiverged):  # a rerun reports the same failure, it does not retrain
        train_and_evaluate(cfg, tmp_path)


@pytest.mark.slow
def test_rerun_in_a_new_process_compiles_nothing(tmp_path):
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "scaling.cli", "train", "--dataset", "digits", "--depth", "0.25", "--width", "0.5",
            "--base-resolution", "16", "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "2", "--quiet",
            "--compilation-cache", str(cache)]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
    subprocess.run(args + ["--workdir", str(tmp_path / "a")], check=True, env=env, cwd=ROOT, capture_output=True)
    # The train and eval steps are the programs worth caching; small ones (init, data) may fall
    # either side of the cache's minimum compile time, so only these two are compared.
    def steps():
        return sorted(p.name for p in cache.iterdir() if p.name.startswith(("jit__step", "jit__eval")))

    entries = steps()
    assert len(entries) == 2
    subprocess.run(args + ["--workdir", str(tmp_path / "b")], check=True, env=env, cwd=ROOT, capture_output=True)
    assert steps() == entries  # the second process compiled neither step again


def test_paper_recipe_schedule_matches_tf():
    cfg = train.resolved(TrainConfig(recipe="paper", batch_size=512))
    assert (cfg.optimizer, cfg.lr, cfg.ema_decay, cfg.label_smoothing, cfg.weight_decay) == (
        "rmsprop", 0.016, 0.9999, 0.1, 1e-5)
    sched = train.learning_rate_schedule(cfg, steps_per_epoch=100, total_steps=10_000)
    peak = 0.016 * 2
    assert float(sched(250)) == pytest.approx(peak * 0.5)  # linear warm-up over 5 epochs
    # After warm-up: 0.97 every 2.4 epochs, counted from step 0 as in TF.
    assert float(sched(500)) == pytest.approx(peak * 0.97 ** (500 // 240))
    assert float(sched(1000)) == pytest.approx(peak * 0.97 ** (1000 // 240))


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--dataset", "nope"], "unknown dataset"),
        (["--dataset", "folder:/no/such/folder"], "/no/such/folder"),
        (["--base-resolution", "4"], "resolution must be >= 8"),
        (["--batch-size", "12"], "multiple of the 8 devices"),
        (["--recipe", "fast"], "unknown recipe"),
        (["--epochs", "x"], "invalid"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    code = cli.main(["train", "--workdir", str(tmp_path / "run"), "--quiet", "--epochs", "1"] + argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()  # nothing half-written


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd", "adamw"])
def test_flattened_optimizer_equals_optax_reference(optimizer):
    """make_optimizer runs the update on one flat vector; the weights it produces equal optax's own
    per-array chain exactly, L2 decay on kernels only."""
    mask = lambda p: jax.tree.map(lambda a: a.ndim > 1, p)  # noqa: E731
    lr = optax.constant_schedule(0.01)
    reference = {
        "rmsprop": optax.chain(optax.add_decayed_weights(0.05, mask=mask),
                               optax.rmsprop(lr, decay=0.9, eps=1e-3, initial_scale=1.0, momentum=0.9)),
        "sgd": optax.chain(optax.add_decayed_weights(0.05, mask=mask), optax.sgd(lr, momentum=0.9, nesterov=True)),
        "adamw": optax.adamw(lr, weight_decay=0.05, mask=mask),
    }[optimizer]
    ours = train.make_optimizer(TrainConfig(optimizer=optimizer, weight_decay=0.05), lr)
    params = {"kernel": jnp.linspace(-1, 1, 12).reshape(3, 4), "bias": jnp.arange(4.0)}
    p_ours, p_ref, s_ours, s_ref = params, params, ours.init(params), reference.init(params)
    for step in range(3):
        grads = jax.tree.map(lambda a, k=step + 1: jnp.cos(a * k), p_ours)
        u, s_ours = ours.update(grads, s_ours, p_ours)
        p_ours = optax.apply_updates(p_ours, u)
        u, s_ref = reference.update(grads, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, u)
    for name in params:
        assert jnp.array_equal(p_ours[name], p_ref[name]), name
    assert not jnp.array_equal(p_ours["kernel"], params["kernel"])
