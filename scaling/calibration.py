"""Recipe calibration: does the recipe's learning rate suit every network a sweep will train?

A calibration study trains a few networks (the baseline and the largest of the sweeps, as (d, w, r)
multipliers of the study's baseline) at the recipe's learning rate times each of ``lr_factors``,
``study.seeds`` seeds each, on the one study runner (:mod:`scaling.study`). Its verdict, per network:
the factor with the best mean test top-1, and whether the recipe's own (factor 1) is within
``tolerance`` points of it. A recipe whose factor 1 is near-best for every network cannot make a
bigger network look worse merely by its step size.
"""

from __future__ import annotations

from scaling import config, recipes, study
from scaling.schema import CalibrationConfig
from scaling.study import Point, StudyError


class CalibrationError(StudyError):
    """A calibration that cannot start (bad network list or factors); one line, exit 2."""


def load_config(name_or_path: str) -> CalibrationConfig:
    return config.load_experiment(name_or_path, CalibrationConfig)


def networks(cfg: CalibrationConfig) -> list[tuple[float, float, float]]:
    out = list(cfg.networks)
    if not out or any(len(n) != 3 or min(n) <= 0 for n in out):
        raise CalibrationError(f"networks must be positive d/w/r triples like 1/1/1,2/1/1, got {cfg.networks!r}")
    return out


def points(cfg: CalibrationConfig) -> list[Point]:
    """One point per (network, learning-rate factor, seed); the factor scales the resolved recipe's lr."""
    factors = cfg.lr_factors
    if not factors or min(factors) <= 0:
        raise CalibrationError(f"lr_factors must be positive, got {cfg.lr_factors!r}")
    lr = recipes.resolve(cfg.study.train).lr
    baseline = cfg.study.train.network
    return [Point(f"d{d:g}_w{w:g}_r{r:g}_lr{f:g}", seed, baseline.scaled(d, w, r),
                  {"d": d, "w": w, "r": r, "lr_factor": f}, changes={"lr": lr * f})
            for d, w, r in networks(cfg) for f in factors for seed in range(cfg.study.seeds)]


def calibrate(cfg: CalibrationConfig, workers: int = 1) -> dict:
    """Train every point (a resumable study), write its tables and verdict; returns the summary (the
    command draws the figure)."""
    pts = points(cfg)
    study.validate(cfg.study, pts)
    return study.run(cfg.study, "calibration", pts, study.config_dict(cfg), workers)
