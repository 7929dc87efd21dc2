"""Every study committed under results/ is exactly what an experiment file defines, on today's code.

A committed table is only reproducible by the command beside it if the experiment file still names
the same points, seeds and budget, and the recipe (code, not config) still has the knobs the runs
trained with. Reruns (``results/rerun-*/``) are checked the same way, with the seeds they ran
(``--seeds`` may add some). Superseded studies (``results/superseded/``) are a record and are not checked.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from conftest import ROOT

from scaling import calibration, config, recipes, results, search, study, sweeps

STUDIES = sorted(p.parent for p in (ROOT / "results").glob("*/summary.json"))
RERUNS = sorted(p.parent for p in (ROOT / "results").glob("rerun-*/*/summary.json"))
CHECKED = STUDIES + RERUNS
KINDS = (search.SearchConfig, sweeps.SweepConfig, calibration.CalibrationConfig)


def _experiment_files() -> dict:
    out = {}
    for path in sorted([*(ROOT / "experiments").rglob("*.py"), *(ROOT / "scaling" / "configs").glob("[!_]*.py")]):
        cfg = config.load_experiment(str(path), KINDS)
        assert cfg.study.name not in out, f"two experiment files define study {cfg.study.name!r}"
        out[cfg.study.name] = cfg
    return out


def _points(cfg) -> list[study.Point]:
    if isinstance(cfg, search.SearchConfig):
        return search.search_points(cfg, search.candidates(cfg))
    if isinstance(cfg, sweeps.SweepConfig):
        return sweeps.points(cfg, 10)
    return calibration.points(cfg)


def test_results_hold_committed_studies():
    assert {p.name for p in STUDIES} >= {"cifar10_calibration", "search_digits"}


def test_every_rerun_is_a_committed_study():
    assert RERUNS and {p.name for p in RERUNS} <= {p.name for p in STUDIES}


@pytest.mark.parametrize("study_dir", CHECKED, ids=[str(p.relative_to(ROOT / "results")) for p in CHECKED])
def test_a_committed_study_is_what_its_experiment_file_defines(study_dir):
    summary = json.loads((study_dir / "summary.json").read_text())
    cfg = _experiment_files().get(summary["study"])
    assert cfg is not None, f"no experiment file defines study {summary['study']!r}"
    if study_dir in RERUNS:
        cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, seeds=summary["seeds"]))
    if isinstance(cfg, sweeps.SweepConfig):
        cfg = sweeps.resolve(cfg)  # the coefficients of a from_study sweep, as the study stored them
    pts = _points(cfg)
    # what the runs compute: execution fields (storage, reuse, quiet, ...) may differ between reruns
    assert study.definition(summary["kind"], summary["config"], pts) == \
        study.definition(summary["kind"], study.config_dict(cfg), pts)
    assert summary["recipe"] == recipes.knobs(cfg.study.train)  # the recipe's code did not move on
    table = pd.read_csv(study_dir / "trials.csv")
    done = table[table["state"] == "COMPLETE"]
    assert sorted(zip(done["candidate"], done["seed"], strict=True)) == sorted((p.name, p.seed) for p in pts)
    assert summary["complete"] and summary["runs"] == len(pts)
    # a run whose worker was lost or interrupted (a sitting that ended) was redone from its checkpoint
    # and finished (every point is COMPLETE above); no run diverged or ran out of memory
    assert not [f for f in summary["failures"] if f["kind"] in results.TERMINAL], summary["failures"]
    assert cfg.study.train.limit_test is None and (done["num_classes"] == 10).all()  # the whole test split


def test_fig4_lines_at_equal_macs_are_compared_paired_by_seed(capsys):
    """The report's Fig. 4 numbers: each line minus (1, 1) at 7.95 MMACs, each seed's own lines, Holm over 3;
    the rerun repeated every run to the digit, so pooling it changes nothing."""
    from scaling import cli

    lines = ("d=1, r=1.3", "d=2, r=1", "d=2, r=1.3")
    argv = ["compare", "cifar10_width_baselines", *(n for line in lines for n in ("d=1, r=1", line)),
            "--at-macs", "7953056", "--results-dir", str(ROOT / "results")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "  d=1, r=1.3 - d=1, r=1: +0.55 (+0.01 to +1.08; 3 seeds; p 0.0481, Holm 0.144): within the seed noise",
        "  d=2, r=1 - d=1, r=1: -1.01 (-2.68 to +0.66; 3 seeds; p 0.122, Holm 0.244): within the seed noise",
        "  d=2, r=1.3 - d=1, r=1: -0.30 (-1.32 to +0.72; 3 seeds; p 0.333, Holm 0.333): within the seed noise"]
    assert cli.main([*argv, "--rerun", str(ROOT / "results" / "rerun-2026-12-04")]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == out[1:]
