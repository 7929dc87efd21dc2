"""Studies -> tables and ``summary.json``: one row per trial, one summary per study.

``trials_table(study)`` is a pandas DataFrame with every Optuna param (candidate, seed, alpha, beta,
gamma, phi) and every stored value (minival / test top-1, params, MACs, MAC ratio, resolution,
wall time, images/s, failure reason, ...). ``candidate_stats`` averages it over seeds; ``summarize``
picks the winner on the seed mean and says whether it beats the runner-up beyond the seed noise.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import warnings

import numpy as np
import optuna
import pandas as pd

#: Values of a finished run (``train.train_and_evaluate``'s result) stored on its trial.
RESULT_KEYS = ("minival_top1", "test_top1", "train_top1", "loss", "params", "macs", "resolution", "depth", "width",
               "resolution_scale", "blocks", "epochs", "steps", "wall_time", "images_per_sec", "first_step_seconds",
               "num_classes", "dataset", "device_kind", "platform", "num_devices")

#: Columns that describe a network (equal for every seed of a candidate).
NETWORK_COLUMNS = ("alpha", "beta", "gamma", "phi", "params", "macs", "mac_ratio", "resolution", "depth", "width",
                   "resolution_scale", "paper")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, objective, params, user attrs, start/end times, duration."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({"trial": t.number, "state": t.state.name, "value": t.value, **t.params, **t.user_attrs,
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


def summarize(df: pd.DataFrame, *, study: str, kind: str, config: dict, storage: str, points: int) -> dict:
    """The study's summary: best candidate (seed mean), runner-up, seed noise, budget, hardware, versions."""
    stats = candidate_stats(df)
    states = df["state"].value_counts().to_dict() if len(df) else {}
    failed = df[(df["state"] == "FAIL") & (df.get("fail_kind") != "duplicate")] if len(df) else df
    started = df["started"].dropna() if len(df) else pd.Series(dtype=object)
    completed = df["completed"].dropna() if len(df) else pd.Series(dtype=object)
    train = config["train"]
    summary = {
        "study": study,
        "kind": kind,
        "storage": storage,
        "dataset": train["dataset"],
        "baseline": {"depth0": config["depth0"], "width0": config["width0"], "resolution0": config["resolution0"],
                     "base_resolution": train["base_resolution"]},
        "grid": {k: config[k] for k in ("alpha", "beta", "gamma", "target", "tol")},
        "seeds": config["seeds"],
        "budget": {k: train[k] for k in ("epochs", "steps_per_epoch", "batch_size", "recipe", "limit_train",
                                         "limit_test", "minival_fraction")},
        "runs": points,
        "complete": int(states.get("COMPLETE", 0)) == points,
        "pending": int(states.get("WAITING", 0) + states.get("RUNNING", 0)),
        "trials": {str(k): int(v) for k, v in states.items()},
        "failures": [{"trial": int(r["trial"]), "point": r.get("point"), "kind": r.get("fail_kind"),
                      "reason": r.get("fail_reason")} for _, r in failed.iterrows()],
        "candidates": [_record(r) for _, r in stats.iterrows()],
        "wall_time": {
            "study_seconds": (completed.max() - started.min()).total_seconds() if len(completed) else None,
            "train_seconds": float(df["wall_time"].sum()) if "wall_time" in df else 0.0,
        },
        "hardware": _hardware(df),
        "versions": _versions(),
        "config": config,
    }
    if kind == "search" and not stats.empty:
        summary |= _winner(stats)
    return summary


def _winner(stats: pd.DataFrame) -> dict:
    """Best and runner-up by seed mean, and whether the margin exceeds 2 standard errors of the noise."""
    best = _record(stats.iloc[0])
    out = {"best": best, "runner_up": None, "margin": None, "seed_noise": seed_noise(stats),
           "beats_runner_up_beyond_noise": None,
           "noise_rule": "margin > 2 * seed_noise * sqrt(1/seeds_best + 1/seeds_runner_up); "
                         "seed_noise = pooled std of minival top-1 over seeds"}
    paper = stats[stats["paper"] == True] if "paper" in stats else stats.iloc[:0]  # noqa: E712
    if not paper.empty:
        out["paper_candidate"] = _record(paper.iloc[0]) | {"rank": int(paper.index[0]) + 1}
    if len(stats) > 1:
        runner = _record(stats.iloc[1])
        out["runner_up"] = runner
        out["margin"] = best["score"] - runner["score"]
        if out["seed_noise"] is not None:
            se = out["seed_noise"] * math.sqrt(1 / best["seeds"] + 1 / runner["seeds"])
            out["beats_runner_up_beyond_noise"] = bool(out["margin"] > 2 * se)
    return out


def _hardware(df: pd.DataFrame) -> dict:
    out = {"cpu_count": os.cpu_count(), "machine": platform.machine()}
    for col in ("platform", "device_kind", "num_devices"):
        if col in df:
            out[col] = sorted({_plain(v) for v in df[col].dropna()})
    return out


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("scaling", "optuna", "jax", "jaxlib", "flax", "optax", "numpy", "pandas"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write(df: pd.DataFrame, summary: dict, directory: str | os.PathLike) -> None:
    """``trials.csv``, ``trials.parquet`` and ``summary.json`` in ``directory`` (atomic replaces)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _atomic(directory / "trials.csv", lambda p: df.to_csv(p, index=False))
    _atomic(directory / "trials.parquet", lambda p: df.to_parquet(p, index=False))
    text = json.dumps(summary, indent=1, default=str) + "\n"
    _atomic(directory / "summary.json", lambda p: p.write_text(text))


def _atomic(path: pathlib.Path, write_to) -> None:
    """Write through a per-process temporary file, so concurrent writers never mix two files."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_to(tmp)
    os.replace(tmp, path)


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
    runner = summary.get("runner_up")
    if runner:
        verdict = {None: "seed noise unknown (use --seeds 2 or more)", True: "beyond the seed noise",
                   False: "within the seed noise"}[summary["beats_runner_up_beyond_noise"]]
        line += f"\nrunner-up {runner['candidate']}: {_pm(runner)}; margin {100 * summary['margin']:.2f} pts, {verdict}"
    if summary["pending"]:
        line += f"\n({summary['pending']} run(s) still queued or running: the study is not finished)"
    return line


def describe_curve(summary: dict) -> str:
    """The scale-up curve, one phi a line."""
    lines = [f"phi {c['phi']:g}: minival top-1 {_pm(c)}, {c['macs'] / 1e6:.2f} MMACs, {c['params'] / 1e6:.2f} M params"
             for c in sorted(summary["candidates"], key=lambda c: c["phi"])]
    return "\n".join(lines) or f"study {summary['study']}: no completed trial yet"


def _pm(c: dict) -> str:
    std = c.get("score_std")
    return f"{100 * c['score']:.2f}%" + (f" ± {100 * std:.2f}" if std is not None else "")


# --------------------------------------------------------------------------------------------
# Sweeps (paper Figs. 3, 4, 8): one row per figure point, and saturating-curve fits
# --------------------------------------------------------------------------------------------
def studies(results_dir: str | os.PathLike) -> dict[str, pathlib.Path]:
    """Every study with a written table in ``results_dir``: name -> directory."""
    root = pathlib.Path(results_dir)
    found = sorted(p.parent for p in root.glob("*/summary.json") if (p.parent / "trials.parquet").exists())
    return {p.name: p for p in found}


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """A sweep study's completed trials as one row per figure point, seeds averaged.

    Columns: ``line``, ``coefficient``, ``label`` (from the trial's ``members``), ``candidate``,
    ``d``, ``w``, ``r`` (multipliers of the sweep's baseline), ``minival_top1`` / ``test_top1``
    (seed means, fractions) with ``minival_std`` / ``test_std`` (NaN with one seed), ``seeds``,
    ``params``, ``macs``, ``resolution``. A network that stands for several points (Fig. 8's shared
    baseline) gives one row per point. Rows keep the sweep's line order and are sorted by MACs within it.
    """
    columns = ["line", "coefficient", "label", "candidate", "d", "w", "r", "minival_top1", "minival_std",
               "test_top1", "test_std", "seeds", "params", "macs", "resolution"]
    done = df[df["state"] == "COMPLETE"] if len(df) else df
    if done.empty:
        return pd.DataFrame(columns=columns)
    stats = done.groupby("candidate", sort=False).agg(
        minival_top1=("minival_top1", "mean"), minival_std=("minival_top1", "std"), test_top1=("test_top1", "mean"),
        test_std=("test_top1", "std"), seeds=("seed", "size"), members=("members", "first"), d=("alpha", "first"),
        w=("beta", "first"), r=("gamma", "first"), params=("params", "first"), macs=("macs", "first"),
        resolution=("resolution", "first")).reset_index()
    lines = dict.fromkeys(m["line"] for text in df["members"].dropna() for m in json.loads(text))
    order = {line: i for i, line in enumerate(lines)}
    rows = [{**row, **member} for row in stats.to_dict("records") for member in json.loads(row.pop("members"))]
    table = pd.DataFrame(rows, columns=columns)
    table = table.assign(_order=table["line"].map(order)).sort_values(["_order", "macs"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def describe_sweep(table: pd.DataFrame, metric: str = "test_top1") -> str:
    """The sweep's points, one a line: line, label, MACs, top-1 (± seed std)."""
    lines = []
    for _, row in table.iterrows():
        std = row[metric.replace("top1", "std")]
        spread = f" ± {100 * std:.2f}" if pd.notna(std) else ""
        lines.append(f"{row['line']:>16} {row['label']:>10}: {metric} {100 * row[metric]:.2f}%{spread}, "
                     f"{row['macs'] / 1e6:.2f} MMACs, {row['params'] / 1e6:.2f} M params")
    return "\n".join(lines) or "no completed trial yet"


@dataclasses.dataclass(frozen=True)
class Saturation:
    """A fitted saturating curve ``acc(M) = a - b * (M / m0) ** -c``.

    ``a`` is the asymptote, ``b`` the gap to it at ``m0`` (the smallest fitted MACs, i.e. the
    sweep's baseline) and ``c`` how fast the gap closes: each doubling of MACs multiplies it by
    ``2 ** -c``. The gain of one doubling from M, ``b (M / m0) ** -c (1 - 2 ** -c)``, decreases with
    M and equals ``threshold`` at ``saturation_macs``.
    """

    a: float
    b: float
    c: float
    m0: float
    threshold: float

    def __call__(self, macs):
        return self.a - self.b * (np.asarray(macs, dtype=float) / self.m0) ** -self.c

    def gain_per_doubling(self, macs):
        return self(2 * np.asarray(macs, dtype=float)) - self(macs)

    @property
    def saturation_macs(self) -> float:
        """The MACs beyond which one more doubling gains less than ``threshold`` (``m0`` when the
        baseline's doubling already does)."""
        first = self.b * (1 - 2.0**-self.c)  # the gain of doubling m0
        if first <= self.threshold:
            return self.m0
        return self.m0 * (first / self.threshold) ** (1 / self.c)


def fit_saturation(macs, accuracy, threshold: float = 0.5, a_max: float | None = None) -> Saturation | None:
    """Least-squares fit of :class:`Saturation` to (MACs, accuracy) points (scipy ``curve_fit``).

    ``threshold`` is in the units of ``accuracy`` (percentage points when it is in %), ``a_max`` an
    optional upper bound on the asymptote (100 for %). Needs at least 3 distinct MACs values;
    returns None with fewer, or when the fit does not converge.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    x, y = np.asarray(macs, dtype=float), np.asarray(accuracy, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[keep], y[keep]
    if np.unique(x).size < 3:
        return None
    m0 = float(x.min())
    top = np.inf if a_max is None else float(a_max)
    a0 = min(float(y.max()) + 1.0, top)
    p0 = (a0, max(a0 - float(y[x.argmin()]), 1e-3), 0.5)

    def curve(m, a, b, c):
        return a - b * (m / m0) ** -c

    try:
        with warnings.catch_warnings():  # the covariance is not used
            warnings.simplefilter("ignore", OptimizeWarning)
            (a, b, c), _ = curve_fit(curve, x, y, p0=p0, bounds=([-np.inf, 0.0, 1e-3], [top, np.inf, 10.0]),
                                     maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    return Saturation(float(a), float(b), float(c), m0, float(threshold))
