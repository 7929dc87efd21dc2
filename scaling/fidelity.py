"""Does a proxy's answer hold at a bigger budget? The analysis of a study trained at several budgets.

A study with ``budgets`` (:mod:`scaling.budgets`) holds every network at every budget, seed by seed.
Seeds are blocks at every budget (a seed fixes the data subset and order for every network), so every
comparison here pairs by seed:

- :func:`ladder_table`: each network's mean test and train top-1 per budget, the seeds and their interval;
- :func:`gains`: each network's gain from one budget to the next (paired by seed);
- :func:`interactions`: budget x network, (network - baseline) at the larger budget minus the same at the
  smaller one, per seed, Holm-adjusted across the study's family;
- :func:`rank_agreement`: Kendall's tau between two budgets' orderings of the seed means, a bootstrap
  interval over seeds, and the single-seed taus: the same seed at both budgets beside two seeds at one
  budget (the ceiling that seed noise sets on any ordering).

pandas, numpy and scipy only (no plotting, no training).
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from scaling import stats
from scaling.config import ConfigError

METRICS = ("test_top1", "train_top1")


class FidelityError(ConfigError):
    """A study that a fidelity report cannot read (one budget, no runs); one line, exit 2."""


def runs(df: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of a budget study: network, budget, seed, steps and the metrics."""
    if "budget" not in df or "network" not in df:
        raise FidelityError("the study has no budgets: train it with --budgets (e.g. 1,2,4) first")
    done = df[df["state"] == "COMPLETE"]
    if done["budget"].nunique() < 2:
        raise FidelityError(f"a fidelity report needs 2 or more budgets with finished runs, "
                            f"got {done['budget'].nunique()}")
    return done


def budgets(done: pd.DataFrame) -> list[str]:
    """The study's budget labels, cheapest first (by the runs' mean training steps)."""
    return list(done.groupby("budget")["steps"].mean().sort_values(kind="stable").index)


def networks(done: pd.DataFrame) -> list[str]:
    """The networks in the order of their first run."""
    return list(dict.fromkeys(done.sort_values("trial")["network"]))


def labels(done: pd.DataFrame) -> dict[str, str]:
    """network -> a reader's name from its figure points (``compound phi=2``; ``baseline`` for a shared one)."""
    out = {}
    for net, rows in done.groupby("network", sort=False):
        text = rows["members"].iloc[0] if "members" in rows else None
        members = json.loads(text) if isinstance(text, str) else []
        out[net] = ("baseline" if len(members) > 1 else f"{members[0]['line']} {members[0]['label']}") if members \
            else net
    return out


def by_seed(done: pd.DataFrame, metric: str) -> dict[tuple[str, str], dict[int, float]]:
    """(network, budget) -> {seed: metric}."""
    return {(n, b): dict(zip(g["seed"].astype(int), g[metric].astype(float), strict=True))
            for (n, b), g in done.groupby(["network", "budget"], sort=False)}


def ladder_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (network, budget): label, steps, macs, seeds, and for each metric its seed mean,
    95% t interval half-width and the per-seed values (seed order); networks in run order, budgets cheapest first."""
    done = runs(df)
    names, order = labels(done), budgets(done)
    rows = []
    for net in networks(done):
        for budget in order:
            g = done[(done["network"] == net) & (done["budget"] == budget)].sort_values("seed")
            if g.empty:
                continue
            row = {"network": net, "label": names[net], "budget": budget, "steps": int(g["steps"].iloc[0]),
                   "macs": int(g["macs"].iloc[0]), "seeds": len(g)}
            for m in METRICS:
                iv = stats.interval(g[m])
                row |= {m: iv.mean, f"{m}_ci": iv.half_width, f"{m}_seeds": tuple(float(v) for v in g[m])}
            rows.append(row)
    return pd.DataFrame(rows)


def gains(df: pd.DataFrame, metric: str = "test_top1") -> pd.DataFrame:
    """Each network's gain from each budget to the next, paired by seed, in points of ``metric``."""
    done = runs(df)
    values, order = by_seed(done, metric), budgets(done)
    rows = []
    for net in networks(done):
        for lo, hi in itertools.pairwise(order):
            c = stats.paired(values.get((net, lo), {}), values.get((net, hi), {}))
            rows.append(_row(c, network=net, low_budget=lo, high_budget=hi))
    return pd.DataFrame(rows)


def interactions(df: pd.DataFrame, baseline: str | None = None, metric: str = "test_top1") -> pd.DataFrame:
    """Budget x network: for each other network and each pair of budgets, per seed,
    (network - baseline) at the larger budget minus (network - baseline) at the smaller, in points;
    ``p_holm`` adjusts across every row (the study's family). ``baseline``: default the first network."""
    done = runs(df)
    values, order, nets = by_seed(done, metric), budgets(done), networks(done)
    baseline = baseline or nets[0]
    if baseline not in nets:
        raise FidelityError(f"no network {baseline!r} in the study; choose from {', '.join(nets)}")
    rows = []
    for net in (n for n in nets if n != baseline):
        for lo, hi in itertools.combinations(order, 2):
            gap = {b: _difference(values.get((baseline, b), {}), values.get((net, b), {})) for b in (lo, hi)}
            c = stats.paired(gap[lo], gap[hi])
            rows.append(_row(c, network=net, baseline=baseline, low_budget=lo, high_budget=hi,
                             gap_low=100 * _mean(gap[lo]), gap_high=100 * _mean(gap[hi])))
    table = pd.DataFrame(rows)
    table["p_holm"] = stats.holm(table["p"]) if len(table) else []
    return table


def rank_agreement(df: pd.DataFrame, metric: str = "test_top1", resamples: int = 2000, seed: int = 0
                   ) -> pd.DataFrame:
    """For each pair of budgets: Kendall's tau between their orderings of the networks' seed means with a
    95% bootstrap interval (seeds resampled with replacement, the same draw at both budgets: seeds are
    blocks), ``same_seed`` the mean tau between one seed's two orderings, and ``seed_to_seed`` the mean tau
    between two seeds' orderings at one budget (the two budgets averaged): the ceiling that seed noise sets
    on single-seed orderings. Only networks and seeds finished at both budgets count."""
    done = runs(df)
    values, order = by_seed(done, metric), budgets(done)
    rng = np.random.default_rng(seed)
    rows = []
    for lo, hi in itertools.combinations(order, 2):
        nets = [n for n in networks(done) if (n, lo) in values and (n, hi) in values]
        seeds = sorted(set.intersection(*(set(values[(n, b)]) for n in nets for b in (lo, hi)))) if nets else []
        if len(nets) < 3 or not seeds:
            continue
        grid = {b: np.array([[values[(n, b)][s] for s in seeds] for n in nets]) for b in (lo, hi)}  # nets x seeds
        tau = _tau(grid[lo].mean(1), grid[hi].mean(1))
        draws = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
        boot = np.array([_tau(grid[lo][:, d].mean(1), grid[hi][:, d].mean(1)) for d in draws])
        low, high = np.nanpercentile(boot, [2.5, 97.5]) if len(seeds) > 1 else (math.nan, math.nan)
        same = [_tau(grid[lo][:, i], grid[hi][:, i]) for i in range(len(seeds))]
        ceiling = [_tau(grid[b][:, i], grid[b][:, j]) for b in (lo, hi) for i, j in itertools.combinations(
            range(len(seeds)), 2)]
        rows.append({"low_budget": lo, "high_budget": hi, "networks": len(nets), "seeds": len(seeds), "tau": tau,
                     "tau_low": float(low), "tau_high": float(high), "same_seed": _nanmean(same),
                     "seed_to_seed": _nanmean(ceiling)})
    return pd.DataFrame(rows)


def _tau(a, b) -> float:
    return float(kendalltau(a, b).statistic)


def _nanmean(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def _difference(a: dict, b: dict) -> dict:
    """seed -> b - a, for the seeds in both."""
    return {s: b[s] - a[s] for s in a if s in b}


def _mean(values: dict) -> float:
    return float(np.mean(list(values.values()))) if values else math.nan


def _row(c: stats.Comparison, **keys) -> dict:
    return {**keys, "seeds": c.n_a, "difference": 100 * c.difference, "low": 100 * c.low, "high": 100 * c.high,
            "p": c.p_value}


def describe(df: pd.DataFrame, baseline: str | None = None, metric: str = "test_top1") -> str:
    """The fidelity report as text: the ladder, the gains, the interactions (Holm) and the rank agreement."""
    table, done = ladder_table(df), runs(df)
    names = labels(done)
    out = [f"{metric} and train top-1 (%) per budget: seed mean ± 95% CI half-width [seeds]"]
    for r in table.itertuples():
        cells = "  ".join(f"{m.removesuffix('_top1')} {100 * getattr(r, m):.2f} ± {_pts(getattr(r, m + '_ci'))}"
                          for m in (metric, "train_top1") if m in table)
        out.append(f"  {r.label:<24} {r.budget:<7} {r.steps:>5} steps  {cells}  [{r.seeds}]")
    out.append(f"gain to the next budget, paired by seed (pts of {metric}, 95% CI):")
    for r in gains(df, metric).itertuples():
        out.append(f"  {names[r.network]:<24} {r.low_budget} -> {r.high_budget}: {_interval(r)}")
    inter = interactions(df, baseline, metric)
    base = names[inter["baseline"].iloc[0]] if len(inter) else "?"
    out.append(f"budget x network: (network - {base}) at the larger budget minus at the smaller, per seed "
               f"(pts; Holm over {inter['p'].notna().sum()} tests):")
    for r in inter.itertuples():
        out.append(f"  {names[r.network]:<24} {r.low_budget} -> {r.high_budget}: gap {r.gap_low:+.2f} -> "
                   f"{r.gap_high:+.2f}, change {_interval(r)}, Holm p {_p(r.p_holm)}")
    out.append("rank agreement (Kendall's tau of the seed means; bootstrap over seeds):")
    for r in rank_agreement(df, metric).itertuples():
        ci = "no interval with 1 seed" if math.isnan(r.tau_low) else f"95% CI {r.tau_low:+.2f} to {r.tau_high:+.2f}"
        out.append(f"  {r.low_budget} vs {r.high_budget}: tau {r.tau:+.2f} ({ci}; {r.networks} networks, {r.seeds} "
                   f"seeds); one seed's two orderings {r.same_seed:+.2f}, two seeds at one budget "
                   f"{r.seed_to_seed:+.2f} (the noise ceiling)")
    return "\n".join(out)


def _pts(value: float) -> str:
    return "?" if math.isnan(value) else f"{100 * value:.2f}"


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3g}"


def _interval(r) -> str:
    if math.isnan(r.low):
        return f"{r.difference:+.2f} ({r.seeds} seed(s): no interval)"
    return f"{r.difference:+.2f} ({r.low:+.2f} to {r.high:+.2f}; {r.seeds} seeds, p {_p(r.p)})"
