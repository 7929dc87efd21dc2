"""The training engine on real data: accuracy, resume, multi-device equality, divergence, bad input."""

import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import CIFAR10, IMAGENETTE, ROOT

from scaling import checkpoint, cli, proxies, recipes, results, runtime, train
from scaling.network import Network
from scaling.train import TrainConfig, TrainingDiverged, train_and_evaluate

COMPARED = ("step", "loss", "train_top1", "minival_top1", "test_top1", "lr")


def tiny(base_resolution=16, **changes) -> TrainConfig:
    """A small proxy: B0 at width 0.5 and depth 0.25 (7 blocks); tests compile it once or twice each."""
    return TrainConfig(**{"network": Network(depth=0.25, width=0.5, base_resolution=base_resolution),
                          "batch_size": 16, "compilation_cache": None, "quiet": True, **changes})


def _metrics(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_digits_reaches_90_percent_minival(tmp_path, optimized):
    cfg = tiny(32, batch_size=32, epochs=8)
    result = train_and_evaluate(cfg, tmp_path)
    assert result["status"] == "ok"
    assert result["minival_top1"] >= 0.90, result  # 96.5% measured with the proxy recipe
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
    cfg = tiny(32, dataset=f"folder:{CIFAR10}", limit_train=8000, limit_test=1000, batch_size=64, epochs=4)
    result = train_and_evaluate(cfg, tmp_path)
    assert result["num_classes"] == 10
    assert result["test_top1"] >= 0.36, result  # chance 10%; 41.0% measured with the proxy recipe


@pytest.mark.slow
@pytest.mark.skipif(not IMAGENETTE.exists(), reason="needs ../shared/datasets/imagenette")
def test_imagenette_proxy_clearly_above_chance(tmp_path, optimized, monkeypatch):
    """The Imagenette proxy's recipe and layout on its real pixels, shrunk to 32 px and 120 steps."""
    monkeypatch.setenv("SCALING_DATA_CACHE", str(tmp_path / "cache"))
    network = Network(depth=0.25, width=0.25, base_resolution=32, output_stride=16)
    cfg = proxies.imagenette(network=network, image_size=32, epochs=2, steps_per_epoch=60, batch_size=64,
                             compilation_cache=None, num_devices=1)
    result = train_and_evaluate(cfg, tmp_path / "run")
    assert result["num_classes"] == 10 and result["test_size"] == 3925
    assert result["test_top1"] >= 0.22, result  # chance: 10%; 27.9% measured


def test_rerun_returns_stored_result_without_training(tmp_path, monkeypatch):
    cfg = tiny(epochs=2, steps_per_epoch=1, test_every_epoch=True)
    first = train_and_evaluate(cfg, tmp_path)
    assert all(0 <= m["test_top1"] <= 1 for m in _metrics(tmp_path))  # asked for: every epoch scored on test
    monkeypatch.setattr(train, "Trainer", None)  # any attempt to train again would fail
    assert train_and_evaluate(cfg, tmp_path) == first
    with pytest.raises(train.ConfigError, match="different config"):
        train_and_evaluate(tiny(seed=1, epochs=2, steps_per_epoch=1, test_every_epoch=True), tmp_path)


def test_a_runs_seconds_are_its_phases_and_the_first_step_counts_as_compile(tmp_path):
    """result["seconds"]: every phase of results.PHASES, none of them empty; "compile" holds the first
    train step (its compile), which ``first_step_seconds`` times alone; together nearly the whole call."""
    start = time.perf_counter()
    result = train_and_evaluate(tiny(epochs=2, steps_per_epoch=2), tmp_path)
    elapsed = time.perf_counter() - start
    seconds = result["seconds"]
    assert list(seconds) == list(results.PHASES) and all(v > 0 for v in seconds.values()), seconds
    # "seconds" are rounded to the millisecond; "train" holds the 3 steps after the first.
    assert seconds["compile"] + 1e-3 >= result["first_step_seconds"] > seconds["train"] / 3, result
    assert 0.5 * elapsed < sum(seconds.values()) <= elapsed + 0.01, (seconds, elapsed)
    assert json.loads((tmp_path / "result.json").read_text())["seconds"] == seconds
    # images/s leaves the compiling first step out: epoch 1 times its second step, epoch 2 both.
    lines = _metrics(tmp_path)
    assert [m["timed_steps"] for m in lines] == [1, 2] and result["timed_steps"] == 3
    assert [m["images_per_sec"] for m in lines] == [m["timed_steps"] * 16 / m["train_seconds"] for m in lines]
    assert result["images_per_sec"] == pytest.approx(3 * 16 / seconds["train"], rel=0.02)


def test_the_heap_is_given_back_around_each_evaluation(tmp_path, monkeypatch):
    """The train step's freed scratch is trimmed before evaluating and the eval step's before training
    resumes: without the trims a 128-px Imagenette run grew by a train step's block once training
    resumed after an evaluation (benchmarks/RESULTS.md)."""
    events = []
    monkeypatch.setattr(runtime, "release_memory", lambda collect=True: events.append("trim") or True)
    for name, event in (("evaluate", "eval"), ("train_step", "step")):
        method = getattr(train.Trainer, name)
        monkeypatch.setattr(train.Trainer, name,
                            lambda self, *a, _m=method, _e=event: events.append(_e) or _m(self, *a))
    train_and_evaluate(tiny(epochs=2, steps_per_epoch=2), tmp_path)
    blocks = [e for i, e in enumerate(events) if i == 0 or events[i - 1] != e]  # repeats of one event as one
    assert blocks.count("eval") == 2 and blocks.count("step") == 2  # two epochs: each trains, then evaluates
    pairs = set(zip(blocks, blocks[1:], strict=False))
    assert ("step", "eval") not in pairs and ("eval", "step") not in pairs, events  # a trim in between


def test_interrupted_run_resumes_to_identical_metrics(tmp_path, monkeypatch):
    cfg = tiny(epochs=3, steps_per_epoch=4)
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
    # The test split is scored once, after the last epoch (test_every_epoch=False, the default).
    assert [m["test_top1"] is None for m in straight] == [True, True, False]
    assert resumed["test_top1"] == reference["test_top1"] == straight[-1]["test_top1"]


@pytest.mark.parametrize("recipe", ["paper", "proxy"])
@pytest.mark.parametrize("devices", [1, pytest.param(8, marks=pytest.mark.devices(8))])
def test_each_recipe_trains_and_resumes_on_one_and_eight_devices(recipe, devices, tmp_path, monkeypatch):
    """The paper recipe keeps a weight EMA: on one device its buffers once aliased the weights and the
    donating step refused them ("donate the same buffer twice")."""
    assert jax.local_device_count() == devices
    cfg = tiny(recipe=recipe, epochs=2, steps_per_epoch=3, limit_train=200, limit_test=48)
    straight = train_and_evaluate(cfg, tmp_path / "straight")
    assert straight["status"] == "ok" and straight["num_devices"] == devices and math.isfinite(straight["loss"])
    save = checkpoint.save

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after epoch 1's checkpoint

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(cfg, tmp_path / "resumed")
    monkeypatch.setattr(checkpoint, "save", save)
    resumed = train_and_evaluate(cfg, tmp_path / "resumed")
    keys = ("loss", "train_top1", "minival_top1", "test_top1")
    assert {k: resumed[k] for k in keys} == pytest.approx({k: straight[k] for k in keys}, rel=1e-6)
    assert list(resumed["seconds"]) == list(results.PHASES)


def _cli(*argv, timeout=120):
    """``scaling ...`` in a child process (as a user runs it): (exit status, stderr lines)."""
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stderr.strip().splitlines()


@contextlib.contextmanager
def _backend_compiles(delay_background: float = 0.0):
    """The XLA compilations that happen inside the block, as (function name, thread name), from
    jax.monitoring's compile events (they fire in the compiling thread); ``delay_background`` holds
    each compilation outside the main thread back by that many seconds when it starts."""
    compiles, event = [], "/jax/core/compile/backend_compile_duration"

    def started(name, value, fun_name=None, **_):
        if name == event and threading.current_thread() is not threading.main_thread():
            time.sleep(delay_background)

    def finished(name, seconds, fun_name=None, **_):
        if name == event:
            compiles.append((fun_name, threading.current_thread().name))

    jax.monitoring.register_scalar_listener(started)
    jax.monitoring.register_event_duration_secs_listener(finished)
    try:
        yield compiles
    finally:
        jax.monitoring.unregister_scalar_listener(started)
        jax.monitoring.unregister_event_duration_listener(finished)


def test_eval_step_compiled_beside_training_is_the_one_evaluation_uses():
    """Trainer.compile_eval compiles the eval step in a background thread, and evaluation waits for
    that program: it compiles nothing itself (nor the step twice), and scores what the plainly jitted
    step scores."""
    cfg, spec, devices = train.prepare(tiny(limit_test=40))
    dataset = train.load_dataset(cfg)
    mesh = jax.make_mesh((1,), ("data",), devices=devices[:1])

    def trainer():
        return train.Trainer(cfg, spec, dataset.num_classes, 1, 1, mesh)

    early, plain = trainer(), trainer()
    # The background compile is held back, so evaluation starts while it runs: it must wait for it.
    with _backend_compiles(delay_background=1.0) as compiles:
        early.compile_eval(spec.resolution)
        early_top1 = early.evaluate(dataset, "test", spec.resolution)
    main = threading.main_thread().name
    assert [thread != main for name, thread in compiles if "_eval" in name] == [True], compiles
    with _backend_compiles() as compiles:  # without compile_eval, the first evaluation compiles it
        plain_top1 = plain.evaluate(dataset, "test", spec.resolution)
    assert [thread for name, thread in compiles if "_eval" in name] == [main], compiles
    assert early_top1 == plain_top1


def test_workdir_that_is_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "w").write_text("not a directory")
    code, err = _cli("train", "--epochs", "1", "--quiet", "--workdir", str(tmp_path / "w"))
    assert code == 2 and len(err) == 1 and "exists and is not a directory" in err[0], err


def test_a_network_that_cannot_fit_is_refused_within_seconds(tmp_path):
    """B0 at 2,048 px and batch 128 needs hundreds of GiB: refused before anything is allocated."""
    start = time.time()
    code, err = _cli("train", "--resolution-scale", "9.15", "--epochs", "1", "--quiet",
                     "--workdir", str(tmp_path / "w"))
    assert code == 2 and len(err) == 1 and "needs about" in err[0] and "GiB the devices hold" in err[0], err
    assert time.time() - start < 60 and not (tmp_path / "w").exists()


@pytest.mark.slow
def test_sigkilled_process_resumes_and_loses_no_finished_epoch(tmp_path):
    args = [sys.executable, "-m", "scaling.cli", "train", "--dataset", "digits", "--depth", "0.25", "--width", "0.5",
            "--base-resolution", "16", "--batch-size", "16", "--epochs", "4", "--steps-per-epoch", "6", "--quiet"]
    env = {**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
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


@pytest.mark.devices(8)
def test_eight_devices_match_one_device(tmp_path):
    assert jax.local_device_count() == 8
    common = dict(batch_size=16, epochs=1, steps_per_epoch=3, limit_train=400)
    one = train_and_evaluate(tiny(**common, num_devices=1), tmp_path / "one")
    eight = train_and_evaluate(tiny(**common, num_devices=8), tmp_path / "eight")
    assert eight["num_devices"] == 8
    assert eight["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert eight["minival_top1"] == pytest.approx(one["minival_top1"], abs=1 / 40)


def test_nan_loss_raises_training_diverged_and_marks_result_failed(tmp_path):
    cfg = tiny(epochs=1, steps_per_epoch=8, optimizer="sgd", lr=1e30)
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
    # Every program is cached (threshold 0), so the second process must add no entry at all.
    env = {**os.environ, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    subprocess.run(args + ["--workdir", str(tmp_path / "a")], check=True, env=env, cwd=ROOT, capture_output=True)
    entries = sorted(p.name for p in cache.iterdir())
    assert any(e.startswith("jit__step") for e in entries) and any(e.startswith("jit__eval") for e in entries)
    subprocess.run(args + ["--workdir", str(tmp_path / "b")], check=True, env=env, cwd=ROOT, capture_output=True)
    assert sorted(p.name for p in cache.iterdir()) == entries  # the second process compiled nothing


def test_paper_recipe_schedule_matches_tf():
    cfg = recipes.resolve(TrainConfig(recipe="paper", batch_size=512))
    assert (cfg.optimizer, cfg.lr, cfg.ema_decay, cfg.label_smoothing, cfg.weight_decay) == (
        "rmsprop", 0.016, 0.9999, 0.1, 1e-5)
    sched = recipes.learning_rate_schedule(cfg, steps_per_epoch=100, total_steps=10_000)
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
        (["--num-devices", "99"], "num_devices must be 1.."),
        (["--batch-size", "0"], "not a positive multiple"),
        (["--output-stride", "12"], "output_stride must be one of"),
        (["--depth", "1e9"], "at most 1,000 are supported"),
        (["--optimizer", "lion"], "optimizer must be one of"),
        (["--recipe", "fast"], "unknown recipe"),
        (["--epochs", "x"], "invalid"),
        (["--tensorboard", "/sys/scaling-test-tb"], "cannot write TensorBoard directory /sys/scaling-test-tb"),
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
    per-array chain (to fp32 rounding), L2 decay on kernels only."""
    mask = lambda p: jax.tree.map(lambda a: a.ndim > 1, p)  # noqa: E731
    lr = optax.constant_schedule(0.01)
    reference = {
        "rmsprop": optax.chain(optax.add_decayed_weights(0.05, mask=mask),
                               optax.rmsprop(lr, decay=0.9, eps=1e-3, initial_scale=1.0, momentum=0.9)),
        "sgd": optax.chain(optax.add_decayed_weights(0.05, mask=mask), optax.sgd(lr, momentum=0.9, nesterov=True)),
        "adamw": optax.adamw(lr, weight_decay=0.05, mask=mask),
    }[optimizer]
    ours = recipes.make_optimizer(TrainConfig(optimizer=optimizer, weight_decay=0.05), lr)
    params = {"kernel": jnp.linspace(-1, 1, 12).reshape(3, 4), "bias": jnp.arange(4.0)}
    p_ours, p_ref, s_ours, s_ref = params, params, ours.init(params), reference.init(params)
    for step in range(3):
        grads = jax.tree.map(lambda a, k=step + 1: jnp.cos(a * k), p_ours)
        u, s_ours = ours.update(grads, s_ours, p_ours)
        p_ours = optax.apply_updates(p_ours, u)
        u, s_ref = reference.update(grads, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, u)
    for name in params:  # the same arithmetic; XLA may fuse it differently: at most 2 ulp apart
        np.testing.assert_array_max_ulp(np.asarray(p_ours[name]), np.asarray(p_ref[name]), maxulp=2)
    assert not jnp.array_equal(p_ours["kernel"], params["kernel"])


@pytest.mark.parametrize("tty", [False, True])
def test_a_run_says_one_line_per_epoch_with_or_without_a_tty(tty, tmp_path, capsys, monkeypatch):
    """Loss, train and minival top-1, img/s and ETA, as metrics.jsonl has them; beside a progress bar
    on a terminal, alone in a log file."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    cfg = tiny(epochs=2, steps_per_epoch=2, limit_train=64, limit_test=32, quiet=False)
    train_and_evaluate(cfg, tmp_path / "loud")
    err = capsys.readouterr().err
    assert ("step/s" in err or "s/step" in err) == tty  # tqdm's bar, on a terminal only
    lines = [line.split(" epoch ", 1)[1] for line in err.splitlines() if " epoch " in line]
    expected = [f"{m['epoch']}/2: loss {m['loss']:.3f}, train top-1 {m['train_top1']:.2%}, minival top-1 "
                f"{m['minival_top1']:.2%}, {m['images_per_sec']:.0f} img/s, ETA" for m in _metrics(tmp_path / "loud")]
    assert [line.rsplit(" ETA", 1)[0] + " ETA" for line in lines] == expected, err
    assert lines[-1].endswith("ETA 0 s")
    train_and_evaluate(dataclasses.replace(cfg, quiet=True), tmp_path / "quiet")
    assert " epoch " not in capsys.readouterr().err


def test_tensorboard_scalars_read_back_as_the_epochs_records(tmp_path):
    cfg = tiny(epochs=2, steps_per_epoch=2, limit_train=64, limit_test=32)
    train_and_evaluate(cfg, tmp_path / "run", tensorboard=tmp_path / "tb")
    tf = pytest.importorskip("tensorflow")
    scalars = {}
    for path in sorted((tmp_path / "tb").iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
    records = _metrics(tmp_path / "run")
    expected = {tag: [(m["step"], float(np.float32(m[tag]))) for m in records if m[tag] is not None]
                for tag in ("loss", "train_top1", "minival_top1", "test_top1", "lr", "images_per_sec")}
    assert scalars == expected
    assert [s for s, _ in scalars["loss"]] == [2, 4] and [s for s, _ in scalars["test_top1"]] == [4]


def test_more_epochs_on_a_cosine_run_are_refused_with_the_command_that_trains_them(tmp_path, capsys):
    """The proxy recipe's cosine decay spans the whole run: 3 epochs are not the 2 trained plus 1."""
    flags = ["train", "--depth", "0.25", "--width", "0.5", "--base-resolution", "16", "--batch-size", "16",
             "--steps-per-epoch", "2", "--limit-train", "64", "--limit-test", "32", "--quiet"]
    workdir = tmp_path / "run"
    assert cli.main([*flags, "--epochs", "2", "--workdir", str(workdir)]) == 0
    capsys.readouterr()
    stored = {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()}

    def refusal(epochs):
        code = cli.main([*flags, "--epochs", str(epochs), "--workdir", str(workdir)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()} == stored  # nothing touched
        return err

    err = refusal(3)
    assert f"{workdir} holds a finished 2-epoch run; a 3-epoch run's learning rate differs from it from step 2 " \
           f"(its cosine decay spans the whole run), so it trains from the start: rerun with --workdir " \
           f"{tmp_path / 'run-e3'}\n" in err, err
    assert "shorter run of its own" in refusal(1)
    # Killed between its last checkpoint and its result: the run may also be resumed as it was.
    (workdir / "result.json").unlink()
    del stored["result.json"]
    assert refusal(3).rstrip().endswith(f"--workdir {tmp_path / 'run-e3'}, or with --epochs 2 to resume it")


def test_more_epochs_on_a_paper_recipe_run_go_on_to_exactly_the_longer_run(tmp_path, capsys):
    """The paper recipe's warm-up and staircase decay do not depend on the run's length, so a finished
    1-epoch run going on to 2 epochs is the 2-epoch run (the epoch-1 test score aside: it was asked for)."""
    cfg = tiny(recipe="paper", epochs=1, steps_per_epoch=3, limit_train=96, limit_test=32)
    train_and_evaluate(cfg, tmp_path / "run")
    longer = dataclasses.replace(cfg, epochs=2, quiet=False)
    result = train_and_evaluate(longer, tmp_path / "run")
    assert f"{tmp_path / 'run'}: its 1-epoch run goes on to 2 epochs" in capsys.readouterr().err
    straight = train_and_evaluate(dataclasses.replace(cfg, epochs=2), tmp_path / "straight")
    compared = [k for k in COMPARED if k != "test_top1"]
    assert [{k: m[k] for k in compared} for m in _metrics(tmp_path / "run")] == [
        {k: m[k] for k in compared} for m in _metrics(tmp_path / "straight")]
    assert result["epochs"] == 2 and result["test_top1"] == straight["test_top1"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 2
    assert train_and_evaluate(longer, tmp_path / "run") == result  # finished at 2 epochs: stored, not retrained
