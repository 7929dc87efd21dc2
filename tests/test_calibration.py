"""Recipe calibration studies and the two-network comparison, with a stand-in for training (fast)."""

import dataclasses
import json
import math

import numpy as np
import pytest
from conftest import fake_result

from scaling import calibration, cli, config, plots, proxies, recipes, results, study, train
from scaling.network import Network
from scaling.study import StudyConfig


def _config(tmp_path, **changes) -> calibration.CalibrationConfig:
    study = StudyConfig(name="calib", results_dir=str(tmp_path), seeds=2,
                        train=proxies.digits(**proxies.SMOKE, compilation_cache=None))
    return config.override(calibration.CalibrationConfig(study=study, networks="1/1/1,2/1/1", lr_factors="0.5,1,2"),
                           **changes)


def _fake_train(cfg, workdir):
    """Best at the recipe's learning rate for the baseline, at half of it for the deeper network."""
    lr0 = recipes.resolve(dataclasses.replace(cfg, lr=None)).lr
    best = lr0 if cfg.network.depth == 0.25 else lr0 / 2
    score = 0.6 - 0.02 * math.log2(cfg.lr / best) ** 2 + 0.002 * cfg.seed
    return fake_result(cfg, score) | {"test_top1": score, "train_top1": score + 0.05}


def test_points_scale_the_recipes_learning_rate(tmp_path):
    cfg = _config(tmp_path)
    pts = calibration.points(cfg)
    assert len(pts) == 2 * 3 * 2
    lr0 = recipes.resolve(cfg.study.train).lr
    assert sorted({p.changes["lr"] for p in pts}) == pytest.approx([lr0 / 2, lr0, 2 * lr0])
    deep = [p for p in pts if p.params["d"] == 2]
    assert {p.network for p in deep} == {Network(depth=0.5, width=0.5, base_resolution=16)}
    assert study.train_config(cfg.study, deep[0]).lr == deep[0].changes["lr"]  # the change reaches training


@pytest.mark.parametrize("networks,factors,message", [("1/1", "1", "d/w/r triples"), ("1/1/1", "0,1", "positive")])
def test_bad_calibration_input_is_one_line(tmp_path, networks, factors, message):
    with pytest.raises(calibration.CalibrationError, match=message):
        calibration.points(_config(tmp_path, networks=networks, lr_factors=factors))


def test_a_calibration_study_writes_its_table_figure_and_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    cfg = _config(tmp_path)
    summary = calibration.calibrate(cfg)
    assert summary["complete"] and summary["kind"] == "calibration"
    verdict = {v["d"]: v for v in summary["calibration"]}
    assert verdict[1.0]["best_lr_factor"] == 1 and verdict[1.0]["recipe_within_tolerance"] is True
    assert verdict[2.0]["best_lr_factor"] == 0.5
    assert verdict[2.0]["recipe_gap_pts"] == pytest.approx(2.0, abs=0.3)  # 0.02 * log2(2)^2 = 2 points
    assert verdict[2.0]["recipe_within_tolerance"] is False
    df, _ = results.load(tmp_path / "calib")
    table = results.calibration_table(df)
    assert len(table) == 6 and (table["seeds"] == 2).all() and table["test_top1_ci"].notna().all()
    plots.redraw(tmp_path / "calib")  # what the command does after the study
    assert (tmp_path / "calib" / "calibration.png").stat().st_size > 0
    assert not (tmp_path / "calib" / "accuracy_vs_macs.png").exists()  # rows differ by lr: no MACs figure
    saved = json.loads((tmp_path / "calib" / "summary.json").read_text())
    assert saved["recipe"] == summary["recipe"] == recipes.knobs(cfg.study.train)  # the knobs it trained with
    assert json.loads((tmp_path / "calib" / "summary.json").read_text())["calibration"] == summary["calibration"]


def test_dry_run_lists_the_runs_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "calib.py"
    path.write_text("from scaling import proxies\nfrom scaling.calibration import CalibrationConfig\n"
                    "from scaling.study import StudyConfig\n\n\ndef get_config():\n"
                    "    return CalibrationConfig(StudyConfig(train=proxies.digits()), networks='1/1/1,1/2/1')\n")
    assert cli.main(["calibrate", "--config", str(path), "--dry-run", "--results-dir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "d1_w2_r1_lr0.5" in out and "6 runs (1 seed(s))" in out and not (tmp_path / "r").exists()


def test_compare_two_networks_of_a_study(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    calibration.calibrate(_config(tmp_path))
    capsys.readouterr()
    df, _ = results.load(tmp_path / "calib")
    c = results.compare(df, "d1_w1_r1_lr1", "d1_w1_r1_lr2")
    assert c.difference == pytest.approx(-0.02) and c.n_a == c.n_b == 2
    assert cli.main(["compare", "calib", "d1_w1_r1_lr1", "d1_w1_r1_lr2", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("d1_w1_r1_lr2 - d1_w1_r1_lr1: -2.00 pts of test_top1") and "seed noise" in out
    # every seed gives lr 2 exactly 2 points less: paired by seed the difference is exact
    assert out.splitlines()[1] == ("paired by seed: -2.00 pts (95% CI -2.00 to -2.00; 2 shared seeds; paired t p = 0): "
                                   "beyond the seed noise")
    assert cli.main(["compare", "calib", "d1_w1_r1_lr1", "nosuch", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no completed run of 'nosuch'" in err
    assert cli.main(["compare", "calib", "d1_w1_r1_lr1", "d1_w1_r1_lr2", "--at-macs", "1e6",
                     "--results-dir", str(tmp_path)]) == 2
    assert "compares lines of a sweep; 'calib' is a calibration study" in capsys.readouterr().err
    assert np.isfinite(c.low) and c.low <= c.difference <= c.high


def test_compare_a_family_of_pairs_with_a_margin(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    calibration.calibrate(_config(tmp_path))
    capsys.readouterr()
    argv = ["compare", "calib", "d1_w1_r1_lr1", "d1_w1_r1_lr2", "d1_w1_r1_lr1", "d1_w1_r1_lr0.5",
            "--results-dir", str(tmp_path)]
    assert cli.main([*argv, "--margin", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 seed-paired comparisons of test_top1 (pts, 95% CI; Holm over the 2):"
    assert out[1].startswith("  d1_w1_r1_lr2 - d1_w1_r1_lr1: -2.00 (-2.00 to -2.00; 2 seeds; p 0, Holm 0)")
    assert out[2] == "    margin 1 pts: the interval excludes a difference of +1 or more"  # exact: no power to size
    assert cli.main([*argv[:5], *argv[6:]]) == 2  # an odd number of names
    assert "name candidates in pairs" in capsys.readouterr().err
    assert cli.main([*argv, "--margin", "0"]) == 2
    assert "--margin must be > 0" in capsys.readouterr().err


def test_compare_a_study_with_its_rerun(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    calibration.calibrate(_config(tmp_path / "a"))
    shifted = lambda cfg, workdir: _fake_train(cfg, workdir) | (  # noqa: E731 - a rerun elsewhere: the baseline's digits move
        {"test_top1": _fake_train(cfg, workdir)["test_top1"] + 0.05} if cfg.network.depth == 0.25 and cfg.seed else {})
    monkeypatch.setattr(train, "train_and_evaluate", shifted)
    calibration.calibrate(_config(tmp_path / "b"))
    capsys.readouterr()
    table = results.compare_reruns(results.load(tmp_path / "a" / "calib")[0], results.load(tmp_path / "b" / "calib")[0])
    assert len(table) == 6 and (table["seeds"] == 2).all()
    moved = table["candidate"].str.startswith("d1_")
    assert table.loc[~moved, "same_digits"].all() and not table.loc[moved, "same_digits"].any()
    assert table.loc[moved, "difference"].to_numpy() == pytest.approx([0.025] * 3)  # one seed of two, +5 points
    argv = ["compare", "calib", "--results-dir", str(tmp_path / "a"), "--rerun", str(tmp_path / "b")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    # Seed 1 is the better seed in both (by 0.2 points, by 5 on the moved candidates): the runs correlate.
    assert len(out) == 7 and out[-1] == ("3 of 6 candidates to the digit, 0 beyond the seed noise; a seed's two runs "
                                         "correlate r = 0.73 (12 pairs, deviations from their candidate's mean)")
    assert out[0].startswith("d1_w1_r1_lr0.5: ") and "+2.50 pts of test_top1" in out[0]
    assert cli.main([*argv[:2], "d1_w1_r1_lr1", *argv[2:]]) == 2
    assert "name candidates in pairs" in capsys.readouterr().err
    assert cli.main(["compare", "calib", "--results-dir", str(tmp_path / "a")]) == 2
    assert "name two candidates" in capsys.readouterr().err


def test_compare_two_candidates_over_a_study_and_its_rerun_pooled(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train)
    calibration.calibrate(_config(tmp_path / "a"))
    calibration.calibrate(_config(tmp_path / "same", seeds=3))  # the same CPU: seeds 0-1 to the digit, and seed 2
    # Another CPU: every run's last digits differ (its loss), and its test top-1 is 1 point higher.
    elsewhere = lambda cfg, workdir: _fake_train(cfg, workdir) | {  # noqa: E731
        "loss": 0.31, "test_top1": _fake_train(cfg, workdir)["test_top1"] + 0.01}
    monkeypatch.setattr(train, "train_and_evaluate", elsewhere)
    calibration.calibrate(_config(tmp_path / "b"))
    capsys.readouterr()
    pair = ["compare", "calib", "d1_w1_r1_lr1", "d1_w1_r1_lr2", "--results-dir", str(tmp_path / "a")]
    assert cli.main([*pair, "--rerun", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    # lr 2 is 2 points below lr 1 in both runs of each seed.
    assert out.startswith("d1_w1_r1_lr2 - d1_w1_r1_lr1: -2.00 pts of test_top1") and "2 and 2 seeds" in out
    assert f"each seed's runs in the study and in {tmp_path / 'b'} averaged" in out and "beyond the seed noise" in out
    study = results.load(tmp_path / "a" / "calib")[0].set_index(["candidate", "seed"]).sort_index()
    pooled = results.pool(study.reset_index(), results.load(tmp_path / "b" / "calib")[0])
    pooled = pooled.set_index(["candidate", "seed"]).sort_index()
    assert len(pooled) == 12 and (pooled["runs"] == 2).all()
    assert pooled["test_top1"].to_numpy() == pytest.approx(study["test_top1"].to_numpy() + 0.005)
    assert pooled["loss"].to_numpy() == pytest.approx([0.305] * 12) and (pooled["params"] == study["params"]).all()
    # A rerun on the same CPU repeats seeds 0-1 to the digit: each counts once, beside the new seed 2.
    assert cli.main([*pair, "--rerun", str(tmp_path / "same")]) == 0
    assert "-2.00 pts of test_top1" in (out := capsys.readouterr().out) and "3 and 3 seeds" in out
    same = results.pool(study.reset_index(), results.load(tmp_path / "same" / "calib")[0])
    assert len(same) == 18 and (same["runs"] == 1).all()
    assert cli.main(["compare", "calib", "--results-dir", str(tmp_path / "a"), "--rerun", str(tmp_path / "same")]) == 0
    assert "(2 and 3 seeds)" in (out := capsys.readouterr().out) and "the same digits on the 2 seeds run in both" in out
