"""Budgets as a study dimension (scaling.budgets) and the fidelity report (scaling.fidelity).

Studies run with a stand-in for training whose accuracy law is known: every number the report
prints is checked against it. The statistics are checked on simulated studies of known truth
(false-positive rate, coverage).
"""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import fake_result
from test_sweeps import _config

from scaling import budgets, cli, config, cost, fidelity, plots, results, sweeps, train
from scaling.config import ConfigError
from scaling.study import train_config


# --------------------------------------------------------------------------------------------
# Budgets
# --------------------------------------------------------------------------------------------
def test_budgets_parse_label_and_set_each_runs_epochs_and_images():
    parsed = budgets.parse(config.parse_list("budgets", "1, 2,4,1@all,0.5@2000"))
    assert [b.label for b in parsed] == ["x1", "x2", "x4", "x1@all", "x0.5@2000"]
    assert parsed[2].changes(5, 10_000) == {"epochs": 20, "limit_train": 10_000}
    assert parsed[3].changes(5, 10_000) == {"epochs": 5, "limit_train": None}  # every training image
    assert parsed[4].changes(4, None) == {"epochs": 2, "limit_train": 2000}
    assert budgets.parse(config.parse_list("budgets", "")) == [] and budgets.parse(()) == []
    with pytest.raises(ConfigError, match="not a whole number"):
        parsed[4].changes(5, None)


@pytest.mark.parametrize("text, message", [("1,x", "is not E or E@N"), ("0", "needs E > 0"), ("1,1", "twice"),
                                            ("1@-5", "needs E > 0 and N >= 1"), ("inf", "needs E > 0")])
def test_bad_budgets_are_one_line(text, message):
    with pytest.raises(ConfigError, match=message):
        budgets.parse(config.parse_list("budgets", text))


def test_points_run_seed_by_seed_at_every_budget_and_the_1x_run_is_the_plain_one():
    plain = config.override(sweeps.load_config("width"), values="1,2", seeds=2, epochs=5, limit_train=1000)
    laddered = config.override(plain, budgets="1,4,1@all")
    base, pts = sweeps.points(plain, 10), sweeps.points(laddered, 10)
    assert [p.key for p in pts[:6]] == ["d1_w1_r1_x1-s0", "d1_w2_r1_x1-s0", "d1_w1_r1_x4-s0", "d1_w2_r1_x4-s0",
                                        "d1_w1_r1_x1-s1", "d1_w2_r1_x1-s1"]
    assert [p.key for p in pts[8:]] == ["d1_w1_r1_x1@all-s0", "d1_w2_r1_x1@all-s0", "d1_w1_r1_x1@all-s1",
                                        "d1_w2_r1_x1@all-s1"]  # the arm on other images last
    assert pts[2].params["budget"] == "x4" and pts[2].attrs["network"] == "d1_w1_r1"
    configs = {p.key: train_config(laddered.study, p) for p in pts}
    assert configs["d1_w1_r1_x4-s0"].epochs == 20 and configs["d1_w1_r1_x1@all-s0"].limit_train is None
    # The 1x run trains the same config as the study without budgets: a finished one is copied, not retrained.
    assert configs["d1_w1_r1_x1-s1"] == train_config(plain.study, next(p for p in base if p.key == "d1_w1_r1-s1"))


def test_a_search_refuses_budgets():
    from scaling import search

    cfg = config.override(search.load_config(), budgets="1,2")
    with pytest.raises(ConfigError, match="a search picks one winner at one budget"):
        search.validate(cfg, [])


# --------------------------------------------------------------------------------------------
# A budget study end to end, with a known accuracy law
# --------------------------------------------------------------------------------------------
#: test top-1 = 0.40 + 0.02 log2(MACs / 1e5) + 0.03 log2(epochs) + 0.01 seed, and the widest network
#: gains 0.02 more per doubling of epochs (the budget x network interaction).
def _law(cfg, workdir):
    macs = cost.count(train.network_spec(cfg), 10).macs
    doublings = np.log2(cfg.epochs)
    wide = 0.02 * doublings if cfg.network.width >= 0.5 * 1.8 else 0.0
    top1 = 0.40 + 0.02 * np.log2(macs / 1e5) + 0.03 * doublings + wide + 0.01 * cfg.seed
    return fake_result(cfg, top1 + 0.01) | {"epochs": cfg.epochs, "steps": 2 * cfg.epochs, "train_top1": top1 + 0.1}


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "train_and_evaluate", _law)
        cfg = _config("width", tmp_path_factory.mktemp("ladder"), seeds=3, values="1,1.4,1.8", budgets="1,2,4")
        sweeps.sweep(cfg)
    plots.redraw(cfg.study.dir)
    return cfg, results.load(cfg.study.dir)[0]


def test_a_budget_study_reports_gains_interactions_and_rank_agreement(ladder):
    cfg, df = ladder
    assert len(df) == 27 and sorted(df["epochs"].unique()) == [1, 2, 4]
    table = fidelity.ladder_table(df)
    assert list(table["budget"][:3]) == ["x1", "x2", "x4"] and (table["seeds"] == 3).all()
    base = table[table["network"] == "d1_w1_r1"]
    assert np.allclose(np.diff(base["test_top1"]), 0.03)  # 3 pts per doubling of the epochs
    assert np.allclose(base["test_top1_ci"], 0.01 * 4.302653 / np.sqrt(3))  # seeds 0.01 apart: t(2) s / sqrt(3)
    gains = fidelity.gains(df)
    assert np.allclose(gains.loc[gains["network"] == "d1_w1_r1", "difference"], 3.0)
    assert np.allclose(gains.loc[gains["network"] == "d1_w1.8_r1", "difference"], 5.0)
    inter = fidelity.interactions(df).set_index(["network", "low_budget", "high_budget"])
    assert len(inter) == 6 and np.isclose(inter.loc[("d1_w1.8_r1", "x1", "x4"), "difference"], 4.0)
    assert np.isclose(inter.loc[("d1_w1.4_r1", "x1", "x4"), "difference"], 0.0)
    assert (inter["p_holm"] >= inter["p"]).all()
    tau = fidelity.rank_agreement(df)
    assert len(tau) == 3 and (tau["tau"] == 1).all() and (tau["tau_low"] == 1).all()  # the law keeps the order
    assert (tau["seed_to_seed"] == 1).all()


def test_fidelity_command_and_figure(ladder, capsys):
    cfg, _ = ladder
    directory = cfg.study.dir
    assert (directory / "fidelity.png").stat().st_size > 0 and (directory / "figure3_width_x4.png").exists()
    capsys.readouterr()
    assert cli.main(["fidelity", cfg.study.name, "--results-dir", cfg.study.results_dir]) == 0
    out = capsys.readouterr().out
    gap = 2 * np.log2(cost.count(cfg.study.train.network.scaled(1, 1.8, 1).spec(), 10).macs /
                      cost.count(cfg.study.train.network.spec(), 10).macs)  # 2 pts per doubling of MACs
    assert any(line.split()[:2] == ["width", "w=1.8"] and
               f"x1 -> x4: gap {gap:+.2f} -> {gap + 4:+.2f}, change +4.00 (" in line for line in out.splitlines())
    assert "x1 vs x4: tau +1.00 (95% CI +1.00 to +1.00; 3 networks, 3 seeds)" in out
    assert cli.main(["fidelity", cfg.study.name, "--results-dir", cfg.study.results_dir, "--baseline", "nope"]) == 2
    assert capsys.readouterr().err.strip().endswith("choose from d1_w1_r1, d1_w1.4_r1, d1_w1.8_r1")


def test_fidelity_of_a_study_without_budgets_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _law)
    cfg = _config("width", tmp_path)
    sweeps.sweep(cfg)
    capsys.readouterr()
    assert cli.main(["fidelity", cfg.study.name, "--results-dir", str(tmp_path)]) == 2
    assert "the study has no budgets" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The statistics on simulated studies of known truth
# --------------------------------------------------------------------------------------------
def _simulated(rng, seeds=3, interaction=0.0, nets=4, noise=0.01):
    """A budget study's completed trials: network effects, a seed block shared by every run of a seed,
    independent noise, and ``interaction`` added to the last network at the larger budget."""
    rows, trial = [], 0
    effects = np.linspace(0.0, 0.03, nets)
    for seed in range(seeds):
        block = rng.normal(0, 0.02)
        for b, (budget, gain) in enumerate((("x1", 0.0), ("x4", 0.05))):
            for n in range(nets):
                top1 = 0.5 + effects[n] + gain + block + rng.normal(0, noise) + (interaction if n == nets - 1 and b
                                                                                 else 0)
                rows.append({"trial": trial, "state": "COMPLETE", "network": f"n{n}", "budget": budget,
                             "seed": seed, "steps": 100 * (1 + 3 * b), "macs": 1, "test_top1": top1,
                             "train_top1": top1, "members": json.dumps([{"line": "l", "label": f"n{n}"}])})
                trial += 1
    return pd.DataFrame(rows)


def test_interaction_tests_hold_their_level_and_intervals_cover_the_truth():
    rng = np.random.default_rng(0)
    null = [fidelity.interactions(_simulated(rng), "n0") for _ in range(400)]
    p = np.concatenate([t["p"].to_numpy() for t in null])
    assert 0.03 < (p < 0.05).mean() < 0.07  # each test at its level, seed blocks or not
    assert (np.array([t["p_holm"].min() for t in null]) < 0.05).mean() < 0.07  # the family's error under Holm
    truth = 0.02
    covered = [(lambda r: r["low"] <= 100 * truth <= r["high"])(
        fidelity.interactions(_simulated(rng, interaction=truth), "n0").iloc[-1]) for _ in range(400)]
    assert 0.92 < np.mean(covered) < 0.98


def test_rank_agreement_is_one_for_a_kept_order_and_its_ceiling_falls_with_noise():
    rng = np.random.default_rng(1)
    quiet = fidelity.rank_agreement(_simulated(rng, noise=1e-5))
    assert quiet["tau"].item() == 1 and quiet["seed_to_seed"].item() == 1
    noisy = fidelity.rank_agreement(_simulated(rng, seeds=5, noise=0.03))
    assert noisy["seed_to_seed"].item() < 0.8 and noisy["tau_low"].item() < noisy["tau"].item()
