"""Studies -> tables and ``summary.json``: one row per trial, one summary per study.

``trials_table(study)`` is a pandas DataFrame with every Optuna param (candidate, seed, alpha, beta,
gamma, phi) and every stored value (minival / test top-1, params, MACs, MAC ratio, resolution,
wall time, images/s, failure reason, ...). ``candidate_stats`` averages it over seeds; ``summarize``
picks the winner on the seed mean and says whether it beats the runner-up beyond the seed noise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import platform

import numpy as np
import optuna
import pandas as pd

from scaling import files, runtime, surface
from scaling.schema import COMMITTED_DIR, RUNS_DIR
from scaling.stats import cost_adjusted as cost_adjusted_fit
from scaling.stats import interval
from scaling.surface import Optimum

#: Values of a finished run (``train.train_and_evaluate``'s result) stored on its trial.
RESULT_KEYS = ("minival_top1", "test_top1", "train_top1", "loss", "params", "macs", "resolution", "depth", "width",
               "resolution_scale", "blocks", "output_stride", "feature_map", "epochs", "steps", "wall_time",
               "images_per_sec", "first_step_seconds", "num_classes", "dataset", "test_size", "device_kind", "platform",
               "num_devices", "cpu")
#: Phases of a run's ``seconds`` (train.train_and_evaluate), stored as ``<phase>_seconds`` columns.
PHASES = ("data", "setup", "compile", "train", "eval", "checkpoint")
#: Failure kinds that are bookkeeping, not failures of a run: a duplicate queue entry, a spare trial.
NOT_RUNS = ("duplicate", "spare")
#: Failure kinds that settle a point (rerunning the same config fails the same way) and those that are
#: retried up to ``max_retries`` times; ``interrupted`` (the study stopped) is redone without counting.
TERMINAL = ("diverged", "out_of_memory")
RETRYABLE = ("worker_lost", "error")
#: The sweeps that scale one dimension (paper Fig. 3).
SINGLE_DIMENSIONS = ("width", "depth", "resolution")

#: Columns that describe a network (equal for every seed of a candidate). In a search, alpha, beta,
#: gamma, phi are its compound coefficients; in a sweep, d, w, r its multipliers of the baseline.
NETWORK_COLUMNS = ("alpha", "beta", "gamma", "phi", "d", "w", "r", "params", "macs", "mac_ratio", "resolution", "depth",
                   "width", "resolution_scale", "output_stride", "feature_map", "paper")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, objective, params, user attrs, start/end times, duration.

    Spare trials (Optuna's queue ran dry under a worker) are left out; a FAIL trial without a
    ``fail_kind`` (a study of the code before interruptions were told apart) lost its worker. Nested attributes (the
    worker that ran a trial) are JSON strings, so the table stays flat for CSV and Parquet.
    """
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in t.user_attrs.items()}
        if attrs.get("fail_kind") == "spare":
            continue
        if t.state.name == "FAIL":
            attrs.setdefault("fail_kind", "worker_lost")
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({"trial": t.number, "state": t.state.name, "value": t.value, **t.params, **attrs,
                     "started": t.datetime_start, "completed": t.datetime_complete, "duration_s": duration})
    return pd.DataFrame(rows)


def candidate_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Completed trials averaged over seeds: one row per candidate, best mean first."""
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if done.empty:
        return pd.DataFrame()
    cols = [c for c in NETWORK_COLUMNS if c in done]
    stats = done.groupby("candidate", sort=False).agg(
        score=("value", "mean"), score_std=("value", "std"), seeds=("value", "size"),
        test_top1=("test_top1", "mean"), test_std=("test_top1", "std"), wall_time=("wall_time", "mean"),
        **{c: (c, "first") for c in cols})
    return stats.sort_values("score", ascending=False, kind="stable").reset_index()  # ties: first trial first


def dataset_label(spec: str) -> str:
    """A dataset spec as a short name: ``folder:../shared/datasets/cifar10`` -> ``cifar10``, ``tfds:x/y`` -> ``x/y``."""
    if spec.startswith("folder:"):
        return pathlib.PurePath(spec.removeprefix("folder:")).name
    return spec.removeprefix("tfds:")


def _record(row: pd.Series) -> dict:
    return {k: _plain(v) for k, v in row.items()}


def _plain(v):
    """NumPy scalars and NaN -> JSON values."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def seed_noise(stats: pd.DataFrame) -> float | None:
    """Pooled standard deviation of the score across seeds (None with one seed per candidate)."""
    multi = stats[stats["seeds"] > 1]
    if multi.empty:
        return None
    return float(math.sqrt((multi["score_std"] ** 2).mean()))


def summarize(df: pd.DataFrame, *, study: str, kind: str, config: dict, storage: str, points: list[str],
              max_retries: int = 0) -> dict:
    """The study's summary: best candidate (seed mean), runner-up, seed noise, budget, hardware, versions,
    and the ``incomplete`` points (``points``: the study's point keys, ``<candidate>-s<seed>``)."""
    stats = candidate_stats(df)
    states = df["state"].value_counts().to_dict() if len(df) else {}
    failed = df[(df["state"] == "FAIL") & ~df.get("fail_kind", pd.Series(index=df.index)).isin(NOT_RUNS)] \
        if len(df) else df
    started = df["started"].dropna() if len(df) else pd.Series(dtype=object)
    completed = df["completed"].dropna() if len(df) else pd.Series(dtype=object)
    train = config["study"]["train"]
    reused = (df["reused_from"].notna() & (df["state"] == "COMPLETE")) if "reused_from" in df \
        else pd.Series(False, index=df.index)
    summary = {
        "study": study,
        "kind": kind,
        "storage": storage,
        "dataset": train["dataset"],
        "baseline": train["network"],
        "coefficients": {k: config[k] for k in ("alpha", "beta", "gamma", "target", "tol", "phi", "values",
                                                 "baselines") if k in config},
        "seeds": config["study"]["seeds"],
        "budget": {k: train[k] for k in ("epochs", "steps_per_epoch", "batch_size", "recipe", "limit_train",
                                         "limit_test", "minival_fraction")},
        "runs": len(points),
        "networks": len({key.rsplit("-s", 1)[0] for key in points}),
        "complete": int(states.get("COMPLETE", 0)) == len(points),
        "incomplete": incomplete(df, points, max_retries),
        "max_retries": max_retries,
        "pending": int(states.get("WAITING", 0) + states.get("RUNNING", 0)),
        "trials": {str(k): int(v) for k, v in states.items()},
        "failures": [{"trial": int(r["trial"]), "point": r.get("point"), "kind": r.get("fail_kind"),
                      "reason": r.get("fail_reason")} for _, r in failed.iterrows()],
        "candidates": [_record(r) for _, r in stats.iterrows()],
        "wall_time": {
            "study_seconds": (completed.max() - started.min()).total_seconds() if len(completed) else None,
            "run_seconds": float(df["wall_time"].sum()) if "wall_time" in df else 0.0,
            **{f"{p}_seconds": float(df[f"{p}_seconds"].sum()) for p in PHASES if f"{p}_seconds" in df},
            # runs copied from another study (same config, trained there): run_seconds - reused_seconds
            # is what this study itself trained for
            "reused_runs": int(reused.sum()),
            "reused_seconds": float(df.loc[reused, "wall_time"].sum()) if reused.any() else 0.0,
        },
        "hardware": _hardware(df),
        "versions": runtime.versions(),
        "config": config,
    }
    if kind == "search" and not stats.empty:
        summary |= winner(stats, df)
        summary["surface"] = response_surface(df, config.get("target", 2.0)).record()
    if kind == "calibration" and len(df):
        summary["calibration"] = calibration_verdict(calibration_table(df, config["tolerance"]), config["tolerance"])
    return summary


def incomplete(df: pd.DataFrame, points: list[str], max_retries: int) -> list[dict]:
    """Each point without a finished run: ``pending`` (queued or running), ``failed`` (a terminal
    failure), ``gave_up`` (more than ``max_retries`` retryable failures) or ``unfinished`` (the study
    stopped before redoing it); with the last failure's kind and reason and the number of retryable
    failures since the point's last ``--retry-failed``."""
    out = []
    for key in points:
        rows = df[df["point"] == key] if "point" in df else df.iloc[:0]
        if "fail_kind" in rows:
            rows = rows[~rows["fail_kind"].isin(NOT_RUNS)]
        if rows["state"].eq("COMPLETE").any() if "state" in rows else False:
            continue
        if "retry_failed" in rows and rows["retry_failed"].eq(True).any():
            rows = rows.loc[rows.index[rows["retry_failed"].eq(True).to_numpy()][-1]:]
        failures = rows[rows["state"] == "FAIL"] if len(rows) else rows
        entry = {"point": key, "state": "pending", "kind": None, "reason": None, "retries": 0}
        if failures.empty or rows["state"].isin(("WAITING", "RUNNING")).any():
            out.append(entry)
            continue
        last = failures.iloc[-1]
        retries = int(failures["fail_kind"].isin(RETRYABLE).sum())
        state = "failed" if last["fail_kind"] in TERMINAL else "gave_up" if retries > max_retries else "unfinished"
        out.append(entry | {"state": state, "kind": last["fail_kind"], "reason": _plain(last.get("fail_reason")),
                            "retries": retries})
    return out


def failed(summary: dict) -> list[dict]:
    """The study's points that did not finish and will not without the user (not just still queued)."""
    return [e for e in summary.get("incomplete", []) if e["state"] != "pending"]


def describe_incomplete(summary: dict) -> str:
    """What a study lacks, one line per point and the command that runs it again; "" when complete."""
    missing = summary.get("incomplete", [])
    if not missing:
        return ""
    runs = summary["runs"]
    lines = [f"incomplete: {len(missing)} of {runs} runs did not finish; the tables, figures and any winner "
             f"use the other {runs - len(missing)}:"]
    for e in missing:
        if e["state"] == "pending":
            lines.append(f"  {e['point']}: still queued or running in another worker; rerun the same command "
                         "(or wait for that worker) to finish it")
        elif e["state"] == "unfinished":
            lines.append(f"  {e['point']}: {e['kind']}: {e['reason']}; rerun the same command to redo it")
        else:
            used = f" ({e['retries']} failures, --max-retries {summary['max_retries']} used up)" \
                if e["state"] == "gave_up" else ""
            lines.append(f"  {e['point']}: {e['kind']}{used}: {e['reason']}; "
                         "rerun the same command with --retry-failed to try it again")
    return "\n".join(lines)


def incomplete_note(summary: dict) -> str | None:
    """One line for a command that reads an incomplete study's tables (``scaling plot``, ``compare``), or None."""
    if summary.get("complete", True):
        return None
    missing = summary.get("incomplete") or []
    named = ", ".join(f"{e['point']} ({e['kind'] or e['state']})" for e in missing[:4])
    named += f", and {len(missing) - 4} more" if len(missing) > 4 else ""
    return (f"note: study {summary['study']!r} is incomplete: {summary['runs'] - len(missing) if missing else '?'}"
            f" of {summary['runs']} runs finished{f' (missing: {named})' if named else ''}; "
            "what follows uses the finished ones")


def calibration_verdict(table: pd.DataFrame, tolerance: float) -> list[dict]:
    """Per network of a calibration: its best learning-rate factor and whether the recipe's is within tolerance."""
    out = []
    for (d, w, r), rows in table.groupby(["d", "w", "r"], sort=False):
        best = rows.loc[rows["test_top1"].idxmax()]
        own = rows[rows["lr_factor"] == 1]
        out.append({"d": d, "w": w, "r": r, "macs": int(best["macs"]), "best_lr_factor": float(best["lr_factor"]),
                    "best_test_top1": float(best["test_top1"]),
                    "recipe_test_top1": float(own["test_top1"].iloc[0]) if len(own) else None,
                    "recipe_gap_pts": float(own["gap"].iloc[0]) if len(own) else None,
                    "recipe_within_tolerance": bool(own["chosen_ok"].iloc[0]) if len(own) else None,
                    "tolerance_pts": tolerance})
    return out


def winner(stats: pd.DataFrame, df: pd.DataFrame) -> dict:
    """A search's best and runner-up by seed mean (rows of :func:`candidate_stats` of the trials ``df``),
    whether the best beats the runner-up beyond the seed noise (the seed-paired 95% CI of their
    difference excludes 0; every candidate shares its seed's data), and the paper's point's rank."""
    best = _record(stats.iloc[0])
    out = {"best": best, "runner_up": None, "margin": None, "seed_noise": seed_noise(stats),
           "beats_runner_up_beyond_noise": None,
           "noise_rule": "the seed-paired 95% CI of best - runner-up (minival top-1) excludes 0"}
    paper = stats[stats["paper"] == True] if "paper" in stats else stats.iloc[:0]  # noqa: E712
    if not paper.empty:
        out["paper_candidate"] = _record(paper.iloc[0]) | {"rank": int(paper.index[0]) + 1}
    if len(stats) > 1:
        runner = _record(stats.iloc[1])
        out["runner_up"] = runner
        out["margin"] = best["score"] - runner["score"]
        paired = compare_paired(df, runner["candidate"], best["candidate"], "value")
        if paired.exceeds_noise is not None:
            out["margin_ci"] = [paired.low, paired.high]
            out["beats_runner_up_beyond_noise"] = bool(paired.exceeds_noise)
    adjusted = cost_adjusted(stats)
    if adjusted is not None:
        out["cost_adjusted"] = adjusted
    return out


def response_surface(df: pd.DataFrame, target: float = 2.0) -> Optimum:
    """The search's optimum from every completed run (``surface.fit``: score on a quadratic in log alpha,
    log beta on alpha beta^2 gamma^2 = ``target``, seeds as blocks), with its bootstrap region; a table
    without a ``seed`` column counts as one seed."""
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if done.empty:
        return surface.fit([], [], [], [], [], target=target)
    seed = done["seed"] if "seed" in done else np.zeros(len(done))
    return surface.fit(done["alpha"], done["beta"], done["gamma"], done["value"], seed, target=target)


def cost_adjusted(stats: pd.DataFrame) -> dict | None:
    """The ranking by each candidate's residual from the fit of its seed-mean score on log2 MACs over the
    grid (``stats.cost_adjusted``), beside the raw one; None below 3 candidates."""
    if len(stats) < 3:
        return None
    fit = cost_adjusted_fit(stats["macs"], stats["score"])
    ranked = stats.assign(residual=fit.residuals, raw_rank=np.arange(1, len(stats) + 1))
    ranked = ranked.sort_values("residual", ascending=False, kind="stable")
    return {"slope_per_doubling": _plain(fit.slope), "spearman_macs": _plain(fit.spearman),
            "spearman_p": _plain(fit.spearman_p),
            "ranking": [{"candidate": r.candidate, "residual": float(r.residual), "score": float(r.score),
                         "mac_ratio": _plain(getattr(r, "mac_ratio", math.nan)), "raw_rank": int(r.raw_rank)}
                        for r in ranked.itertuples()]}


def _hardware(df: pd.DataFrame) -> dict:
    out = {"cpu_count": os.cpu_count(), "machine": platform.machine()}
    for col in ("platform", "device_kind", "num_devices", "cpu"):
        if col in df:
            out[col] = sorted({_plain(v) for v in df[col].dropna()})
    return out


def write(df: pd.DataFrame, summary: dict, directory: str | os.PathLike) -> None:
    """``trials.csv``, ``trials.parquet`` and ``summary.json`` in ``directory`` (atomic replaces)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files.atomic_write(directory / "trials.csv", lambda p: df.to_csv(p, index=False))
    files.atomic_write(directory / "trials.parquet", lambda p: df.to_parquet(p, index=False))
    files.write_json(directory / "summary.json", summary)


def load(directory: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """The trials table and summary written by :func:`write` (for notebooks and ``scaling plot``)."""
    directory = pathlib.Path(directory)
    return pd.read_parquet(directory / "trials.parquet"), json.loads((directory / "summary.json").read_text())


def describe_winner(summary: dict) -> str:
    """The search's result in one or two lines."""
    best = summary.get("best")
    if not best:
        return f"study {summary['study']}: no completed trial yet"
    line = (f"winner {best['candidate']}: alpha={best['alpha']:g} beta={best['beta']:g} gamma={best['gamma']:g}, "
            f"minival top-1 {_pm(best)} ({best['seeds']} seed(s)), MAC ratio x{best['mac_ratio']:.2f}")
    if summary.get("incomplete"):
        line += (f"; chosen from {len(summary['candidates'])} of {summary['networks']} candidates "
                 f"({summary['runs'] - len(summary['incomplete'])} of {summary['runs']} runs)")
    runner = summary.get("runner_up")
    if runner:
        verdict = {None: "seed noise unknown (use --seeds 2 or more)", True: "beyond the seed noise",
                   False: "within the seed noise"}[summary["beats_runner_up_beyond_noise"]]
        ci = summary.get("margin_ci")
        paired = f" (seed-paired 95% CI {100 * ci[0]:+.2f} to {100 * ci[1]:+.2f})" if ci else ""
        line += (f"\nrunner-up {runner['candidate']}: {_pm(runner)}; margin {100 * summary['margin']:.2f} pts"
                 f"{paired}, {verdict}")
    fitted = summary.get("surface")
    if fitted:
        line += f"\n{fitted['words']}"
    adjusted = summary.get("cost_adjusted")
    if adjusted:
        top = adjusted["ranking"][:3]
        line += (f"\ncost-adjusted (residual from minival ~ log2 MACs over {len(adjusted['ranking'])} candidates, "
                 f"{100 * adjusted['slope_per_doubling']:+.2f} pts per doubling; Spearman of minival and MACs "
                 f"{_num(adjusted['spearman_macs'])}, p {_num(adjusted['spearman_p'], '.2g')}): " +
                 ", ".join(f"{r['candidate']} {100 * r['residual']:+.2f} (raw #{r['raw_rank']})" for r in top))
    if summary["pending"]:
        line += f"\n({summary['pending']} run(s) still queued or running: the study is not finished)"
    return line


def _num(value, spec: str = "+.2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def describe_curve(summary: dict) -> str:
    """The scale-up curve, one phi a line."""
    lines = [f"phi {c['phi']:g}: minival top-1 {_pm(c)}, {c['macs'] / 1e6:.2f} MMACs, {c['params'] / 1e6:.2f} M params"
             for c in sorted(summary["candidates"], key=lambda c: c["phi"])]
    return "\n".join(lines) or f"study {summary['study']}: no completed trial yet"


def _pm(c: dict) -> str:
    std = c.get("score_std")
    return f"{100 * c['score']:.2f}%" + (f" ± {100 * std:.2f}" if std is not None else "")


# --------------------------------------------------------------------------------------------
# Sweeps (paper Figs. 3, 4, 8): one row per figure point (fits: scaling.stats)
# --------------------------------------------------------------------------------------------
#: Where a command that reads studies looks when given no ``--results-dir``: the user's own studies
#: first (where ``scaling`` writes by default), then the committed ones; a name in both is the user's.
SEARCH_ROOTS = (RUNS_DIR, COMMITTED_DIR)


def studies(results_dir: str | os.PathLike | None = None) -> dict[str, pathlib.Path]:
    """Every study with a written table in ``results_dir`` (None: in :data:`SEARCH_ROOTS`): name -> directory."""
    if results_dir is None:
        found: dict[str, pathlib.Path] = {}
        for root in SEARCH_ROOTS:
            for name, path in studies(root).items():
                found.setdefault(name, path)
        return found
    root = pathlib.Path(results_dir)
    found = sorted(p.parent for p in root.glob("*/summary.json") if (p.parent / "trials.parquet").exists())
    return {p.name: p for p in found}


def study_root(name: str, results_dir: str | os.PathLike | None = None) -> str:
    """The results directory of study ``name``: ``results_dir`` if given, else the first of
    :data:`SEARCH_ROOTS` that holds a directory ``name`` (the first if none does)."""
    if results_dir is not None:
        return str(results_dir)
    return next((root for root in SEARCH_ROOTS if (pathlib.Path(root) / name).is_dir()), SEARCH_ROOTS[0])


def first_rerun(directory: str | os.PathLike) -> pathlib.Path | None:
    """The study ``directory``'s first rerun: the study of its name in the oldest ``rerun-*/`` directory
    beside it (``results/rerun-2026-12-04/cifar10_width`` for ``results/cifar10_width``) with a table."""
    directory = pathlib.Path(directory)
    for root in sorted(directory.parent.glob("rerun-*/")):
        if directory.name in studies(root):
            return root / directory.name
    return None


def where(results_dir: str | os.PathLike | None) -> str:
    """``results_dir`` in words, for messages."""
    return str(results_dir) if results_dir is not None else " or ".join(f"{r}/" for r in SEARCH_ROOTS)


#: The metrics ``sweep_table`` averages over seeds.
SWEEP_METRICS = ("minival_top1", "test_top1", "train_top1")


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """A sweep study's completed trials as one row per figure point, over its seeds.

    Columns: ``line``, ``coefficient``, ``label`` (from the trial's ``members``), ``budget`` (None in a
    study without budgets, :mod:`scaling.budgets`), ``candidate``, ``d``,
    ``w``, ``r`` (multipliers of the sweep's baseline), ``seeds``, ``params``, ``macs``, ``resolution``
    and, for each metric m of ``SWEEP_METRICS`` (fractions): ``m`` (mean over seeds), ``m_std``,
    ``m_ci`` (half-width of the 95% Student-t interval of the mean; NaN with one seed) and
    ``m_seeds`` (the per-seed values in seed order, the seeds themselves in ``run_seeds``). A network that
    stands for several points (Fig. 8's shared baseline) gives one row per point. Rows keep the sweep's
    line order, by MACs within a line.
    """
    metrics = [f"{m}{suffix}" for m in SWEEP_METRICS for suffix in ("", "_std", "_ci", "_seeds")]
    columns = ["line", "coefficient", "label", "budget", "candidate", "d", "w", "r", "seeds", "run_seeds", "params",
               "macs", "resolution", *metrics]
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if done.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for candidate, runs in done.groupby("candidate", sort=False):
        runs = runs.sort_values("seed", kind="stable")
        point = {"candidate": candidate, "seeds": len(runs), "run_seeds": tuple(runs["seed"].tolist()),
                 "budget": runs["budget"].iloc[0] if "budget" in runs else None} | {
            c: runs[c].iloc[0] for c in ("d", "w", "r", "params", "macs", "resolution")}
        for m in SWEEP_METRICS:
            values = tuple(float(v) for v in runs[m]) if m in runs else (math.nan,) * len(runs)
            seeds = interval(values)
            point |= {m: seeds.mean, f"{m}_std": seeds.std, f"{m}_ci": seeds.half_width, f"{m}_seeds": values}
        rows += [point | member for member in json.loads(runs["members"].iloc[0])]
    lines = dict.fromkeys(m["line"] for text in df["members"].dropna() for m in json.loads(text))
    order = {line: i for i, line in enumerate(lines)}
    table = pd.DataFrame(rows, columns=columns)
    table = table.assign(_order=table["line"].map(order)).sort_values(["_order", "macs"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def calibration_table(df: pd.DataFrame, tolerance: float = 1.0) -> pd.DataFrame:
    """A calibration study's completed trials, one row per (network, learning-rate factor), seeds averaged.

    Columns: ``d``, ``w``, ``r``, ``lr_factor``, ``lr``, ``seeds``, ``macs``, ``params``, and for test and
    train top-1 the mean, std, 95% CI half-width and per-seed values (as :func:`sweep_table`); ``best``
    marks each network's best mean test top-1 and ``gap`` is its distance to that best in points;
    ``chosen_ok`` says, on the recipe's own row (factor 1), whether the gap is within ``tolerance``.
    """
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if done.empty:
        return pd.DataFrame()
    rows = []
    for (d, w, r, f), group in done.sort_values("seed").groupby(["d", "w", "r", "lr_factor"], sort=True):
        row = {"d": d, "w": w, "r": r, "lr_factor": f, "lr": group["lr"].iloc[0] if "lr" in group else None,
               "seeds": len(group), "macs": group["macs"].iloc[0], "params": group["params"].iloc[0]}
        for metric in ("test_top1", "train_top1"):
            iv = interval(group[metric])
            row |= {metric: iv.mean, f"{metric}_std": iv.std, f"{metric}_ci": iv.half_width,
                    f"{metric}_seeds": tuple(group[metric])}
        rows.append(row)
    table = pd.DataFrame(rows)
    best = table.groupby(["d", "w", "r"])["test_top1"].transform("max")
    table["gap"] = 100 * (best - table["test_top1"])
    table["best"] = table["gap"] == 0
    table["chosen_ok"] = (table["gap"] <= tolerance).where(table["lr_factor"] == 1)
    return table.sort_values(["macs", "lr_factor"], kind="stable").reset_index(drop=True)


def compare_reruns(df: pd.DataFrame, rerun: pd.DataFrame, metric: str = "test_top1") -> pd.DataFrame:
    """Each candidate of a study against the same candidate in a rerun of it, one row each.

    ``difference`` is the rerun's mean ``metric`` minus the study's, with its Welch 95% CI
    (``stats.compare``); ``same_digits``: each of the ``shared_seeds`` (run in both) has the same value
    in both. A rerun on another CPU is a fresh draw of the run-to-run noise (XLA:CPU's arithmetic
    depends on the machine), so it should agree within these intervals, not to the digit.
    """
    from scaling.stats import compare as welch

    done = [d[d["state"] == "COMPLETE"] for d in (df, rerun)]
    rows = []
    for name in sorted(set(done[0]["candidate"]) & set(done[1]["candidate"])):
        a, b = (d[d["candidate"] == name].set_index("seed")[metric].sort_index() for d in done)
        c = welch(list(a), list(b))
        shared = a.index.intersection(b.index)
        rows.append({"candidate": name, "seeds": len(a), "rerun_seeds": len(b), "shared_seeds": len(shared),
                     "mean": a.mean(), "rerun_mean": b.mean(), "difference": c.difference, "low": c.low,
                     "high": c.high, "exceeds_noise": c.exceeds_noise,
                     "same_digits": len(shared) > 0 and a[shared].equals(b[shared])})
    return pd.DataFrame(rows)


def seed_correlation(df: pd.DataFrame, rerun: pd.DataFrame, metric: str = "test_top1") -> tuple[float, int]:
    """How much a seed's run in a rerun follows its run in the study: Pearson's r and the number of pairs.

    Each run's ``metric`` is taken as its deviation from its candidate's mean (in its own table), and
    runs of the same candidate and seed are paired: r near 0 means the rerun redrew the noise, 1 that
    it repeated it. NaN with fewer than 3 pairs.
    """
    done = [d[d["state"] == "COMPLETE"] for d in (df, rerun)]
    dev = [d[metric] - d.groupby("candidate")[metric].transform("mean") for d in done]
    pairs = (done[0].assign(dev=dev[0])[["candidate", "seed", "dev"]]
             .merge(done[1].assign(dev=dev[1])[["candidate", "seed", "dev"]], on=["candidate", "seed"]))
    if len(pairs) < 3:
        return math.nan, len(pairs)
    return float(np.corrcoef(pairs["dev_x"], pairs["dev_y"])[0, 1]), len(pairs)


def pool(df: pd.DataFrame, rerun: pd.DataFrame) -> pd.DataFrame:
    """A study's and its rerun's completed runs as one trials table, a row per candidate and seed.

    The seed, not the run, is the unit: a seed's runs in both are averaged (``runs`` counts them). A
    rerun on another CPU is a fresh draw of the rounding (:func:`compare_reruns`), but it starts from
    the same initial weights and sees the data in the same order, so its runs may correlate with the
    study's of the same seed (:func:`seed_correlation`); counting them as independent would narrow
    :func:`compare`'s interval. A rerun on the same CPU model repeats its runs to the digit: a run of
    the rerun with the study's candidate, seed and final training loss counts once.
    """
    done = [d[d["state"] == "COMPLETE"] for d in (df, rerun)]
    run = ["candidate", "seed", "loss"]
    fresh = done[1][~pd.MultiIndex.from_frame(done[1][run]).isin(pd.MultiIndex.from_frame(done[0][run]))]
    runs = pd.concat([done[0], fresh], ignore_index=True).groupby(["candidate", "seed"], sort=False)
    table = runs.first()
    metrics = [m for m in ("value", "minival_top1", "test_top1", "train_top1", "loss") if m in table]
    table[metrics] = runs[metrics].mean()
    return table.assign(runs=runs.size()).reset_index()


def compare(df: pd.DataFrame, a: str, b: str, metric: str = "test_top1"):
    """``b``'s mean ``metric`` minus ``a``'s over their seeds, with a Welch 95% CI (``stats.compare``).

    ``a`` and ``b`` are candidate names of one study (its trials table's ``candidate`` column).
    """
    from scaling.config import ConfigError
    from scaling.stats import compare as welch

    done = df[df["state"] == "COMPLETE"] if len(df) else df
    groups = {}
    for name in (a, b):
        values = done.loc[done["candidate"] == name, metric] if len(done) else []
        if not len(values):
            known = ", ".join(sorted(done["candidate"].unique())) if len(done) else "none"
            raise ConfigError(f"no completed run of {name!r} in the study (candidates: {known})")
        groups[name] = list(values)
    return welch(groups[a], groups[b])


def compare_paired(df: pd.DataFrame, a: str, b: str, metric: str = "test_top1"):
    """``b`` minus ``a`` paired by seed (``stats.paired``): every candidate of a study shares its seed's
    data subset and order, so a seed's offset cancels. A seed's repeated runs (a pooled rerun) are averaged."""
    from scaling.stats import paired

    compare(df, a, b, metric)  # the same one-line errors for an unknown candidate
    done = df[df["state"] == "COMPLETE"]
    by_seed = {name: done[done["candidate"] == name].groupby("seed")[metric].apply(list).to_dict() for name in (a, b)}
    return paired(by_seed[a], by_seed[b])


def family(df: pd.DataFrame, pairs: list[tuple[str, str]], metric: str = "test_top1",
           margin: float | None = None, at_macs: float | None = None) -> pd.DataFrame:
    """A study's family of seed-paired comparisons, one row per (a, b) pair (candidates, or with
    ``at_macs`` sweep lines at that many MACs: :func:`compare_lines_paired`): b - a in points with its
    95% CI and p, ``p_holm`` (Holm over the family), and with ``margin`` (points) what each interval
    says about a difference of that size (``stats.equivalence``), the paired test's power to find it at
    the Holm level of the family's first step and the seeds that 80% power would need, both from the
    family's pooled std of a per-seed difference (``sd_pooled``)."""
    from scaling import stats

    rows = []
    for a, b in pairs:
        c = compare_paired(df, a, b, metric) if at_macs is None else compare_lines_paired(df, a, b, at_macs, metric)
        pts = dataclasses.replace(c, difference=100 * c.difference, half_width=100 * c.half_width, low=100 * c.low,
                                  high=100 * c.high)
        row = {"a": a, "b": b, "seeds": c.n_a, "difference": pts.difference, "low": pts.low, "high": pts.high,
               "p": c.p_value}
        if margin is not None:
            # the per-seed differences' std, from the interval: half-width = t(n - 1) std / sqrt(n)
            sd = pts.half_width / stats.half_width(1.0, c.n_a) if c.n_a >= 2 and pts.half_width > 0 else math.nan
            row |= {"margin": margin, "sd_difference": sd, "bound": stats.equivalence(pts, margin).words()}
        rows.append(row)
    table = pd.DataFrame(rows)
    if margin is not None:
        # Power from the family's pooled std of a per-seed difference: one pair's, from 3 seeds, is too rough.
        sds = table["sd_difference"].dropna()
        pooled = float(np.sqrt((sds**2).mean())) if len(sds) else math.nan
        table["sd_pooled"] = pooled
        ok = math.isfinite(pooled) and pooled > 0
        table["power"] = [float(stats.power(margin, pooled, n, tests=len(pairs))) if ok else math.nan
                          for n in table["seeds"]]
        needed = stats.seeds_needed(margin, pooled, tests=len(pairs)) if ok else None
        table["seeds_needed"] = math.nan if needed is None else needed
    table["p_holm"] = stats.holm(table["p"])
    return table


def line_runs(rows: pd.DataFrame, metric: str = "test_top1") -> tuple[np.ndarray, np.ndarray]:
    """(MACs, ``metric``), one pair per run, of ``sweep_table`` rows (each a point with its ``<metric>_seeds``)."""
    seeds = rows[f"{metric}_seeds"]
    return (np.repeat(rows["macs"].to_numpy(dtype=float), [len(v) for v in seeds]),
            np.concatenate([np.asarray(v, dtype=float) for v in seeds]))


def line_seeds(rows: pd.DataFrame) -> np.ndarray:
    """The seed of each run of :func:`line_runs` (of the same rows), in its order."""
    return np.concatenate([np.asarray(v) for v in rows["run_seeds"]])


def line_slopes(df: pd.DataFrame, metric: str = "test_top1") -> dict[str, tuple[float, float, float]]:
    """Each sweep line's gain in points of ``metric`` per doubling of MACs, with its 95% CI (slope, low, high).

    The slope of ``stats.fit_saturation``'s line, fitted on every seed's run of the line's points
    (the one the figures draw, where the line rises without saturating); NaN below 3 MACs values.
    """
    from scaling.stats import fit_saturation

    slopes = {}
    for line, rows in sweep_table(df).groupby("line", sort=False):
        macs, top1 = line_runs(rows, metric)
        slopes[line] = tuple(float(v) for v in fit_saturation(macs, 100 * top1).slope)
    return slopes


def line_fits(df: pd.DataFrame, metric: str = "test_top1") -> pd.DataFrame:
    """Each sweep line's gain in points per doubling of MACs three ways, one row per line: ``runs``
    (:func:`line_slopes`: every run counted, as the figures draw it), ``means`` (the line through the
    point means, its departure from a line counted as error: ``stats.slope_of_means``) and ``paired``
    (each seed's own line, interval over seeds: ``stats.slope_paired``); ``<way>``, ``<way>_low``,
    ``<way>_high`` each, with the line's ``points`` and ``seeds``."""
    from scaling.stats import slope_of_means, slope_paired

    done = df[df["state"] == "COMPLETE"]
    by_runs = line_slopes(df, metric)
    rows = []
    for line, points in sweep_table(df).groupby("line", sort=False):
        runs = done[done["candidate"].isin(points["candidate"])]
        args = (runs["macs"].to_numpy(float), 100 * runs[metric].to_numpy(float), runs["seed"].to_numpy())
        means, paired = slope_of_means(*args), slope_paired(*args)
        row = {"line": line, "points": means.points, "seeds": paired.seeds}
        for way, (slope, low, high) in (("runs", by_runs[line]), ("means", (means.slope, means.low, means.high)),
                                        ("paired", (paired.slope, paired.low, paired.high))):
            row |= {way: slope, f"{way}_low": low, f"{way}_high": high}
        rows.append(row)
    return pd.DataFrame(rows)


def compare_lines(df: pd.DataFrame, a: str, b: str, at: float, metric: str = "test_top1"):
    """Sweep line ``b`` minus line ``a`` at ``at`` MACs, each fitted on all its runs (``stats.compare_lines``).

    ``a`` and ``b`` are line names of one sweep's table (``sweep_table``'s ``line``: ``"d=2, r=1.3"``).
    """
    from scaling.stats import compare_lines as welch_lines

    return _lines(welch_lines, df, a, b, at, metric, seeds=False)


def compare_lines_paired(df: pd.DataFrame, a: str, b: str, at: float, metric: str = "test_top1"):
    """Sweep line ``b`` minus line ``a`` at ``at`` MACs, paired by seed: each seed's own line of each
    (``stats.compare_lines_paired``); a seed's repeated runs (a pooled rerun) are averaged first."""
    from scaling.stats import compare_lines_paired as paired_lines

    return _lines(paired_lines, df, a, b, at, metric, seeds=True)


def _lines(comparison, df: pd.DataFrame, a: str, b: str, at: float, metric: str, seeds: bool):
    """``comparison`` of lines ``a`` and ``b`` of ``df``'s sweep table at ``at`` MACs, as one-line errors."""
    from scaling.config import ConfigError

    table = sweep_table(df)
    runs = []
    for name in (a, b):
        rows = table[table["line"] == name]
        if rows.empty:
            raise ConfigError(f"no sweep line {name!r} in the study (lines: {', '.join(table['line'].unique())})")
        runs += [*line_runs(rows, metric), *([line_seeds(rows)] if seeds else [])]
    try:
        return comparison(*runs, at=at)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def describe_sweep(table: pd.DataFrame, metric: str = "test_top1") -> str:
    """The sweep's points, one a line: line, label, mean top-1 ± 95% CI half-width over n seeds, MACs, params."""
    lines = []
    for _, row in table.iterrows():
        n = int(row["seeds"])
        spread = f" ± {100 * row[f'{metric}_ci']:.2f} (95% CI, {n} seeds)" if n > 1 else " (1 seed, no CI)"
        budget = f" {row['budget']:<6}" if isinstance(row.get("budget"), str) else ""
        lines.append(f"{row['line']:>16} {row['label']:>10}{budget}: {metric} {100 * row[metric]:.2f}%{spread}, "
                     f"{row['macs'] / 1e6:.2f} MMACs, {row['params'] / 1e6:.2f} M params")
    return "\n".join(lines) or "no completed trial yet"
