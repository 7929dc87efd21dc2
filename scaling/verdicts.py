"""What ``scaling compare`` says: a study's comparisons as sentences a reader can quote.

Each function returns the lines to print (a notebook prints the same with ``print("\n".join(...))``);
the numbers come from :mod:`scaling.results` and :mod:`scaling.stats`. Differences are in points of
the metric, with 95% intervals; pairs are seed-paired, families Holm-adjusted.
"""

from __future__ import annotations

import math

import pandas as pd

from scaling import results
from scaling.config import ConfigError
from scaling.stats import not_testable

#: A comparison's verdict (``exceeds_noise``: its 95% CI excludes 0; None: too few seeds).
NOISE = {None: "noise unknown", True: "beyond the seed noise", False: "within the seed noise"}


def pair(df: pd.DataFrame, a: str, b: str, metric: str, *, at_macs: float | None = None,
         margin: float | None = None, pooled: str = "") -> list[str]:
    """``b - a``: Welch's interval over seeds (or, ``at_macs``, two lines of a sweep fitted in log MACs on
    every run, runs counted as independent), then the seed-paired one (each seed's own lines), then what
    the paired interval says about ``margin`` points."""
    if at_macs is None:
        c, what, counted = results.compare(df, a, b, metric), "", "seeds"
    else:
        c = results.compare_lines(df, a, b, at_macs, metric)
        what, counted = f" at {at_macs / 1e6:.4g} MMACs (lines fitted in log MACs on every run)", "runs"
    if c.exceeds_noise is None:
        out = [f"{b} - {a}{what}: {100 * c.difference:+.2f} pts of {metric} ({c.n_b} and {c.n_a} "
               f"{counted}{pooled}): noise unknown, each needs {2 if at_macs is None else 3} or more {counted} "
               "for an interval"]
    else:
        out = [f"{b} - {a}{what}: {100 * c.difference:+.2f} pts of {metric} (95% CI {100 * c.low:+.2f} "
               f"to {100 * c.high:+.2f}; {c.n_b} and {c.n_a} {counted}{pooled}; Welch p = {c.p_value:.3g}): "
               f"{NOISE[c.exceeds_noise]}"]
    p = results.compare_paired(df, a, b, metric) if at_macs is None else \
        results.compare_lines_paired(df, a, b, at_macs, metric)
    by = "paired by seed" if at_macs is None else "paired by seed (each seed's own line of each)"
    out.append(f"{by}: {100 * p.difference:+.2f} pts ({p.n_a} shared seeds): needs 2 or more shared seeds"
               if p.exceeds_noise is None else
               f"{by}: {100 * p.difference:+.2f} pts (95% CI {100 * p.low:+.2f} to {100 * p.high:+.2f}; "
               f"{p.n_a} shared seeds; paired t p = {p.p_value:.3g}): {NOISE[p.exceeds_noise]}")
    if margin is not None:
        out.append(_margin(results.family(df, [(a, b)], metric, margin, at_macs).iloc[0].to_dict()))
    return out


def family(df: pd.DataFrame, pairs: list[tuple[str, str]], metric: str, margin: float | None = None,
           pooled: str = "", at_macs: float | None = None) -> list[str]:
    """Each pair's seed-paired difference (candidates, or sweep lines at ``at_macs`` MACs), Holm-adjusted
    over the family, and its ``margin`` verdict."""
    table = results.family(df, pairs, metric, margin, at_macs)
    what = "" if at_macs is None else f" at {at_macs / 1e6:.4g} MMACs (each seed's own line of each, in log MACs)"
    out = [f"{len(pairs)} seed-paired comparisons of {metric}{what} (pts, 95% CI; Holm over the {len(pairs)}"
           f"{pooled}):"]
    for r in table.to_dict("records"):
        holm = "beyond the seed noise" if r["p_holm"] < 0.05 else "within the seed noise"
        ci = "no interval" if math.isnan(r["low"]) else f"{r['low']:+.2f} to {r['high']:+.2f}"
        out.append(f"  {r['b']} - {r['a']}: {r['difference']:+.2f} ({ci}; {r['seeds']} seeds; p {r['p']:.3g}, "
                   f"Holm {r['p_holm']:.3g}): {holm if not math.isnan(r['p_holm']) else 'noise unknown'}")
        if margin is not None:
            out.append(_margin(r, indent="    "))
    return out


def _margin(r: dict, indent: str = "") -> str:
    """What one comparison's interval (a ``results.family`` row) says about its margin, and the power to find it."""
    bound, power, seeds, needed = r["bound"], r["power"], r["seeds"], r["seeds_needed"]
    line = f"{indent}margin {r['margin']:g} pts: the interval {'lies ' if bound.startswith('within') else ''}{bound}"
    if not math.isnan(power):
        found = r["p_holm"] < 0.05  # a difference found needs no power to be believed
        missed = None if found else not_testable(power, seeds)
        line += (f"; power to find {r['margin']:g} pts {power:.2f}" +
                 (f": a miss is {missed}" if missed else f" with {seeds} seeds") +
                 (f"; 80% needs {needed:.0f} seeds" if not math.isnan(needed) else "; 80% needs more than 100 seeds"))
    return line


def lines(df: pd.DataFrame, metric: str, pooled: str = "") -> list[str]:
    """Each line of a sweep: its slope per doubling of MACs, three ways."""
    out = [f"pts of {metric} per doubling of MACs, 95% CI{pooled}: fitted on every run / on the point means "
           "(departure from a line counted) / each seed's own line (interval over seeds)"]
    for r in results.line_fits(df, metric).itertuples():
        ways = " / ".join("n/a" if math.isnan(getattr(r, w)) else f"{getattr(r, w):+.2f} "
                          f"({_signed(getattr(r, w + '_low'))} to {_signed(getattr(r, w + '_high'))})"
                          for w in ("runs", "means", "paired"))
        out.append(f"  {r.line} ({r.points} points, {r.seeds} seeds): {ways}")
    return out


def _signed(value: float) -> str:
    return "?" if math.isnan(value) else f"{value:+.2f}"


def rerun(df: pd.DataFrame, theirs: pd.DataFrame, metric: str, kind: str, study: str) -> list[str]:
    """A study against its rerun: each candidate's two means, how many repeat to the digit, and (a search)
    each draw's winner or (a sweep) each line's slope in both."""
    table = results.compare_reruns(df, theirs, metric)
    if table.empty:
        raise ConfigError(f"{study!r} and its rerun share no completed candidate")
    out = []
    for r in table.itertuples():
        same = "the same digits" + ("" if r.shared_seeds == max(r.seeds, r.rerun_seeds) else
                                    f" on the {r.shared_seeds} seeds run in both")
        verdict = same if r.same_digits else NOISE[r.exceeds_noise]
        out.append(f"{r.candidate}: {100 * r.mean:.2f} -> {100 * r.rerun_mean:.2f} ({r.seeds} and {r.rerun_seeds} "
                   f"seeds), {100 * r.difference:+.2f} pts of {metric} (95% CI {100 * r.low:+.2f} to "
                   f"{100 * r.high:+.2f}): {verdict}")
    corr, pairs = results.seed_correlation(df, theirs, metric)
    out.append(f"{int(table['same_digits'].sum())} of {len(table)} candidates to the digit, "
               f"{int(table['exceeds_noise'].eq(True).sum())} beyond the seed noise; a seed's two runs correlate "
               f"r = {corr:.2f} ({pairs} pairs, deviations from their candidate's mean)")
    if kind == "search":
        out += _search_rerun(df, theirs)
    if kind.startswith("sweep:"):
        fits = [results.line_slopes(d, metric) for d in (df, theirs, results.pool(df, theirs))]
        for line, (slope, _, _) in fits[0].items():
            if line in fits[1] and not math.isnan(slope):  # a line of 2 MACs values (Table 3's) has no slope
                a, b, both = (f"{s:+.2f} ({lo:+.2f} to {hi:+.2f})" for s, lo, hi in (f[line] for f in fits))
                out.append(f"line {line}: {a} -> {b} pts of {metric} per doubling of MACs (95% CI); both, each "
                           f"seed's runs averaged: {both}")
    return out


def _search_rerun(df: pd.DataFrame, theirs: pd.DataFrame) -> list[str]:
    """Each draw's winner and runner-up on the search's objective, and both draws' pooled by seed."""
    draws = {"study": df, "rerun": theirs, "two draws, each seed's runs averaged": results.pool(df, theirs)}
    out = []
    for draw, table in draws.items():
        stats = results.candidate_stats(table)
        w = results.winner(stats, table)
        best, runner_up = w["best"], w["runner_up"]
        line = f"winner in the {draw}: {best['candidate']} {100 * best['score']:.2f}"
        if runner_up is not None:
            c = results.compare_paired(table, runner_up["candidate"], best["candidate"], "value")
            line += (f", runner-up {runner_up['candidate']} {100 * runner_up['score']:.2f}: margin "
                     f"{100 * c.difference:+.2f} (seed-paired 95% CI {100 * c.low:+.2f} to {100 * c.high:+.2f}), "
                     f"{NOISE[c.exceeds_noise]}")
        if "paper_candidate" in w:
            line += f"; the paper's point ranks {w['paper_candidate']['rank']} of {len(stats)}"
        out.append(line + " (the search's objective)")
    return out
