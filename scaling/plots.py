"""Figures from results tables (never from training): each function takes a DataFrame, returns a Figure.

Object-oriented matplotlib on the Agg canvas (``matplotlib.figure.Figure``, no pyplot state), so it
runs headless and in notebooks alike.
"""

from __future__ import annotations

import os
import pathlib
import re

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scaling import results


def search_space(df: pd.DataFrame) -> Figure:
    """Step 1: the candidates in (alpha, beta, gamma) space coloured by mean minival top-1."""
    stats = results.candidate_stats(df)
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot(projection="3d")
    if not stats.empty:
        points = ax.scatter(stats["alpha"], stats["beta"], stats["gamma"], c=100 * stats["score"], cmap="viridis",
                            s=60, depthshade=False)
        fig.colorbar(points, ax=ax, shrink=0.7, pad=0.1, label="minival top-1 (%)")
        best = stats.iloc[0]
        ax.scatter([best["alpha"]], [best["beta"]], [best["gamma"]], marker="*", s=300, facecolors="none",
                   edgecolors="red", label=f"best {best['candidate']}")
    failed = _failed_candidates(df, stats)
    if not failed.empty:
        ax.scatter(failed["alpha"], failed["beta"], failed["gamma"], marker="x", c="grey", s=50, label="failed")
    ax.scatter([1.2], [1.1], [1.15], marker="o", s=120, facecolors="none", edgecolors="black",
               label="paper (1.2, 1.1, 1.15)")
    ax.set_xlabel("alpha (depth)")
    ax.set_ylabel("beta (width)")
    ax.set_zlabel("gamma (resolution)")
    ax.set_title("compound-scaling candidates at phi = 1")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def _failed_candidates(df: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "fail_kind" not in df:
        return df.iloc[:0]
    failed = df[(df["state"] == "FAIL") & (df["fail_kind"].isin(("diverged", "out_of_memory")))]
    done = set(stats["candidate"]) if not stats.empty else set()
    return failed[~failed["candidate"].isin(done)].drop_duplicates("candidate")


def accuracy_vs_macs(df: pd.DataFrame) -> Figure:
    """Mean minival top-1 (± seed std) against MACs, one labelled point per candidate or phi."""
    stats = results.candidate_stats(df)
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    if not stats.empty:
        curve = stats["phi"].nunique() > 1 if "phi" in stats else False
        if curve:
            stats = stats.sort_values("phi")
        ax.errorbar(stats["macs"] / 1e6, 100 * stats["score"], yerr=100 * stats["score_std"].fillna(0),
                    fmt="o-" if curve else "o", capsize=3)
        for _, row in stats.iterrows():
            label = f"phi={row['phi']:g}" if curve else f"({row['alpha']:g}, {row['beta']:g}, {row['gamma']:g})"
            ax.annotate(label, (row["macs"] / 1e6, 100 * row["score"]), textcoords="offset points", xytext=(4, 4),
                        fontsize="x-small")
        ax.set_xscale("log" if curve else "linear")
    ax.set_xlabel("multiply-adds (millions)")
    ax.set_ylabel("minival top-1 (%)")
    ax.set_title("accuracy vs MACs")
    ax.grid(alpha=0.3)
    return fig


def save(fig: Figure, path_stem: str | os.PathLike) -> None:
    """``<stem>.png`` and ``<stem>.pdf``, tight bounding box."""
    for ext in ("png", "pdf"):
        path = pathlib.Path(f"{path_stem}.{ext}")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.{ext}")
        fig.savefig(tmp, bbox_inches="tight", dpi=150)
        os.replace(tmp, path)


def save_figures(df: pd.DataFrame, directory: str | os.PathLike, kind: str) -> None:
    """The study's figures in ``directory``: search space (step 1 only) and accuracy vs MACs."""
    directory = pathlib.Path(directory)
    if kind == "search":
        save(search_space(df), directory / "search_space")
    save(accuracy_vs_macs(df), directory / "accuracy_vs_macs")


# --------------------------------------------------------------------------------------------
# Sweeps (paper Figs. 3, 4, 8), from results.sweep_table
# --------------------------------------------------------------------------------------------
#: Sweep -> (file stem, title, one panel per line).
SWEEP_FIGURES = {
    "width": ("figure3_width", "Fig. 3: scaling up width", True),
    "depth": ("figure3_depth", "Fig. 3: scaling up depth", True),
    "resolution": ("figure3_resolution", "Fig. 3: scaling up resolution", True),
    "width-baselines": ("figure4", "Fig. 4: scaling up width for different baselines", False),
    "compound-vs-single": ("figure8", "Fig. 8: scaling up the baseline with different methods", False),
}
SINGLE_DIMENSIONS = ("width", "depth", "resolution")
#: How far right of the last point a fitted curve is extended to show its saturation point.
EXTRAPOLATE = 4.0


def sweep_figure(table: pd.DataFrame, *, title: str = "", panels: bool = False, metric: str = "test_top1",
                 threshold: float = 0.5, fit: bool = True) -> Figure:
    """Top-1 (%) against MACs, one line per ``table["line"]`` (a ``results.sweep_table``).

    Each point is labelled by its coefficient; error bars are the seed std when a point has more than
    one seed. ``fit``: per line, the saturating curve of ``results.fit_saturation`` (dashed; the
    legend gives a, b, c of a - b (M/M0)^-c) and, as a triangle, the MACs beyond which one more
    doubling gains less than ``threshold`` points. ``panels``: one axes per line sharing the y axis
    (Fig. 3) instead of every line on one axes (Figs. 4, 8).
    """
    lines = list(dict.fromkeys(table["line"]))
    n = max(1, len(lines)) if panels else 1
    fig = Figure(figsize=(4.4 * n, 4.6) if panels else (8.0, 4.6), layout="constrained")
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    big = len(table) and table["macs"].max() >= 1e8
    scale, unit = (1e9, "billions") if big else (1e6, "millions")
    colors = matplotlib.colormaps["tab10"]
    handles = [[] for _ in axes]
    for i, line in enumerate(lines):
        k = i if panels else 0
        rows = table[table["line"] == line].sort_values("macs")
        handles[k] += _draw_line(axes[k], rows, line, colors(i % 10), scale, unit, metric, threshold, fit)
        if panels:
            axes[k].set_title(line)
    for ax, mine in zip(axes, handles, strict=True):
        ax.set_xlabel(f"MACs ({unit})")
        ax.grid(alpha=0.3)
        if mine:
            where = {"loc": "lower right"} if panels else {"loc": "upper left", "bbox_to_anchor": (1.01, 1)}
            ax.legend(handles=mine, fontsize="x-small", **where)
    axes[0].set_ylabel(f"{metric.removesuffix('_top1')} top-1 (%)")
    fig.suptitle(title)
    return fig


def _draw_line(ax, rows: pd.DataFrame, line: str, color, scale: float, unit: str, metric: str, threshold: float,
               fit: bool) -> list:
    """One line with its labels, fitted curve and saturation point; returns its legend handles."""
    x, y = rows["macs"] / scale, 100 * rows[metric]
    std = rows[metric.replace("top1", "std")]
    yerr = 100 * std.fillna(0) if (rows["seeds"] > 1).any() else None
    handles = [ax.errorbar(x, y, yerr=yerr, fmt="o-", color=color, capsize=3, label=line)]
    for xi, yi, label in zip(x, y, rows["label"], strict=True):
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, -11), fontsize="x-small")
    curve = results.fit_saturation(rows["macs"], y, threshold, a_max=100) if fit else None
    if curve is None:
        return handles
    last = rows["macs"].max()
    at = curve.saturation_macs
    m = np.geomspace(curve.m0, max(last, min(at, EXTRAPOLATE * last)), 200)
    handles += ax.plot(m / scale, curve(m), "--", lw=1, color=color,
                       label=f"fit a={curve.a:.1f} b={curve.b:.2g} c={curve.c:.2f}; "
                             f"< {threshold:g} pts per 2x MACs beyond {at / scale:.3g} {unit[0].upper()}")
    if at <= EXTRAPOLATE * last:
        ax.plot([at / scale], [curve(at)], "v", ms=9, mfc="none", color=color)
    return handles


def save_sweep_figures(df: pd.DataFrame, directory: str | os.PathLike, sweep: str, *, subtitle: str = "",
                       **kwargs) -> pathlib.Path:
    """The sweep's figure (``SWEEP_FIGURES``) from its trials table, as PNG and PDF; returns the stem."""
    stem, title, panels = SWEEP_FIGURES[sweep]
    path = pathlib.Path(directory) / stem
    fig = sweep_figure(results.sweep_table(df), title=f"{title}{subtitle}", panels=panels, **kwargs)
    save(fig, path)
    return path


def redraw(directory: str | os.PathLike, **kwargs) -> list[pathlib.Path]:
    """Every figure of the study in ``directory``, from its trials table (no training); returns the stems.

    ``kwargs`` (metric, threshold, fit) go to :func:`sweep_figure` for sweeps.
    """
    directory = pathlib.Path(directory)
    df, summary = results.load(directory)
    kind = summary["kind"]
    if kind.startswith("sweep:"):
        return [save_sweep_figures(df, directory, kind.removeprefix("sweep:"), subtitle=_subtitle(summary), **kwargs)]
    save_figures(df, directory, kind)
    return [directory / "accuracy_vs_macs"] + ([directory / "search_space"] if kind == "search" else [])


def _subtitle(summary: dict) -> str:
    train = summary["config"]["train"]
    return f"\n{train['baseline']} on {train['dataset']}, {summary['study']}"


def redraw_figure3(directories, results_dir: str | os.PathLike, **kwargs) -> list[pathlib.Path]:
    """Fig. 3 as one figure (width, depth, resolution panels) per (baseline, dataset) that has at
    least two of the three single-dimension sweeps among ``directories``, in ``results_dir``
    (``figure3_<baseline>_<dataset>``, a ``folder:`` dataset by its directory's name); of two
    studies of one dimension, the later in ``directories`` wins. Returns the stems."""
    groups: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for directory in directories:
        df, summary = results.load(directory)
        sweep = summary["kind"].removeprefix("sweep:")
        if sweep in SINGLE_DIMENSIONS:
            train = summary["config"]["train"]
            groups.setdefault((train["baseline"], train["dataset"]), {})[sweep] = results.sweep_table(df)
    out = []
    for (baseline, dataset), tables in groups.items():
        if len(tables) < 2:
            continue
        table = pd.concat([tables[s] for s in SINGLE_DIMENSIONS if s in tables], ignore_index=True)
        fig = sweep_figure(table, title=f"Fig. 3: scaling up one dimension\n{baseline} on {dataset}", panels=True,
                           **kwargs)
        name = pathlib.PurePath(dataset.removeprefix("folder:")).name if dataset.startswith("folder:") else dataset
        path = pathlib.Path(results_dir) / ("figure3_" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{baseline}_{name}"))
        save(fig, path)
        out.append(path)
    return out
