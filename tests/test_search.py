"""The compound-scaling search: candidates, exactly-once studies (journal file and PostgreSQL),
killed workers, failures, outputs, bad input, and that a storage password never leaks.

Real training runs in subprocesses (``python -m scaling.cli``), every one with the same tiny budget
and networks, so XLA compiles each network once per session (a shared compilation cache).
"""

import collections
import glob
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import optuna
import pandas as pd
import psutil
import pytest
import sqlalchemy.engine
from conftest import ROOT, fake_result

from scaling import calibration, cli, config, cost, plots, proxies, results, search, study, sweeps, train
from scaling.arch import compound_spec
from scaling.network import grid_candidates
from scaling.scaling_math import feasible_grid, parse_range, round_resolution
from scaling.train import TrainingDiverged

# Three candidates of the default experiment's grid: (1, 1, 1.4), (1, 1.2, 1.15), (1.2, 1.1, 1.15).
GRID = ["--beta", "1,1.1,1.2", "--gamma", "1.15,1.4"]
# The smoke budget (scaling.proxies.SMOKE) as flags.
BUDGET = [arg for k, v in proxies.SMOKE.items()
          for arg in ([f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)]))]
# Worker processes compile with most XLA optimisations off, as the in-process tests do (conftest).
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
TIMEOUT = 900


def _argv(tmp_path, study, *extra, cache=None):
    argv = ["search", "--name", study, "--results-dir", str(tmp_path), *GRID, *BUDGET, *extra]
    return argv + (["--compilation-cache", cache] if cache else [])


def _config(argv) -> search.SearchConfig:
    """The SearchConfig a ``scaling search`` command line means (as the CLI builds it)."""
    return cli.search_config(cli.build_parser().parse_args(argv))


def _points(argv) -> list[str]:
    config = _config(argv)
    return [p.key for p in search.search_points(config, search.candidates(config))]


def _popen(argv, log: pathlib.Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, env=ENV, stdout=out,
                            stderr=subprocess.STDOUT)


def _wait(procs, logs):
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait(timeout=TIMEOUT) == 0, log.read_text()[-3000:]


def _trials(config: search.SearchConfig) -> list[optuna.trial.FrozenTrial]:
    return study.load(config.study).get_trials()


def _complete_once(trials, points):
    done = collections.Counter(t.user_attrs["point"] for t in trials if t.state.name == "COMPLETE")
    assert done == collections.Counter(points), done


# --------------------------------------------------------------------------------------------
# Candidates and tables (no training)
# --------------------------------------------------------------------------------------------
def test_default_grid_has_the_paper_point_and_merges_like_rules():
    config = search.SearchConfig()
    points = feasible_grid(*(parse_range("1:1.4:0.05"),) * 3)
    assert search.PAPER_POINT in points
    ours = search.candidates(config)
    theirs = grid_candidates(points)
    assert [(c.key, c.merged) for c in ours] == [(c.key, c.merged) for c in theirs]
    assert sum(search.PAPER_POINT in c.merged for c in ours) == 1


def test_candidates_scale_the_configured_baseline():
    config = search.load_config()
    cands = search.candidates(config)
    assert 3 <= len(cands) <= 4
    paper = next(c for c in cands if search.PAPER_POINT in c.merged)
    spec = paper.spec
    assert (spec.depth, spec.width, spec.resolution_scale) == pytest.approx((0.25 * 1.2, 0.5 * 1.1, 1.15))
    assert spec.resolution == round_resolution(16, 1.15)
    rows = search.candidate_table(config, cands, 10)
    base = cost.count(config.study.train.network.spec(), 10).macs
    for row in rows:
        assert row["mac_ratio"] == pytest.approx(row["macs"] / base, abs=1e-4)
        assert abs(row["product"] - 2) <= 0.1
    assert sum(row["paper"] for row in rows) == 1


def test_dry_run_prints_the_table_and_creates_nothing(tmp_path, capsys):
    assert cli.main(["search", "--dry-run", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for column in ("alpha", "beta", "gamma", "product", "resolution", "params", "macs", "mac_ratio"):
        assert column in out
    assert "a1.20_b1.10_g1.15" in out and "distinct networks" in out
    assert list(tmp_path.iterdir()) == []


def test_scale_up_table_beside_the_published_variants(capsys):
    assert cli.main(["scale-up", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "0:7", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["phi"] for r in rows] == list(range(8))
    assert rows[0]["mac_ratio"] == 1 and rows[0]["published_params_M"] == 5.3
    assert [r["nominal_2^phi"] for r in rows] == [2.0**p for p in range(8)]
    assert all(r["macs"] < s["macs"] for r, s in zip(rows, rows[1:], strict=False))
    assert rows[7]["published"].startswith("b7") and rows[7]["published_flops_B"] == 37
    assert rows[1]["b0_scale_params_M"] == pytest.approx(
        cost.count(compound_spec(1.2, 1.1, 1.15, 1)).params / 1e6, abs=0.01)


def test_masked_urls():
    assert study.mask_url("postgresql://u:hunter2@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert study.mask_url(None) is None and study.mask_url("runs/j.log") == "runs/j.log"


# --------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, no study
# --------------------------------------------------------------------------------------------
BAD = {
    "empty grid": (["--alpha", "1", "--beta", "1", "--gamma", "1"], "no (alpha, beta, gamma)"),
    "tolerance": (["--tol", "0"], "tolerance must be > 0"),
    "alpha below 1": (["--alpha", "0.9,1.2"], "alpha must be >= 1"),
    "dataset": (["--dataset", "nosuchset"], "unknown dataset"),
    "storage": (["--storage", "postgresql://scaling:Sup3rSecret@127.0.0.1:1/x"], "cannot reach storage"),
    "seeds": (["--seeds", "0"], "seeds must be >= 1"),
    "study name": (["--name", "../up"], "study name"),
    "malformed file": (["--config", "BROKEN"], "SyntaxError"),
    "missing file": (["--config", "/nonexistent/exp.py"], "no experiment file"),
    "misspelt packaged config": (["--config", "search_digit"], "did you mean 'search_digits'?"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_no_study(case, tmp_path, capsys):
    argv, message = BAD[case]
    broken = tmp_path / "broken.py"
    broken.write_text("from scaling.search import SearchConfig\ndef get_config(:\n    return SearchConfig()\n")
    argv = [str(broken) if a == "BROKEN" else a for a in argv]
    results_dir = tmp_path / "results"
    assert cli.main(["search", "--results-dir", str(results_dir), "--name", "bad", *argv]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err
    assert "Sup3rSecret" not in captured.err + captured.out
    assert not results_dir.exists()


def test_experiment_file_must_return_a_search_config(tmp_path):
    path = tmp_path / "wrong.py"
    path.write_text("def get_config():\n    return {'study': 'x'}\n")
    with pytest.raises(config.ConfigError, match="must return a SearchConfig"):
        search.load_config(str(path))


# --------------------------------------------------------------------------------------------
# Study logic with a stand-in for training (fast)
# --------------------------------------------------------------------------------------------
def _fake_train(fail=None):
    """A train_and_evaluate stand-in: a score from (d, w, r, seed); ``fail`` maps a width to an error."""
    calls = []

    def fake(config, workdir):
        n = config.network
        calls.append((n.width, config.seed))
        if fail and n.width in fail:
            raise fail[n.width]
        return fake_result(config, 0.5 + 0.3 * n.resolution_scale - 0.1 * n.width + 0.01 * config.seed)

    fake.calls = calls
    return fake


def test_failures_are_recorded_and_the_study_goes_on(tmp_path, monkeypatch, capsys):
    # Widths of the three candidates: 0.5 (1, 1, 1.4), 0.6 (1, 1.2, 1.15), 0.55 (paper).
    fake = _fake_train({0.5: TrainingDiverged(3, float("nan")),
                        0.6: RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 1 GiB")})
    monkeypatch.setattr(train, "train_and_evaluate", fake)
    argv = _argv(tmp_path, "fails")
    assert cli.main(argv) == 1  # the study ended with points failed
    out = capsys.readouterr().out
    assert out.count("FAILED") == 2 and "winner a1.20_b1.10_g1.15" in out
    assert "chosen from 1 of 3 candidates (1 of 3 runs)" in out
    last = out.strip().splitlines()[-3:]  # the last lines name each failed point and the command that retries it
    assert last[0].startswith("incomplete: 2 of 3 runs did not finish")
    assert last[1].startswith("  a1.00_b1.00_g1.40-s0: diverged: training diverged at step 3")
    assert last[2].startswith("  a1.00_b1.20_g1.15-s0: out_of_memory: RESOURCE_EXHAUSTED")
    assert all(line.endswith("rerun the same command with --retry-failed to try it again") for line in last[1:])
    df, summary = results.load(tmp_path / "fails")
    kinds = dict(zip(df["candidate"], df["fail_kind"], strict=True))
    assert kinds["a1.00_b1.00_g1.40"] == "diverged" and kinds["a1.00_b1.20_g1.15"] == "out_of_memory"
    assert "diverged at step 3" in " ".join(df["fail_reason"].dropna())
    assert {f["kind"] for f in summary["failures"]} == {"diverged", "out_of_memory"}
    assert summary["best"]["candidate"] == "a1.20_b1.10_g1.15"
    assert [(e["point"], e["state"]) for e in summary["incomplete"]] == [
        ("a1.00_b1.00_g1.40-s0", "failed"), ("a1.00_b1.20_g1.15-s0", "failed")]
    assert cli.main(argv) == 1  # failed runs are settled: nothing is retried
    assert len(fake.calls) == 3 and "trained 0 run(s)" in capsys.readouterr().out
    capsys.readouterr()
    assert cli.main(["plot", "fails", "--results-dir", str(tmp_path)]) == 0
    note = capsys.readouterr().err
    assert note.startswith("note: study 'fails' is incomplete: 1 of 3 runs finished (missing: a1.00_b1.00_g1.40-s0 "
                           "(diverged), a1.00_b1.20_g1.15-s0 (out_of_memory))"), note
    assert cli.main(["compare", "fails", "a1.20_b1.10_g1.15", "a1.20_b1.10_g1.15", "--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err == note
    assert cli.main([*argv, "--retry-failed"]) == 1  # tried once more (and they fail the same way)
    assert len(fake.calls) == 5
    assert cli.main([*argv, "--retry-failed"]) == 1 and len(fake.calls) == 7
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())  # the cause fixed
    assert cli.main([*argv, "--retry-failed"]) == 0
    assert results.load(tmp_path / "fails")[1]["complete"]


def test_a_run_that_keeps_raising_uses_up_its_retries_and_says_so(tmp_path, monkeypatch, capsys):
    fake = _fake_train({0.5: RuntimeError("boom")})
    monkeypatch.setattr(train, "train_and_evaluate", fake)
    argv = _argv(tmp_path, "raises", "--max-retries", "1")
    assert cli.main(argv) == 1
    assert [c for c in fake.calls if c[0] == 0.5] == [(0.5, 0)] * 2  # the run and its one retry
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == ("  a1.00_b1.00_g1.40-s0: error (2 failures, --max-retries 1 used up): RuntimeError: boom; "
                    "rerun the same command with --retry-failed to try it again")


def test_seeds_winner_on_the_mean_with_noise_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    assert cli.main(_argv(tmp_path, "seeds", "--seeds", "3")) == 0
    out = capsys.readouterr().out
    df, summary = results.load(tmp_path / "seeds")
    assert len(df) == 9 and (df["state"] == "COMPLETE").all()
    means = df.groupby("candidate")["value"].mean()
    assert summary["best"]["candidate"] == means.idxmax()
    assert summary["best"]["seeds"] == 3 and summary["best"]["score_std"] == pytest.approx(0.01)
    assert summary["seed_noise"] == pytest.approx(0.01)
    assert summary["beats_runner_up_beyond_noise"] is True
    assert "± 1.00" in out and "beyond the seed noise" in out


def test_a_search_and_its_rerun_name_each_draws_winner_and_both_draws(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())  # (1, 1, 1.4) first, the paper's point second
    assert cli.main(_argv(tmp_path / "a", "srch", "--seeds", "2")) == 0
    fake = _fake_train()  # another CPU: every run's last digits move, and the paper's point gains 10 points

    def elsewhere(config, workdir):
        result = fake(config, workdir) | {"loss": 0.31}
        paper = round(config.network.depth, 6) == 0.3  # alpha 1.2 on the digits baseline's depth 0.25
        return result | ({"minival_top1": result["minival_top1"] + 0.1} if paper else {})

    monkeypatch.setattr(train, "train_and_evaluate", elsewhere)
    assert cli.main(_argv(tmp_path / "b", "srch", "--seeds", "2")) == 0
    capsys.readouterr()
    assert cli.main(["compare", "srch", "--results-dir", str(tmp_path / "a"), "--rerun", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    # Each seed adds the same 0.01 to every candidate: paired by seed, the margins carry no noise at all.
    assert out[-3:] == [
        "winner in the study: a1.00_b1.00_g1.40 87.50, runner-up a1.20_b1.10_g1.15 79.50: margin +8.00 (seed-paired "
        "95% CI +8.00 to +8.00), beyond the seed noise; the paper's point ranks 2 of 3 (the search's objective)",
        "winner in the rerun: a1.20_b1.10_g1.15 89.50, runner-up a1.00_b1.00_g1.40 87.50: margin +2.00 (seed-paired "
        "95% CI +2.00 to +2.00), beyond the seed noise; the paper's point ranks 1 of 3 (the search's objective)",
        "winner in the two draws, each seed's runs averaged: a1.00_b1.00_g1.40 87.50, runner-up a1.20_b1.10_g1.15 "
        "84.50: margin +3.00 (seed-paired 95% CI +3.00 to +3.00), beyond the seed noise; the paper's point ranks 2 "
        "of 3 (the search's objective)"]


def test_status_reads_where_a_study_stands(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    config = _config(_argv(tmp_path, "st"))
    points = search.search_points(config, search.candidates(config))
    run = study.Study.open(config.study, "search", points, study.config_dict(config))
    taken = run.optuna.ask()  # a worker took one
    argv = ["status", "st", "--results-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip() == (f"st: 0 of {len(points)} runs done, 1 running, 0 failed, "
                                               f"{len(points) - 1} queued; ETA unknown until a run finishes at the "
                                               "running workers' pace")
    run.fail(taken.number, "interrupted", "its worker stopped")
    study.worker.work(run)
    capsys.readouterr()
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"st: {len(points)} of {len(points)} runs done, 0 running, 0 failed, 0 queued; ") and \
        out.strip().endswith("s a finished run; ETA 0 min at the running workers' pace")
    assert cli.main(["status", "nosuch", "--results-dir", str(tmp_path)]) == 2


def test_a_study_cannot_be_resumed_with_another_definition(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    assert cli.main(_argv(tmp_path, "defn")) == 0
    assert cli.main(_argv(tmp_path, "defn", "--lr", "0.1")) == 2
    err = capsys.readouterr().err
    assert "another definition (differs in study.train.lr)" in err
    study_dir = tmp_path / "defn"
    assert err.strip().endswith(f"or start it over (rm -r {study_dir / 'journal.log'} {study_dir / 'trials'})")


def test_a_lost_worker_trial_is_failed_and_queued_again(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    config = _config(_argv(tmp_path, "lost", "--heartbeat", "0.5", "--grace", "2"))
    points = search.search_points(config, search.candidates(config))
    run = study.Study.open(config.study, "search", points, study.config_dict(config))
    elsewhere, session = ({"host": "elsewhere", "pid": pid, "started": "boot:1"} for pid in (1, 10))
    lost, stopped = run.optuna.ask(), run.optuna.ask()  # take queued trials, as a worker does
    # ... on another machine, whose workers then stop beating: one while its study process lives on
    # (its session heartbeat goes on), one with its study process (a worker of another session there):
    lost.set_user_attr("worker", {**elsewhere, "trial": lost.number, "session": session})
    stopped.set_user_attr("worker", {**elsewhere, "pid": 2, "trial": stopped.number, "session": {**elsewhere,
                                                                                                  "pid": 3}})
    for t in (lost, stopped):
        t.set_user_attr("heartbeat", time.time())
    time.sleep(2.5)
    study.Study(config.study, "search", run.optuna, run.storage, points, session=session).beat()
    assert study.worker.work(run) == collections.Counter(trained=3)
    trials = run.optuna.get_trials()
    assert trials[lost.number].state.name == "FAIL" and trials[lost.number].user_attrs["fail_kind"] == "worker_lost"
    assert trials[stopped.number].user_attrs["fail_kind"] == "interrupted"
    assert trials[stopped.number].user_attrs["fail_reason"].endswith("nor from its study process: an interruption")
    _complete_once(trials, [p.key for p in points])


def test_a_worker_on_this_machine_is_lost_at_once_when_killed_though_not_yet_waited_for(tmp_path):
    config = _config(_argv(tmp_path, "local"))  # the default 120-s grace: no heartbeat goes stale here
    points = search.search_points(config, search.candidates(config))
    run = study.Study.open(config.study, "search", points, study.config_dict(config))
    claimed, alone, reused = run.optuna.ask(), run.optuna.ask(), run.optuna.ask()
    worker = subprocess.Popen(["sleep", "60"])
    try:
        me = {"host": study.HOST, "pid": worker.pid, "started": f"{psutil.Process(worker.pid).create_time():.2f}"}
        # one trial of a worker whose study process (this one) lives on, one whose worker was its own study
        # process, and one whose worker's pid now names another process (this one: it started at another time)
        claimed.set_user_attr("worker", {**me, "trial": claimed.number, "session": study.new_session()})
        alone.set_user_attr("worker", {**me, "trial": alone.number, "session": me})
        reused.set_user_attr("worker", {**study.this_process(), "pid": worker.pid, "started": "0.00",
                                        "trial": reused.number, "session": study.new_session()})
        for t in (claimed, alone, reused):
            t.set_user_attr("heartbeat", time.time())
        run.requeue()
        assert run.trials()[claimed.number].state.name == "RUNNING"  # alive: busy
        assert run.trials()[reused.number].user_attrs["fail_reason"] == (
            f"worker {study.HOST}:{worker.pid} is gone (its pid now names another process)")
        worker.send_signal(signal.SIGKILL)  # as the out-of-memory killer does; its parent has not waited
        while psutil.Process(worker.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        run.requeue()
        lost, interrupted = run.trials()[claimed.number], run.trials()[alone.number]
        zombie = f"worker {study.HOST}:{worker.pid} is gone (it ended; its parent has not waited for it yet)"
        assert lost.state.name == "FAIL" and lost.user_attrs["fail_kind"] == "worker_lost"
        assert lost.user_attrs["fail_reason"] == zombie
        assert interrupted.state.name == "FAIL" and interrupted.user_attrs["fail_kind"] == "interrupted"
        assert interrupted.user_attrs["fail_reason"] == f"{zombie}, and so is its study process: an interruption"
    finally:
        worker.kill()
        worker.wait()


def test_figures_from_a_table_without_training():
    df = pd.DataFrame({"state": ["COMPLETE"] * 4 + ["FAIL"], "candidate": ["a", "a", "b", "c", "d"],
                       "value": [0.8, 0.82, 0.7, 0.75, None], "test_top1": [0.79, 0.8, 0.69, 0.74, None],
                       "wall_time": [1.0] * 4 + [None], "alpha": [1.2, 1.2, 1.0, 1.4, 1.0],
                       "beta": [1.1, 1.1, 1.2, 1.0, 1.0], "gamma": [1.15, 1.15, 1.15, 1.2, 1.4],
                       "phi": [1.0] * 5, "macs": [2e6, 2e6, 2.1e6, 2.2e6, None],
                       "fail_kind": [None] * 4 + ["diverged"]})
    plane = plots.search_space(df).axes[0]
    labels = [c.get_label() for c in plane.collections]
    assert "failed" in labels and "paper (1.2, 1.1, 1.15)" in labels and "best a (seed mean)" in labels
    assert plots.accuracy_vs_macs(df).axes
    stats = results.candidate_stats(df)
    assert list(stats["candidate"]) == ["a", "c", "b"] and stats.loc[0, "seeds"] == 2


def test_ranking_puts_the_best_on_top_and_greys_what_is_beyond_the_seed_noise():
    """Paired by seed, Holm over the best against each other: c is 5 pts below a on both seeds (beyond),
    b 1.5 above and 2.5 below (within); each seed is drawn beside its mean."""
    df = pd.DataFrame({"state": ["COMPLETE"] * 6, "candidate": ["c", "c", "a", "a", "b", "b"],
                       "value": [0.70, 0.7141, 0.75, 0.7641, 0.765, 0.7391], "alpha": [1.4] * 2 + [1.2] * 2 + [1.0] * 2,
                       "beta": [1.0] * 2 + [1.1] * 2 + [1.2] * 2, "gamma": [1.2] * 2 + [1.15] * 2 + [1.15] * 2,
                       "phi": [1.0] * 6, "mac_ratio": [2.2] * 2 + [2.0] * 2 + [2.1] * 2, "seed": [0, 1] * 3,
                       "test_top1": [0.7] * 6, "wall_time": [1.0] * 6})
    ax = plots.ranking(df).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["(1.2, 1.1, 1.15) x2.00", "(1, 1.2, 1.15) x2.10",
                                                            "(1.4, 1, 1.2) x2.20"]
    seeds, means = ax.collections[0:6:2], ax.collections[1:6:2]
    assert [len(c.get_offsets()) for c in seeds] == [2, 2, 2]
    assert [tuple(c.get_offsets()[0]) for c in means] == [pytest.approx((75.705, 0)), pytest.approx((75.205, 1)),
                                                          pytest.approx((70.705, 2))]
    grey = [tuple(c.get_facecolor()[0][:3]) == (0.55, 0.55, 0.55) for c in means]
    assert grey == [False, False, True]


# --------------------------------------------------------------------------------------------
# Real runs: end to end, resume, SIGKILL, two workers on a journal file
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_search_completes_reruns_nothing_and_scales_up(tmp_path, compile_cache, capsys):
    argv = _argv(tmp_path, "e2e", cache=compile_cache)
    _wait([_popen(argv, tmp_path / "1.log")], [tmp_path / "1.log"])
    assert "winner" in (tmp_path / "1.log").read_text()
    df, summary = results.load(tmp_path / "e2e")
    assert len(df) == 3 and (df["state"] == "COMPLETE").all()
    top = df.loc[df["value"].idxmax()]
    assert summary["best"]["candidate"] == top["candidate"] and summary["best"]["score"] == top["value"]
    assert summary["complete"] and summary["dataset"] == "digits" and summary["budget"]["epochs"] == 1
    assert summary["versions"]["optuna"] == optuna.__version__ and summary["hardware"]["platform"] == ["cpu"]
    for column in ("alpha", "beta", "gamma", "seed", "params", "macs", "mac_ratio", "resolution", "wall_time",
                   "images_per_sec", "test_top1", "minival_top1"):
        assert df[column].notna().all(), column
    assert pd.read_csv(tmp_path / "e2e" / "trials.csv")["trial"].tolist() == df["trial"].tolist()
    for name in ("search_space", "ranking", "accuracy_vs_macs"):
        assert (tmp_path / "e2e" / f"{name}.png").stat().st_size > 0
    before = [(t.number, t.state, t.value, t.datetime_complete) for t in _trials(_config(argv))]

    assert cli.main(argv) == 0  # the same command again, in this process
    assert "trained 0 run(s)" in capsys.readouterr().out
    assert [(t.number, t.state, t.value, t.datetime_complete) for t in _trials(_config(argv))] == before

    scale = ["scale-up", "--from-study", "e2e", "--phi", "0,1", "--train", "--results-dir", str(tmp_path),
             *BUDGET, "--compilation-cache", compile_cache]
    _wait([_popen(scale, tmp_path / "3.log")], [tmp_path / "3.log"])
    log = (tmp_path / "3.log").read_text()
    assert "published" in log and "phi 0:" in log and "phi 1:" in log
    best = summary["best"]
    up_dir = tmp_path / f"e2e-scaleup-a{best['alpha']:.2f}_b{best['beta']:.2f}_g{best['gamma']:.2f}"
    up, up_summary = results.load(up_dir)
    assert sorted(up["phi"]) == [0.0, 1.0] and (up["state"] == "COMPLETE").all()
    phi1 = up[up["phi"] == 1.0].iloc[0]
    assert phi1["macs"] == top["macs"]  # phi = 1 is the winning candidate's network
    assert (up_dir / "accuracy_vs_macs.png").exists()


@pytest.mark.slow
def test_sigkilled_worker_then_rerun_completes_each_point_once(tmp_path, compile_cache):
    argv = _argv(tmp_path, "kill", cache=compile_cache)
    argv[argv.index("1,1.1,1.2")] = "1,1.2"  # two candidates
    points = _points(argv)
    assert len(points) == 2
    second = tmp_path / "kill" / "trials" / points[1]
    proc = _popen(argv, tmp_path / "1.log")
    deadline = time.time() + TIMEOUT
    while not (second / "config.json").exists():  # the first point is finished, the second started
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "1.log").read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (second / "result.json").exists()
    config = _config(argv)
    finished = [(t.number, t.value, t.datetime_complete, t.user_attrs) for t in _trials(config)
                if t.state.name == "COMPLETE"]
    assert len(finished) == 1
    epochs_before = (second / "metrics.jsonl").read_text() if (second / "metrics.jsonl").exists() else ""

    _wait([_popen(argv, tmp_path / "2.log")], [tmp_path / "2.log"])
    trials = _trials(config)
    _complete_once(trials, points)
    assert [(t.number, t.value, t.datetime_complete, t.user_attrs) for t in trials
            if t.number == finished[0][0]] == finished
    lost = [t for t in trials if t.state.name == "FAIL"]
    assert [t.user_attrs["fail_kind"] for t in lost] == ["interrupted"]  # the worker was the study process
    assert (second / "metrics.jsonl").read_text().startswith(epochs_before)  # no finished epoch lost


@pytest.mark.slow
def test_a_torn_journal_is_set_aside_and_loses_no_finished_trial(tmp_path, compile_cache):
    """A write cut short (full disk, kill) leaves half a line at the journal's end: the rerun keeps every
    complete record, keeps the original beside it, says so in one line, and finishes the study."""
    argv = _argv(tmp_path, "torn", cache=compile_cache)
    argv[argv.index("1,1.1,1.2")], argv[argv.index("1.15,1.4")] = "1", "1.4"  # one candidate: (1, 1, 1.4)
    _wait([_popen(argv, tmp_path / "1.log")], [tmp_path / "1.log"])
    before = results.load(tmp_path / "torn")[0]
    journal = tmp_path / "torn" / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last record, torn
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torn = [line for line in proc.stderr.splitlines() if "torn" in line]
    assert len(torn) == 1 and "set aside a torn last record" in torn[0], proc.stderr
    assert len(list(journal.parent.glob("journal.log.torn-*"))) == 1
    after = results.load(tmp_path / "torn")[0]
    done = after[after["state"] == "COMPLETE"]
    assert list(done["point"]) == list(before["point"]) and list(done["value"]) == list(before["value"])


def test_a_damaged_journal_line_before_the_end_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train, "train_and_evaluate", _fake_train())
    argv = _argv(tmp_path, "damaged")
    assert cli.main(argv) == 0
    journal = tmp_path / "damaged" / "journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"op_code": 5, "trial_id\n'
    journal.write_bytes(b"".join(lines))
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "line 4 of" in err and "not a journal record" in err, err


def test_the_package_uses_no_private_optuna_or_tfds_name():
    source = "\n".join(p.read_text() for p in (ROOT / "scaling").rglob("*.py"))
    for private in ("_pop_waiting_trial_id", "_split_examples", "set_trial_system_attr", "._storage", "._study_id",
                    "mock_data"):
        assert private not in source, private


@pytest.mark.slow
def test_two_workers_on_one_journal_file(tmp_path, compile_cache):
    argv = _argv(tmp_path, "journal", cache=compile_cache)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_popen(argv, logs[0]), _popen([*argv, "--workers", "2"], logs[1])]
    _wait(procs, logs)
    _complete_once(_trials(_config(argv)), _points(argv))
    df, summary = results.load(tmp_path / "journal")
    assert summary["complete"] and len(df) == 3
    # each command counts the runs of all its own processes: together, every run once
    counts = [int(re.search(r"trained (\d+) run\(s\) here", log.read_text()).group(1)) for log in logs]
    assert sum(counts) == 3, counts


# --------------------------------------------------------------------------------------------
# PostgreSQL: a throwaway server on loopback (or $PG_TEST_URL)
# --------------------------------------------------------------------------------------------
def _pg_bin() -> pathlib.Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return pathlib.Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return pathlib.Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_url():
    """A PostgreSQL URL with a password: $PG_TEST_URL, or a fresh cluster torn down afterwards."""
    if os.environ.get("PG_TEST_URL"):
        yield os.environ["PG_TEST_URL"]
        return
    bindir = _pg_bin()
    if bindir is None:
        message = "PostgreSQL is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = pathlib.Path(tempfile.mkdtemp(prefix="scaling-pg-"))
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    password, port = "pw" + secrets.token_hex(8), _free_port()
    (root / "pw").write_text(password)
    if as_user:
        shutil.chown(root / "pw", "postgres", "postgres")
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, cwd=root)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(root / "data"), "-U", "scaling", f"--pwfile={root / 'pw'}",
        "--auth=scram-sha-256", "-E", "UTF8")
    run(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-t", "60",
        "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root}", "start")
    try:
        yield f"postgresql://scaling:{password}@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_on_postgresql_and_the_password_never_leaks(tmp_path, compile_cache, pg_url):
    name = f"pg{secrets.token_hex(4)}"
    argv = [*_argv(tmp_path, name, cache=compile_cache), "--storage", pg_url]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    _wait([_popen(argv, logs[0]), _popen(argv, logs[1])], logs)
    config = _config(argv)
    _complete_once(_trials(config), _points(argv))
    summary = json.loads((tmp_path / name / "summary.json").read_text())
    assert summary["complete"] and summary["storage"] == study.mask_url(pg_url) and "***" in summary["storage"]
    password = sqlalchemy.engine.make_url(pg_url).password.encode()
    files = [p for p in (tmp_path / name).rglob("*") if p.is_file()] + logs
    assert len(files) > 5
    leaks = [str(p) for p in files if password in p.read_bytes()]
    assert not leaks


def test_an_installed_wheel_runs_its_packaged_experiments_from_any_directory(tmp_path):
    """What `pip install git+...` does: a wheel (not this checkout) runs `search` and `sweep` from an empty dir."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheel"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "wheel").glob("scaling-*.whl")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import scaling; print(scaling.__file__)"], cwd=empty, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(site))
    for argv in (["search", "--dry-run"], ["sweep", "width", "--dry-run"]):
        proc = subprocess.run([sys.executable, "-m", "scaling.cli", *argv], cwd=empty, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "distinct networks" in proc.stdout or "networks," in proc.stdout
    assert list(empty.iterdir()) == []  # a dry run creates nothing


def _docstring_commands(path: pathlib.Path) -> list[list[str]]:
    """The ``scaling ...`` command lines of an experiment file's docstring (backslash continuations joined)."""
    import ast
    import shlex

    text = ast.get_docstring(ast.parse(path.read_text())).replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("    scaling ")]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for folder in ("cifar10", "imagenette")
                                        for p in (ROOT / "experiments" / folder).glob("*.py")))
def test_every_command_an_experiment_docstring_gives_is_valid(path, monkeypatch, capsys):
    """Each study command in the docstring (CPU and GPU forms) dry-runs: right flags, right values.
    One that takes another study's results may only fail because that study is not there yet."""
    monkeypatch.chdir(ROOT)
    commands = [c for c in _docstring_commands(ROOT / path) if c[0] in ("search", "sweep", "calibrate")]
    assert commands, path
    for argv in commands:
        code = cli.main([*argv, *([] if "--dry-run" in argv else ["--dry-run"])])
        err = capsys.readouterr().err
        waiting = "--from-study" in argv or "from_study=" in (ROOT / path).read_text()
        assert code == 0 or (code == 2 and waiting and "no study 'cifar10_search" in err), (argv, err)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "experiments").rglob("*.py")))
def test_every_research_experiment_file_loads(path):
    kinds = (search.SearchConfig, sweeps.SweepConfig, calibration.CalibrationConfig)
    cfg = config.load_experiment(str(ROOT / path), kinds)
    assert cfg.study.name and cfg.study.train.network.spec()


# --------------------------------------------------------------------------------------------
# Candidates at equal cost
# --------------------------------------------------------------------------------------------
def test_cost_matching_puts_every_cifar10_candidate_within_3_percent_of_twice_the_baseline():
    plain = search.load_config(str(ROOT / "experiments/cifar10/search.py"))
    matched = search.load_config(str(ROOT / "experiments/cifar10/search_matched.py"))
    base = cost.count(plain.study.train.network.spec(), 10).macs
    ratios = [cost.count(c.spec, 10).macs / base for c in search.candidates(plain)]
    assert min(ratios) < 1.5 and max(ratios) > 2.1  # rounding alone: 1.41-2.11x
    cands = search.candidates(matched, 10)
    assert all(abs(cost.count(c.spec, 10).macs / base / 2 - 1) <= 0.03 for c in cands)
    assert all(c.matched[2] for c in cands) and len({c.spec.architecture for c in cands}) == len(cands)
    by_key = {c.key: c for c in cands}
    assert by_key["a1.00_b1.40_g1.00"].matched[:2] == (1.4, 33 / 32)  # resolution alone was enough
    assert by_key["a1.20_b1.30_g1.00"].matched[0] < 1.3  # no resolution from 32 px up lands in the band
    assert sum(len(c.merged) for c in cands) == 15  # every grid point is in some candidate
    points = search.search_points(matched, cands)
    assert points[0].attrs["cost_matched"] is True and "matched_resolution_scale" in points[0].attrs


def test_a_bad_match_macs_is_one_line_exit_2(capsys):
    assert cli.main(["search", "--match-macs", "-0.1", "--dry-run"]) == 2
    assert "match_macs must be >= 0" in capsys.readouterr().err


def test_a_study_written_before_a_field_existed_keeps_its_definition():
    """budgets and match_macs at their 'off' value leave the definition as before they existed."""
    cfg = search.load_config()
    mine = study.definition("search", study.config_dict(cfg), [])
    old = study.config_dict(cfg)
    del old["match_macs"], old["study"]["budgets"]
    assert study.definition("search", old, []) == mine
    assert study.definition("search", study.config_dict(config.override(cfg, match_macs=0.03)), []) != mine


def test_the_winner_line_gives_the_cost_adjusted_ranking():
    stats = pd.DataFrame({"candidate": ["a", "b", "c", "d"], "score": [0.56, 0.55, 0.52, 0.50],
                          "macs": [4e6, 2e6, 2e6, 1e6], "mac_ratio": [4.0, 2.0, 2.0, 1.0], "seeds": 2,
                          "score_std": 0.01})
    adjusted = results.cost_adjusted(stats)
    assert [r["candidate"] for r in adjusted["ranking"]][0] == "b"  # best for its cost, second raw
    assert adjusted["ranking"][0]["raw_rank"] == 2


def test_help_states_how_flags_override_an_experiment(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--name my_study (the study's)" in out and "start:stop:step" in out
    assert "--resolution-scale 1.15" in out and "never abbreviated" in out and "--print-config" in out
