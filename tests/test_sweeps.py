"""Sweeps (Figs. 3, 4, 8) on the search's study machinery, and class activation maps (Fig. 7).

Fast tests build points and run whole studies with a stand-in for training; the slow ones train
every sweep for real on `digits` with a tiny budget (B0 at depth 0.25, width 0.5, 16 px, 2 steps)
and draw CAMs from the compound-vs-single study.
"""

import json

import numpy as np
import pandas as pd
import pytest
from flax import nnx

from scaling import cam, cli, cost, plots, results, rules, sweeps, train
from scaling.models import build_model

TINY = dict(depth0=0.25, width0=0.5, base_resolution=16, epochs=1, steps_per_epoch=2,
            batch_size=16, limit_train=160, limit_test=80, num_devices=1, quiet=True, compilation_cache=None)
#: Few points per sweep: (sweep, overrides, expected networks).
SMALL = {
    "width": ({"values": "1,1.4"}, 2),
    "depth": ({"values": "1,2"}, 2),
    "resolution": ({"values": "1,1.3"}, 2),
    "width-baselines": ({"values": "1,1.4", "baselines": "1/1,2/1"}, 4),
    "compound-vs-single": ({"phi": "0,1"}, 5),
}
FIGURE = {"width": "figure3_width", "depth": "figure3_depth", "resolution": "figure3_resolution",
          "width-baselines": "figure4", "compound-vs-single": "figure8"}


def _config(name, tmp_path, **changes) -> sweeps.SweepConfig:
    overrides = {**TINY, "results_dir": str(tmp_path), **SMALL[name][0], **changes}
    return sweeps.with_overrides(sweeps.load_config(name), **overrides)


def _fake_train(config, workdir):
    """A train_and_evaluate stand-in: accuracy grows with log MACs."""
    spec = train.network_spec(config)
    c = cost.count(spec, 10)
    score = 0.5 + 0.05 * np.log2(c.macs / 1e5) + 0.01 * config.seed
    return {"minival_top1": score, "test_top1": score - 0.01, "train_top1": 0.9, "loss": 0.3, "params": c.params,
            "macs": c.macs, "resolution": spec.resolution, "depth": spec.depth, "width": spec.width,
            "resolution_scale": spec.resolution_scale, "blocks": spec.num_blocks, "epochs": 1, "steps": 2,
            "wall_time": 1.0, "images_per_sec": 100.0, "first_step_seconds": 0.5, "num_classes": 10,
            "dataset": "digits", "device_kind": "cpu", "platform": "cpu", "num_devices": 1}


# --------------------------------------------------------------------------------------------
# Points (no training)
# --------------------------------------------------------------------------------------------
def test_experiment_files_define_the_papers_sweeps():
    expected = {"width": 6, "depth": 6, "resolution": 7, "width-baselines": 24, "compound-vs-single": 13}
    for name, count in expected.items():
        config = sweeps.load_config(name)
        assert config.sweep == name and config.study == f"sweep_{name.replace('-', '_')}"
        assert len(sweeps.points(config, 10)) == count, name
    width = sweeps.points(sweeps.load_config("width"), 10)
    assert [p.params["beta"] for p in width] == [1, 1.4, 1.8, 2.6, 3.8, 5]
    assert [p.spec.width for p in width] == pytest.approx([0.5 * w for w in (1, 1.4, 1.8, 2.6, 3.8, 5)])


def test_cifar10_experiment_files_behind_the_committed_results():
    """experiments/cifar10/ made results/cifar10_*: one proxy, the networks results/README.md lists."""
    expected = {"width": 6, "depth": 6, "resolution": 7, "width-baselines": 8, "compound-vs-single": 9}
    for name, count in expected.items():
        path = sweeps.search.REPO / "experiments" / "cifar10" / f"sweep_{name.replace('-', '_')}.py"
        config = sweeps.load_config(name, str(path))
        assert config.study == f"cifar10_{name.replace('-', '_')}"
        assert (config.depth0, config.width0, config.train.base_resolution) == (0.25, 0.25, 32)
        assert config.train.dataset == "folder:../shared/datasets/cifar10" and config.train.epochs == 4
        assert len(sweeps.points(config, 10)) == count, name


def test_width_baselines_lines_and_members():
    config = sweeps.load_config("width-baselines")
    lines = dict.fromkeys(m.line for m in sweeps.members(config, 10))
    assert list(lines) == ["d=1, r=1", "d=1, r=1.3", "d=2, r=1", "d=2, r=1.3"]
    last = sweeps.points(config, 10)[-1]
    assert (last.params["alpha"], last.params["beta"], last.params["gamma"]) == (2, 5, 1.3)
    assert last.spec.resolution == rules.round_resolution(16, 1.3)
    assert json.loads(last.attrs["members"]) == [{"line": "d=2, r=1.3", "coefficient": 5.0, "label": "w=5"}]


def test_compound_vs_single_matches_macs_and_shares_the_baseline():
    config = sweeps.load_config("compound-vs-single")
    pts = sweeps.points(config, 10)
    members = [json.loads(p.attrs["members"]) for p in pts]
    assert [m["line"] for m in members[0]] == ["width", "depth", "resolution", "compound"]
    macs: dict[str, list[int]] = {}
    for p, ms in zip(pts, members, strict=True):
        for m in ms:
            macs.setdefault(m["line"], []).append(cost.count(p.spec, 10).macs)
    for line in ("width", "depth", "resolution"):  # within 15% of the compound network at every phi
        ratios = np.array(sorted(macs[line])) / np.array(sorted(macs["compound"]))
        assert np.abs(np.log(ratios)).max() < 0.15, (line, ratios)
    compound = pts[-1]
    assert (compound.spec.depth, compound.spec.width) == pytest.approx((0.25 * 1.2**3, 0.5 * 1.1**3))
    # The matched multiplier is the closest in MACs among its neighbours (steps of 0.01).
    target = cost.count(compound.spec, 10).macs
    w = sweeps.match_macs(config, "width", target, 10)
    err = [abs(np.log(cost.count(sweeps.network(config, 1, x, 1), 10).macs / target)) for x in (w - 0.01, w, w + 0.01)]
    assert err[1] == min(err)


def test_a_new_baseline_is_a_study_of_its_own():
    config = sweeps.with_overrides(sweeps.load_config("depth"), baseline="resnet50")
    assert config.study == "sweep_depth-resnet50"
    assert isinstance(sweeps.points(config, 10)[0].spec, rules.ResNetSpec)
    named = sweeps.with_overrides(sweeps.load_config("depth"), baseline="mobilenetv2", study="mine")
    assert named.study == "mine" and sweeps.points(named, 10)[0].spec.name == "mobilenetv2"


def test_dry_run_prints_networks_and_creates_nothing(tmp_path, capsys):
    argv = ["sweep", "compound-vs-single", "--dry-run", "--results-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "compound: phi=1" in out and "width: w=1; depth: d=1; resolution: r=1; compound: phi=0" in out
    assert "13 networks" in out and list(tmp_path.iterdir()) == []


BAD = {
    "unknown sweep": (["sweep", "height"], "unknown sweep 'height'"),
    "values": (["sweep", "width", "--values", "1,x"], "not a number"),
    "baselines": (["sweep", "width-baselines", "--baselines", "1/1,2"], "d/r pairs"),
    "negative phi": (["sweep", "compound-vs-single", "--phi=-1,0"], "phi must be >= 0"),
    "alpha range": (["sweep", "compound-vs-single", "--alpha", "1:1.4:0.1"], "single numbers"),
    "alpha below 1": (["sweep", "compound-vs-single", "--alpha", "0.9"], "must be >= 1"),
    "from_study elsewhere": (["sweep", "width", "--from-study", "x"], "only applies to the compound-vs-single"),
    "missing study": (["sweep", "compound-vs-single", "--from-study", "nosuch"], "no study 'nosuch'"),
    "baseline": (["sweep", "width", "--baseline", "vgg"], "unknown baseline 'vgg'"),
    "dataset": (["sweep", "depth", "--dataset", "nosuchset"], "unknown dataset"),
    "wrong file": (["sweep", "depth", "--config", "experiments/sweep_width.py"], "sweep='depth'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_no_study(case, tmp_path, capsys):
    argv, message = BAD[case]
    assert cli.main([*argv, "--results-dir", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------------------------
# Whole studies with a stand-in for training (fast)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SMALL))
def test_each_sweep_writes_its_table_and_figure(name, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    config = _config(name, tmp_path, seeds=2)
    summary = sweeps.sweep(config)
    assert summary["complete"] and summary["kind"] == f"sweep:{name}"
    directory = tmp_path / config.study
    df, _ = results.load(directory)
    assert len(df) == 2 * SMALL[name][1] and (df["state"] == "COMPLETE").all()
    table = results.sweep_table(df)
    assert (table["seeds"] == 2).all() and table["test_std"].notna().all()
    for stem in (FIGURE[name], "accuracy_vs_macs"):
        assert (directory / f"{stem}.png").stat().st_size > 0 and (directory / f"{stem}.pdf").exists()
    assert f"{FIGURE[name]}.png" in capsys.readouterr().out
    sweeps.sweep(config)  # resume: nothing left to train
    assert "trained 0 run(s)" in capsys.readouterr().out


def test_compound_coefficients_from_a_finished_search(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    assert cli.main(["search", "--study", "s", "--results-dir", str(tmp_path), "--beta", "1,1.1,1.2",
                     "--gamma", "1.15,1.4", "--depth0", "0.25", "--width0", "0.25", "--num-devices", "1"]) == 0
    best = json.loads((tmp_path / "s" / "summary.json").read_text())["best"]
    config = sweeps.resolve(_config("compound-vs-single", tmp_path, from_study="s"))
    assert (config.alpha, config.beta, config.gamma) == tuple(f"{best[k]:g}" for k in ("alpha", "beta", "gamma"))
    assert config.from_study is None


# --------------------------------------------------------------------------------------------
# Class activation maps
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [
    pytest.param(rules.scaled_spec(0.25, 0.25, base_resolution=64), id="b0"),
    pytest.param(rules.resnet_spec(0.25, 0.25, base_resolution=64), id="resnet", marks=pytest.mark.slow)])
def test_cam_mean_is_the_predicted_logit_minus_bias(spec):
    model = build_model(spec, 10, rngs=nnx.Rngs(0))
    model.eval()
    images = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype(np.float32)
    maps, logits = cam.raw_maps(model, images)
    assert maps.shape == (3, 2, 2)
    predicted = np.argmax(logits, -1)
    bias = np.asarray(model.classifier.bias[...])[predicted]
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), logits[np.arange(3), predicted] - bias, rtol=1e-4, atol=1e-4)
    cams, pred = cam.class_activation_maps(model, images)
    assert cams.shape == (3, 64, 64) and (pred == predicted).all()
    assert cams.min() == 0 and np.isclose(cams.max(axis=(1, 2)), 1).all()


def test_roles_and_picking_the_runs_closest_in_macs():
    runs = pd.DataFrame({"study": "s", "candidate": list("abcdefg"), "seed": 0,
                         "d": [1, 2, 4, 1, 1, 1.2, 1.4], "w": [1, 1, 1, 1.4, 1, 1.1, 1.2],
                         "r": [1, 1, 1, 1, 1.3, 1.15, 1.3], "macs": [1, 2, 4, 2.1, 1.9, 2, 4.2],
                         "test_top1": 0.5, "workdir": "x"})
    assert [cam.role(*x) for x in zip(runs["d"], runs["w"], runs["r"], strict=True)] == [
        "baseline", "deeper", "deeper", "wider", "higher resolution", "compound", "compound"]
    assert cam.role(0.5, 1, 1) is None
    picked = cam.pick(runs)  # closest to the largest compound (4.2)
    assert {k: v["candidate"] for k, v in picked.items()} == {
        "baseline": "a", "deeper": "c", "wider": "d", "higher resolution": "e", "compound": "g"}
    assert cam.pick(runs, gmacs=2e-9)["deeper"]["candidate"] == "b"


def test_cam_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["cam", "--studies", "nosuch", "--results-dir", str(tmp_path)]) == 2
    assert cli.main(["cam", "--studies", "x", "--images", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no study 'nosuch'" in err[0] and "--images must be >= 1" in err[1]


# --------------------------------------------------------------------------------------------
# Real training on digits (tiny budget)
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Every sweep trained for real, few points each (compound-vs-single at 32 px for the CAMs)."""
    root = tmp_path_factory.mktemp("sweeps")
    for name in SMALL:
        extra = {"base_resolution": 32} if name == "compound-vs-single" else {}
        sweeps.sweep(_config(name, root, **extra))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMALL))
def test_each_sweep_trains_on_digits_and_draws_its_figure(name, trained):
    directory = trained / sweeps.load_config(name).study
    df, summary = results.load(directory)
    assert summary["complete"] and len(df) == SMALL[name][1]
    assert df["test_top1"].between(0, 1).all() and (df["dataset"] == "digits").all()
    table = results.sweep_table(df)
    assert table["macs"].is_monotonic_increasing or name in ("width-baselines", "compound-vs-single")
    lines = {"width-baselines": 2, "compound-vs-single": 4}.get(name, 1)
    assert table["line"].nunique() == lines
    assert (directory / f"{FIGURE[name]}.png").stat().st_size > 0


@pytest.mark.slow
def test_cam_grid_of_the_five_models(trained, monkeypatch, capsys):
    study = sweeps.load_config("compound-vs-single").study
    figures, save = [], plots.save
    monkeypatch.setattr(plots, "save", lambda fig, stem: figures.append(fig) or save(fig, stem))
    out = trained / "cams"
    argv = ["cam", "--studies", study, "--images", "3", "--results-dir", str(trained), "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert all(f"{role}: {study}" in printed for role in cam.ROLES), printed
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".pdf").exists()
    (fig,) = figures
    assert len(fig.axes) == 3 * 5  # images x (baseline, deeper, wider, higher resolution, compound)
    assert [ax.get_title().split("\n")[0] for ax in fig.axes[:5]] == list(cam.ROLES)
