"""Figures from results tables (never from training): each function takes a DataFrame, returns a Figure.

Object-oriented matplotlib on an Agg canvas (``matplotlib.figure.Figure``, no pyplot state), so it
runs headless and in notebooks alike. Figures say no more than the numbers: points are seed means
with 95% t intervals, a fitted curve is drawn only where ``scaling.stats`` chooses it, and point
labels are placed so that they never overlap each other (:func:`label_points`).
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

from scaling import fidelity, files, results, scaling_math, stats, surface


def _figure(figsize) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def search_space(df: pd.DataFrame, target: float = 2.0) -> Figure:
    """Step 1: the candidates on the constraint surface alpha beta^2 gamma^2 = ``target`` (axes alpha and
    beta; gamma implied, dotted lines of equal gamma), coloured by mean minival top-1, with the response
    surface fitted to every run (``results.response_surface``): its contours inside the grid, its maximum
    and the bootstrap resamples' maxima, or what its stationary point is instead.

    One flat panel: a 3-D view's projection runs through BLAS, whose last bit follows the CPU, so its
    file would differ from machine to machine."""
    done = results.candidate_stats(df)
    fig = _figure((7.6, 5.6))
    ax = fig.add_subplot()
    optimum = results.response_surface(df, target)
    if done.empty:
        ax.set_title("compound-scaling candidates: none finished")
        return fig
    norm = matplotlib.colors.Normalize(100 * done["score"].min(), 100 * done["score"].max())
    _constraint_plane(ax, done, optimum, norm)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, pad=0.1,
                 label="minival top-1 (%), seed mean")
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    failed = _failed_candidates(df, done)
    if not failed.empty:
        at = np.exp(surface.project(failed["alpha"], failed["beta"], failed["gamma"], optimum.target))
        ax.scatter(at[:, 0], at[:, 1], marker="x", c="grey", s=50, zorder=3, label="failed")
    paper = np.exp(surface.project([1.2], [1.1], [1.15], optimum.target))[0]
    if x0 <= paper[0] <= x1 and y0 <= paper[1] <= y1:
        ax.scatter(*paper, marker="o", s=120, facecolors="none", edgecolors="black", zorder=3,
                   label="paper (1.2, 1.1, 1.15)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.legend(loc="best", fontsize="x-small")
    return fig


def _constraint_plane(ax, done: pd.DataFrame, optimum, norm) -> None:
    """The candidates and the fitted response surface on the constraint plane, axes alpha and beta
    (gamma implied: dotted lines of equal gamma)."""
    from matplotlib.patches import Polygon
    from matplotlib.path import Path

    where = np.exp(surface.project(done["alpha"], done["beta"], done["gamma"], optimum.target))
    lo, hi = where.min(0), where.max(0)
    pad = 0.08 * (hi - lo) + 0.01
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    alpha, beta = np.meshgrid(np.linspace(*ax.get_xlim(), 200), np.linspace(*ax.get_ylim(), 200))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for g in np.unique(np.round(done["gamma"], 6)):
        line = np.linspace(x0, x1, 100)
        ax.plot(line, np.sqrt(optimum.target / (g**2 * line)), color="0.6", linestyle=":", linewidth=0.8)
        # labelled where the line leaves the view: just beyond the right edge, or else inside the bottom one
        at_right = np.sqrt(optimum.target / (g**2 * x1))
        right = y0 <= at_right <= y1
        x, y = (x1, at_right) if right else (optimum.target / (g**2 * y0), y0)
        if x0 <= x <= x1:
            ax.annotate(f"gamma {g:g}", (x, y), xytext=(2, 0 if right else 2), textcoords="offset points",
                        ha="left", va="center" if right else "bottom", fontsize="x-small", color="0.45",
                        annotation_clip=False)
    ax.plot([], [], color="0.6", linestyle=":", linewidth=0.8, label="equal gamma")
    if optimum.surface is not None:  # drawn inside the hull only: beyond it the quadratic extrapolates
        ax.add_patch(Polygon(optimum.hull[:, :2], closed=True, fill=False, edgecolor="0.4", linestyle="--",
                             linewidth=0.8, label="searched range (hull)"))
        inside = Path(optimum.hull[:, :2]).contains_points(np.column_stack([alpha.ravel(), beta.ravel()]),
                                                            radius=1e-9).reshape(alpha.shape)
        field = np.where(inside, _settled(100 * optimum.surface(alpha, beta)), np.nan)
        fitted = ax.contour(alpha, beta, field, levels=8, colors="C0", linewidths=0.8)
        ax.clabel(fitted, fmt=lambda v: f"{v:.1f}", fontsize="x-small")
        ax.plot([], [], color="C0", linewidth=0.8, label="fitted minival top-1 (%)")
    ax.scatter(where[:, 0], where[:, 1], c=100 * done["score"], cmap="viridis", norm=norm, s=60, zorder=3,
               label="candidates (seed mean)")
    ax.scatter(where[:1, 0], where[:1, 1], marker="*", s=300, facecolors="none", edgecolors="red", zorder=3,
               label=f"best {done['candidate'].iloc[0]} (seed mean)")
    if len(optimum.cloud):
        cloud = _settled(optimum.cloud)
        ax.scatter(cloud[:, 0], cloud[:, 1], s=6, color="red", alpha=0.3, linewidths=0, zorder=2,
                   label=f"bootstrap maxima ({len(optimum.cloud)} of {optimum.resamples} resamples)")
    if optimum.status == "maximum":
        ax.scatter([optimum.alpha], [optimum.beta], marker="D", s=70, color="red", edgecolors="white", zorder=4,
                   label=f"maximum ({optimum.alpha:.3g}, {optimum.beta:.3g}, {optimum.gamma:.3g})")
    elif optimum.alpha is not None:
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        seen = "" if x0 <= optimum.alpha <= x1 and y0 <= optimum.beta <= y1 else ", beyond this view"
        ax.scatter([optimum.alpha], [optimum.beta], marker="X", s=70, color="0.2", zorder=4,
                   label=f"stationary point, a {optimum.status}:\n({optimum.alpha:.3g}, {optimum.beta:.3g}, "
                         f"{optimum.gamma:.3g}){seen}")
    ax.set_xlabel("alpha (depth)")
    ax.set_ylabel("beta (width)")
    verdict = {"maximum": "its maximum inside the grid", "not fitted": "not fitted"}.get(
        optimum.status, f"no optimum inside the grid ({optimum.status})")
    ax.set_title(f"candidates at phi = 1 on alpha·beta²·gamma² = {optimum.target:g}\nresponse surface: {verdict}",
                 fontsize="medium")
    if optimum.status == "not fitted":
        ax.text(0.5, 0.04, textwrap.fill(optimum.words, 60), transform=ax.transAxes, ha="center", fontsize="x-small")
    ax.grid(alpha=0.2)


def _settled(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to 9 decimals: least-squares fits run through BLAS, whose last bit follows the
    CPU (AVX2 and AVX-512 kernels differ), and the PDF writes 10 digits; rounded, one figure is one file."""
    return np.round(values, 9)


def ranking(df: pd.DataFrame) -> Figure:
    """Step 1: the candidates by mean minival top-1, best first, every seed drawn; grey where the best
    beats the candidate beyond the seed noise: paired by seed, Holm over the family of the best against
    each other candidate (``results.family``); all in colour with one seed each (noise unknown)."""
    done = results.candidate_stats(df)
    fig = _figure((6.4, max(3.2, 1.4 + 0.26 * len(done))))
    ax = fig.add_subplot()
    if not done.empty:
        runs = df[df["state"] == "COMPLETE"]
        best = done.iloc[0]["candidate"]
        others = list(done["candidate"].iloc[1:])
        family = results.family(runs.assign(score=runs["value"]), [(c, best) for c in others], metric="score") \
            if others else pd.DataFrame(columns=["p_holm"])
        beyond = dict(zip(others, family["p_holm"] < 0.05, strict=True))
        known = family["p_holm"].notna().any()
        for i, (_, row) in enumerate(done.iterrows()):
            color = "0.55" if beyond.get(row["candidate"], False) else "C0"
            seeds = 100 * runs.loc[runs["candidate"] == row["candidate"], "value"]  # the score: minival top-1
            ax.scatter(seeds, [i] * len(seeds), s=16, facecolors="none", edgecolors=color)
            ax.scatter([100 * row["score"]], [i], s=44, color=color)
        ax.set_yticks(range(len(done)), [_ranked_label(r) for _, r in done.iterrows()], fontsize="small")
        ax.set_ylim(len(done) - 0.5, -0.5)  # best on top
        if not known:
            ax.scatter([], [], s=44, color="C0", label="mean (one seed each: noise unknown)")
        else:
            ax.scatter([], [], s=44, color="C0", label="mean, within the seed noise of the best")
            ax.scatter([], [], s=44, color="0.55", label=f"mean, beyond it (paired by seed,\nHolm over {len(others)})")
        ax.scatter([], [], s=16, facecolors="none", edgecolors="0.3", label="one seed")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_xlabel("minival top-1 (%)")
    ax.set_ylabel("(alpha, beta, gamma), real MAC ratio")
    ax.set_title("candidates ranked by mean minival top-1")
    ax.grid(alpha=0.3, axis="x")
    return fig


def _ranked_label(row: pd.Series) -> str:
    ratio = f" x{row['mac_ratio']:.2f}" if pd.notna(row.get("mac_ratio")) else ""
    paper = " paper" if row.get("paper") is True else ""
    return f"({row['alpha']:g}, {row['beta']:g}, {row['gamma']:g}){ratio}{paper}"


def _failed_candidates(df: pd.DataFrame, done: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "fail_kind" not in df:
        return df.iloc[:0]
    failed = df[(df["state"] == "FAIL") & (df["fail_kind"].isin(("diverged", "out_of_memory")))]
    names = set(done["candidate"]) if not done.empty else set()
    return failed[~failed["candidate"].isin(names)].drop_duplicates("candidate")


def accuracy_vs_macs(df: pd.DataFrame) -> Figure:
    """Mean minival top-1 (95% t interval over seeds) against MACs, one labelled point per candidate or phi.

    A scale-up curve (several phi) is drawn on a log MACs axis, a search's candidates on a linear one.
    """
    done = results.candidate_stats(df)
    fig = _figure((6.4, 4.4))
    ax = fig.add_subplot()
    labels = []
    if not done.empty:
        curve = done["phi"].nunique() > 1 if "phi" in done else False
        if curve:
            done = done.sort_values("phi")
        x, y = done["macs"] / 1e6, 100 * done["score"]
        ci = 100 * np.nan_to_num(stats.half_width(done["score_std"], done["seeds"]))
        ax.errorbar(x, y, yerr=ci if (done["seeds"] > 1).any() else None, fmt="o-" if curve else "o", capsize=3,
                    label=_points_label("phi networks" if curve else "candidates", done["seeds"]))
        texts = [_point_text(r, curve) for _, r in done.iterrows()]
        labels = [(ax, xi, yi, t) for xi, yi, t in zip(x, y, texts, strict=True)]
        if curve:
            _log_axis(ax, x.min(), x.max())
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.margins(0.12)
    ax.set_xlabel("multiply-adds (millions" + (", log scale)" if ax.get_xscale() == "log" else ")"))
    ax.set_ylabel("minival top-1 (%)")
    ax.set_title("accuracy vs MACs")
    ax.grid(alpha=0.3)
    label_points(fig, labels)
    return fig


def _point_text(row: pd.Series, curve: bool) -> str:
    """A point's label: its phi on a scale-up curve, its (alpha, beta, gamma) in a search, its (d, w, r) in a sweep."""
    if curve:
        return f"phi={row['phi']:g}"
    if pd.notna(row.get("alpha")):
        return f"({row['alpha']:g}, {row['beta']:g}, {row['gamma']:g})"
    return f"d={row['d']:.3g} w={row['w']:.3g} r={row['r']:.3g}"


#: No timestamp in a figure's file: redrawing unchanged data rewrites the same bytes (git stays clean).
_METADATA = {"png": {}, "pdf": {"CreationDate": None}}


def save(fig: Figure, path_stem: str | os.PathLike, dpi: int = 150) -> None:
    """``<stem>.png`` and ``<stem>.pdf``, tight bounding box, each written atomically, byte-for-byte
    the same for the same figure."""
    for ext in ("png", "pdf"):
        files.atomic_write(f"{path_stem}.{ext}", lambda tmp, ext=ext: fig.savefig(
            tmp, format=ext, bbox_inches="tight", dpi=dpi, metadata=_METADATA[ext]))


#: Study kind -> the generic figures :func:`save_figures` draws for it. A sweep has its own accuracy
#: against MACs (:func:`sweep_figure`, one line per dimension), where networks of equal MACs, which Figs. 4
#: and 8 match on purpose, stay apart; one axis of per-network labels cannot tell them apart. A
#: calibration's rows differ by learning rate, not only by network (:func:`calibration_figure`).
STUDY_FIGURES = {"search": ("accuracy_vs_macs", "search_space", "ranking"), "scale-up": ("accuracy_vs_macs",)}


def save_figures(df: pd.DataFrame, directory: str | os.PathLike, kind: str, target: float = 2.0
                 ) -> list[pathlib.Path]:
    """The study's generic figures (``STUDY_FIGURES``) in ``directory``; returns the stems written.
    ``target``: a search's alpha beta^2 gamma^2."""
    directory = pathlib.Path(directory)
    draw = {"accuracy_vs_macs": accuracy_vs_macs, "search_space": lambda d: search_space(d, target),
            "ranking": ranking}
    stems = STUDY_FIGURES.get(kind, ())
    for stem in stems:
        save(draw[stem](df), directory / stem)
    return [directory / stem for stem in stems]


# --------------------------------------------------------------------------------------------
# Point labels that do not overlap
# --------------------------------------------------------------------------------------------
#: Directions tried around a point, in order (right-below first), at each distance of ``LABEL_RINGS``.
LABEL_DIRECTIONS = ((1, -1), (1, 1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
#: Distances (points) from the point to the label's nearest corner or edge; beyond the first, a leader line.
LABEL_RINGS = (5, 11, 18, 27, 38)
#: Half the side (points) of the square kept clear around every marker.
MARKER_CLEARANCE = 4.5
#: A label's cost: overlap (pixels^2) with another label, with a marker or outside its axes; without a
#: leader line, being nearer another point than its own; line samples (every 3 pixels of every drawn
#: line) under it; and the ring it is on. The cheapest wins.
LABEL_COSTS = {"label": 1e6, "marker": 1e3, "outside": 1e3, "ambiguous": 300.0, "line": 10.0, "ring": 15.0}


def label_points(fig: Figure, labels, fontsize="x-small") -> list:
    """Annotate ``labels`` ((axes, x, y, text) in data coordinates, optionally a fifth item: the text's
    colour) so that no two labels overlap.

    Call it once the figure is complete (it draws the canvas, then keeps the labels out of the layout).
    Each label in turn tries ``LABEL_DIRECTIONS`` at each of ``LABEL_RINGS`` around its point and takes
    the box (measured with the renderer) of least ``LABEL_COSTS``: clear of the labels placed before it,
    of every marker and of the axes' edges first, then of drawn lines, then near its point.
    Deterministic. Returns the annotations.
    """
    if not labels:
        return []
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72
    points, lines = {}, {ax: _line_samples(ax, 3.0) for ax, *_ in labels}
    for ax, x, y, *_ in labels:
        points.setdefault(ax, []).append(ax.transData.transform((x, y)))
    markers = {ax: [_square(p, MARKER_CLEARANCE * px) for p in mine] for ax, mine in points.items()}
    placed, out = [], []
    for ax, x, y, text, *color in labels:
        point = ax.transData.transform((x, y))
        probe = ax.text(0, 0, text, fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        probe.remove()
        frame = ax.get_window_extent(renderer)
        frame = (frame.x0, frame.y0, frame.x1, frame.y1)
        candidates = []
        for k, ring in enumerate(LABEL_RINGS):
            for ux, uy in LABEL_DIRECTIONS:
                rect = _label_box(point, ux, uy, ring * px, box.width, box.height)
                cost = (LABEL_COSTS["label"] * sum(_overlap(rect, other) for other in placed)
                        + LABEL_COSTS["marker"] * sum(_overlap(rect, m) for m in markers[ax])
                        + LABEL_COSTS["outside"] * (_area(rect) - _overlap(rect, frame))
                        + LABEL_COSTS["ambiguous"] * (k == 0 and _nearer_other(rect, point, points[ax]))
                        + LABEL_COSTS["line"] * _inside(lines[ax], rect) + LABEL_COSTS["ring"] * k)
                candidates.append((cost, k, ring, ux, uy, rect))
        _, k, ring, ux, uy, rect = min(candidates, key=lambda c: c[0])  # the first of equal costs
        ha, va = {1: "left", 0: "center", -1: "right"}[ux], {1: "bottom", 0: "center", -1: "top"}[uy]
        ink = color[0] if color else None
        arrow = dict(arrowstyle="-", lw=0.6, color=ink or "0.3", shrinkA=0, shrinkB=MARKER_CLEARANCE) if k else None
        ann = ax.annotate(text, (x, y), xytext=(ux * ring, uy * ring), textcoords="offset points", ha=ha, va=va,
                          fontsize=fontsize, color=ink, arrowprops=arrow, annotation_clip=False)
        ann.set_in_layout(False)
        placed.append(rect)
        out.append(ann)
    return out


def _line_samples(ax, step: float) -> np.ndarray:
    """Display points every ``step`` pixels along the drawn lines (not marker-only) and error bars of ``ax``."""
    paths = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines()
             if line.get_visible() and line.get_linestyle() not in ("None", "", " ")]
    paths += [bars.get_transform().transform(segment) for bars in ax.collections if isinstance(bars, LineCollection)
              for segment in bars.get_segments()]
    out = [np.empty((0, 2))]
    for path in paths:
        for a, b in zip(path[:-1], path[1:], strict=True):
            n = max(1, int(np.hypot(*(b - a)) / step))
            out.append(a + np.linspace(0, 1, n + 1)[:, None] * (b - a))
    return np.concatenate(out)


def _square(center, half):
    return (center[0] - half, center[1] - half, center[0] + half, center[1] + half)


def _label_box(point, ux, uy, offset, width, height):
    """(x0, y0, x1, y1) in pixels of a label ``offset`` from ``point`` in direction (ux, uy)."""
    x0 = point[0] + ux * offset - {1: 0, 0: width / 2, -1: width}[ux]
    y0 = point[1] + uy * offset - {1: 0, 0: height / 2, -1: height}[uy]
    return (x0, y0, x0 + width, y0 + height)


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _nearer_other(rect, own, points) -> bool:
    """Whether a point other than ``own`` is nearer the box than ``own`` (so the label reads as its)."""
    def distance(p):
        return np.hypot(max(rect[0] - p[0], 0, p[0] - rect[2]), max(rect[1] - p[1], 0, p[1] - rect[3]))
    mine = distance(own)
    return any(distance(p) < mine for p in points if not np.array_equal(p, own))


def _inside(points: np.ndarray, rect) -> int:
    x, y = points[:, 0], points[:, 1]
    return int(((x >= rect[0]) & (x <= rect[2]) & (y >= rect[1]) & (y <= rect[3])).sum())


def _area(rect) -> float:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


# --------------------------------------------------------------------------------------------
# Sweeps (paper Figs. 3, 4, 8), from results.sweep_table
# --------------------------------------------------------------------------------------------
#: Characters per line of a legend entry.
LEGEND_WIDTH = 44


def sweep_figure(table: pd.DataFrame, *, title: str = "", panels: bool = False, metric: str = "test_top1",
                 threshold: float = 0.5, fit: bool = True, logx: bool = True, resamples: int = 1000,
                 differences: bool = False, rerun: pd.DataFrame | None = None) -> Figure:
    """Top-1 (%) against MACs, one line per ``table["line"]`` (a ``results.sweep_table``).

    Points are seed means, labelled by their coefficient, with 95% t intervals when a point has more
    than one seed. ``fit``: per line, ``stats.fit_saturation`` on every seed's run (``threshold`` points
    per doubling, ``resamples`` bootstrap fits); its chosen curve is drawn (dashed) over the measured
    range only, a saturating curve or a line in log MACs, nothing for a flat line, and the legend gives
    its verdict; a saturation point is marked (a triangle with its interval as a bar) only when it and
    its interval lie inside the measured range. ``logx``: log MACs axis (each doubling the same width).
    ``panels``: one axes per line sharing the y axis (Fig. 3) instead of every line on one axes (Figs. 4, 8).
    ``rerun``: another draw of the same sweep (its ``sweep_table``), drawn as hollow markers at its
    point means beside each line's own.
    ``differences``: a second axes with each line minus the first over the MACs both span, each seed's
    own lines fitted in log MACs and paired by seed, with its 95% interval (``stats.compare_lines_paired``):
    Fig. 4's claim is a difference at equal cost.
    """
    table = flag_unequal_cost(table)
    lines = list(dict.fromkeys(table["line"]))
    n = max(1, len(lines)) if panels else 1
    fig = _figure((4.4 * n, 5.6) if panels else (14.0, 4.8) if differences else (9.0, 4.8))
    if differences:
        main, gaps = fig.subplots(1, 2, width_ratios=(1.5, 1))
        axes = np.array([main])
    else:
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    big = len(table) and table["macs"].max() >= 1e8
    scale, unit = (1e9, "billions") if big else (1e6, "millions")
    colors = matplotlib.colormaps["tab10"]
    handles, labels = [[] for _ in axes], []
    for i, line in enumerate(lines):
        k = i if panels else 0
        rows = table[table["line"] == line].sort_values("macs")
        mine, points = _draw_line(axes[k], rows, line, colors(i % 10), scale, metric, threshold, fit, resamples)
        handles[k] += mine
        labels += points
        if panels:
            axes[k].set_title(line)
        theirs = rerun[rerun["line"] == line].sort_values("macs") if rerun is not None else rows.iloc[:0]
        if len(theirs):
            axes[k].plot(theirs["macs"] / scale, 100 * theirs[metric], "o", mfc="none", ms=7, color=colors(i % 10))
    if rerun is not None and len(rerun):
        for mine in handles:
            mine.append(Line2D([], [], ls="none", marker="o", mfc="none", ms=7, color="0.3",
                               label="hollow: the rerun's point means"))
    for ax, mine in zip(axes, handles, strict=True):
        xs = [x for a, x, *_ in labels if a is ax]
        if logx and xs:
            _log_axis(ax, min(xs), max(xs))
        ax.set_xlabel(f"MACs ({unit}{', log scale' if logx else ''})")
        ax.grid(alpha=0.3)
        ax.margins(x=0.08, y=0.1)
        if mine:
            where = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.16)} if panels else \
                {"loc": "upper left", "bbox_to_anchor": (1.01, 1)}
            ax.legend(handles=mine, fontsize="x-small", frameon=False, **where)
    axes[0].set_ylabel(f"{metric.removesuffix('_top1')} top-1 (%)")
    if differences:
        _difference_panel(gaps, table, lines, colors, scale, unit, metric, logx)
    fig.suptitle(title)
    label_points(fig, _shared_once(labels))
    return fig


def _shared_once(labels: list) -> list:
    """``labels`` with a point several lines share under the same text (the baseline every strategy
    starts from) labelled once, in grey, instead of once per line on top of each other."""
    out = {}
    for ax, x, y, text, *color in labels:
        key = (ax, x, y, text)
        out[key] = (ax, x, y, text, "0.3") if key in out else (ax, x, y, text, *color)
    return list(out.values())


def _difference_panel(ax, table: pd.DataFrame, lines: list[str], colors, scale: float, unit: str, metric: str,
                      logx: bool) -> None:
    """Each line minus ``lines[0]`` over the MACs both span, paired by seed (each seed's own lines fitted
    in log MACs), with 95% bands where 2 or more seeds are shared."""
    def seed_runs(line):
        rows = table[table["line"] == line]
        macs, top1 = results.line_runs(rows, metric)
        return macs, 100 * top1, results.line_seeds(rows)

    reference = seed_runs(lines[0])
    spans = []
    for i, line in enumerate(lines[1:], 1):
        runs = seed_runs(line)
        lo, hi = max(reference[0].min(), runs[0].min()), min(reference[0].max(), runs[0].max())
        if not lo < hi:
            continue
        spans += [lo, hi]
        at = np.geomspace(lo, hi, 40)
        c = [stats.compare_lines_paired(*reference, *runs, m) for m in at]
        ax.plot(at / scale, [x.difference for x in c], color=colors(i % 10), lw=1.2, label=f"({line}) − ({lines[0]})")
        ax.fill_between(at / scale, [x.low for x in c], [x.high for x in c], color=colors(i % 10), alpha=0.15)
    ax.axhline(0, color="black", lw=0.8)
    if logx and spans:
        _log_axis(ax, min(spans) / scale, max(spans) / scale)
    ax.set_xlabel(f"MACs ({unit}{', log scale' if logx else ''})")
    ax.set_ylabel(f"difference in {metric.removesuffix('_top1')} top-1 (pts)")
    ax.set_title("each line minus the first at equal MACs, paired by seed, 95% CI", fontsize="small")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", frameon=False)


#: Fig. 8 compares at equal cost: a single-dimension point further than this (in ratio) from the MACs
#: of the nearest compound point is labelled with its cost ratio.
COST_TOLERANCE = 0.05


def flag_unequal_cost(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (a sweep table) with every non-compound label whose MACs are off the nearest compound
    point's by more than ``COST_TOLERANCE`` suffixed with the ratio (``w=2.23 (x1.18 cost)``)."""
    compound = table.loc[table["line"] == "compound", "macs"].to_numpy(float)
    if not compound.size:
        return table
    out = table.copy()
    for i, row in out[out["line"] != "compound"].iterrows():
        ratio = row["macs"] / compound[np.argmin(np.abs(np.log(compound / row["macs"])))]
        if not scaling_math.within_cost(ratio, COST_TOLERANCE):
            out.at[i, "label"] = f"{row['label']} (x{ratio:.2f} cost)"
    return out


def _points_label(line: str, seeds: pd.Series) -> str:
    lo, hi = int(seeds.min()), int(seeds.max())
    if hi == 1:
        return f"{line} (1 seed)"
    count = f"{lo}" if lo == hi else f"{lo}-{hi}"
    return f"{line} (mean of {count} seeds, 95% CI; dots: seeds)"


def _draw_line(ax, rows: pd.DataFrame, line: str, color, scale: float, metric: str, threshold: float, fit: bool,
               resamples: int) -> tuple[list, list]:
    """One line's points, fitted curve and saturation point: (legend handles, labels for label_points)."""
    x, y = rows["macs"] / scale, 100 * rows[metric]
    yerr = 100 * rows[f"{metric}_ci"].fillna(0) if (rows["seeds"] > 1).any() else None
    handles = [ax.errorbar(x, y, yerr=yerr, fmt="o-", lw=0.8, color=color, capsize=3,
                           label=_points_label(line, rows["seeds"]))]
    if (rows["seeds"] > 1).any():  # every seed beside its mean: 3 seeds are too few to hide behind a bar
        run_macs, run_top1 = results.line_runs(rows, metric)
        ax.plot(run_macs / scale, 100 * run_top1, ".", ms=3, alpha=0.45, color=color, zorder=1)
    labels = [(ax, xi, yi, text, color) for xi, yi, text in zip(x, y, rows["label"], strict=True)]  # in its colour
    if not fit:
        return handles, labels
    macs, top1 = results.line_runs(rows, metric)
    result = stats.fit_saturation(macs, 100 * top1, threshold=threshold, resamples=resamples)
    curve = result.curve()
    means = stats.slope_of_means(macs, 100 * top1)  # the slope's interval with lack of fit counted
    lack = "" if math.isnan(means.low) else (f"; on the point means {means.slope:+.1f} "
                                             f"({means.low:+.1f} to {means.high:+.1f})")
    verdict = textwrap.fill(result.verdict + lack, LEGEND_WIDTH)
    if curve is None:
        handles.append(Line2D([], [], ls="none", label=f"no fit: {verdict}"))
        return handles, labels
    p, x0 = result.params, f"x = log2(M / {result.m0 / scale:.3g})"
    what = (f"fit a - b 2^(-c x), {x0}: a={p['a']:.1f} b={p['b']:.1f} c={p['c']:.2f}"
            if result.model == "saturating" else f"fit a + s x, {x0}")
    handles += ax.plot(curve[0] / scale, curve[1], "--", lw=1.5, color=color,
                       label=f"{textwrap.fill(what, LEGEND_WIDTH)}\n{verdict}")
    if result.saturation_macs is not None:
        at, (lo, hi) = result.saturation_macs, result.saturation_ci
        handles.append(ax.errorbar([at / scale], [result(at)], xerr=[[(at - lo) / scale], [(hi - at) / scale]],
                                   fmt="v", ms=9, mfc="none", color=color, capsize=4,
                                   label=f"saturation point, 95% CI (< {threshold:g} pts per doubling)"))
    return handles, labels


def _log_axis(ax, lo: float, hi: float) -> None:
    """Log x axis with plain-number ticks: 1-2-5 steps over a decade or more, finer under one."""
    ax.set_xscale("log")
    subs = (1.0, 2.0, 5.0) if hi / lo >= 10 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_sweep_figures(df: pd.DataFrame, directory: str | os.PathLike, sweep: str, *, subtitle: str = "",
                       rerun: pd.DataFrame | None = None, **kwargs) -> list[pathlib.Path]:
    """The sweep's figure (its registration, :data:`scaling.sweeps.SWEEPS`) from its trials table, as PNG
    and PDF, one per budget of a study with budgets (``figure8_x2``), with ``rerun``'s (a rerun's trials
    table) means where given; returns the stems."""
    from scaling import sweeps  # the kinds' registry; imported here, as it loads the training stack

    kind = sweeps.kind(sweep)
    by_budget = df.groupby("budget", sort=False) if "budget" in df else [(None, df)]
    out = []
    for budget, rows in by_budget:
        path = pathlib.Path(directory) / (kind.figure if budget is None else f"{kind.figure}_{_file_label(budget)}")
        where = "" if budget is None else f", budget {budget}"
        theirs = None if rerun is None else results.sweep_table(
            rerun if budget is None or "budget" not in rerun else rerun[rerun["budget"] == budget])
        save(sweep_figure(results.sweep_table(rows), title=f"{kind.title}{where}{subtitle}", panels=kind.panels,
                          differences=kind.differences, rerun=theirs, **kwargs), path)
        out.append(path)
    return out


def _file_label(budget: str) -> str:
    return budget.replace("@", "_at_")


def redraw(directory: str | os.PathLike, rerun: str | os.PathLike | None = "first", **kwargs) -> list[pathlib.Path]:
    """Every figure of the study in ``directory``, from its trials table (no training); returns the stems.

    ``rerun``: the directory of a rerun of the same study, whose point means a sweep's figure draws too;
    ``"first"``: the study's first rerun beside it, if any (:func:`scaling.results.first_rerun`), so a
    study's end and ``scaling plot`` draw the same file; None: none.
    ``kwargs`` (metric, threshold, fit, logx, resamples) go to :func:`sweep_figure` for sweeps.
    """
    directory = pathlib.Path(directory)
    if rerun == "first":
        rerun = results.first_rerun(directory)
    df, summary = results.load(directory)
    kind = summary["kind"]
    stems = save_figures(df, directory, kind, summary.get("coefficients", {}).get("target", 2.0))
    if kind.startswith("sweep:"):
        theirs = results.load(rerun)[0] if rerun is not None else None
        stems += save_sweep_figures(df, directory, kind.removeprefix("sweep:"), subtitle=_subtitle(summary),
                                    rerun=theirs, **kwargs)
    if "budget" in df and df.loc[df["state"] == "COMPLETE", "budget"].nunique() > 1:
        save(fidelity_figure(fidelity.ladder_table(df), f"Top-1 against the training budget{_subtitle(summary)}"),
             directory / "fidelity")
        stems.append(directory / "fidelity")
    if kind == "calibration":
        table = results.calibration_table(df, summary["config"]["tolerance"])
        save(calibration_figure(table, f"Recipe calibration{_subtitle(summary)}"), directory / "calibration")
        stems.append(directory / "calibration")
    return stems


#: Okabe & Ito's colour-blind safe palette (black first: the baseline).
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442")


def fidelity_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Test and train top-1 (%) against each budget's training steps (log2 axis), one line per network
    (a ``fidelity.ladder_table``): seed means with 95% t intervals and every seed as a dot. Budgets on
    the study's own images are joined; an arm on other images (``x1@all``) is a lone diamond."""
    fig = _figure((10.5, 4.4))
    axes = fig.subplots(1, 2)
    nets = list(dict.fromkeys(table["network"]))
    offsets = 2.0 ** (0.03 * (np.arange(len(nets)) - (len(nets) - 1) / 2))  # side by side, no bar hides another
    for ax, metric in zip(axes, fidelity.METRICS, strict=True):
        for i, net in enumerate(nets):
            rows = table[table["network"] == net].sort_values("steps")
            color = OKABE_ITO[i % len(OKABE_ITO)]
            for arm, mine in rows.groupby(rows["budget"].str.contains("@"), sort=True):
                x = mine["steps"] * offsets[i]
                ci = 100 * mine[f"{metric}_ci"].fillna(0) if (mine["seeds"] > 1).any() else None
                ax.errorbar(x, 100 * mine[metric], yerr=ci, fmt="D" if arm else "o-", mfc="none" if arm else color,
                            color=color, lw=1, capsize=3, label=None if arm else rows["label"].iloc[0])
                dots = [(xi, 100 * v) for xi, seeds in zip(x, mine[f"{metric}_seeds"], strict=True) for v in seeds]
                ax.plot(*zip(*dots, strict=True), ".", ms=4, alpha=0.45, color=color)
        ax.set_xscale("log", base=2)
        ticks = table.groupby("budget")["steps"].first().sort_values()
        ax.set_xticks(ticks.to_numpy(), [f"{s}\n{b}" for b, s in ticks.items()])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("training steps and budget (log scale)")
        ax.set_ylabel(f"{metric.removesuffix('_top1')} top-1 (%)")
        ax.grid(alpha=0.3)
    arms = sorted(set(table.loc[table["budget"].str.contains("@"), "budget"]))
    extra = [Line2D([], [], ls="none", marker=".", color="grey", label="one seed")]
    extra += [Line2D([], [], ls="none", marker="D", mfc="none", color="grey", label=f"{a}: other training images")
              for a in arms]
    handles, labels = axes[0].get_legend_handles_labels()
    axes[1].legend(handles=handles + extra, labels=labels + [h.get_label() for h in extra], fontsize="x-small",
                   frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1),
                   title="mean of the seeds, 95% CI", title_fontsize="x-small")
    fig.suptitle(title)
    return fig


def calibration_figure(table: pd.DataFrame, title: str = "") -> Figure:
    """Test and train top-1 (%) against the learning-rate factor (log2 axis), one line per network:
    the mean with its 95% CI and every seed as a dot. The y axis spans the seeds (a 2-seed CI is
    12.7 standard errors wide and would squash the data), so longer bars are clipped at the axes."""
    fig = _figure((10.0, 4.4))
    axes = fig.subplots(1, 2, sharey=False)
    colors = matplotlib.colormaps["tab10"]
    groups = list(table.groupby(["d", "w", "r"], sort=False))
    clipped = False
    for ax, metric in zip(axes, ("test_top1", "train_top1"), strict=True):
        values = 100 * np.concatenate([np.asarray(v, float) for v in table[f"{metric}_seeds"]]) if len(table) else [0]
        lo, hi = max(0.0, np.min(values) - 4), min(100.0, np.max(values) + 4)
        ci_all = 100 * np.nan_to_num(table[f"{metric}_ci"])
        clipped |= bool(((100 * table[metric] - ci_all < lo) | (100 * table[metric] + ci_all > hi)).any())
        ax.set_ylim(lo, hi)
    for i, ((d, w, r), rows) in enumerate(groups):
        rows = rows.sort_values("lr_factor")
        name = f"d={d:g} w={w:g} r={r:g} ({rows['macs'].iloc[0] / 1e6:.2g} M MACs)"
        # Networks share the factors: each is nudged sideways (by 3% of a factor) so no bar hides another.
        x = rows["lr_factor"] * 2.0 ** (0.04 * (i - (len(groups) - 1) / 2))
        for ax, metric in zip(axes, ("test_top1", "train_top1"), strict=True):
            ci = 100 * np.nan_to_num(rows[f"{metric}_ci"]) if (rows["seeds"] > 1).any() else None
            ax.errorbar(x, 100 * rows[metric], yerr=ci, fmt="o-", capsize=3, color=colors(i % 10), label=name)
            dots = [(xi, 100 * v) for xi, seeds in zip(x, rows[f"{metric}_seeds"], strict=True) for v in seeds]
            ax.plot(*zip(*dots, strict=True), ".", ms=4, alpha=0.6, color=colors(i % 10))
    for ax, metric in zip(axes, ("test", "train (last epoch, augmented)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(table["lr_factor"].unique()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("learning rate / the recipe's")
        ax.set_ylabel(f"{metric} top-1 (%)")
        ax.axvline(1, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    seeds = int(table["seeds"].min()) if len(table) else 0
    note = f"mean of {seeds} seeds, 95% CI; dots: each seed"
    note += "\n(longer bars clipped at the axes)" if clipped else ""
    # Below both panels: inside one, the legend hid seeds (a rerun's 48.4% at d 8, factor 1).
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize="x-small",
               title=note, title_fontsize="x-small")
    fig.suptitle(title or "Recipe calibration")
    return fig


def _subtitle(summary: dict) -> str:
    return f"\n{summary['baseline']['baseline']} on {results.dataset_label(summary['dataset'])}, {summary['study']}"


def redraw_figure3(directories, **kwargs) -> list[pathlib.Path]:
    """Fig. 3 as one figure (width, depth, resolution panels) per results directory, baseline and dataset
    that has at least two of the three single-dimension sweeps among ``directories``, written beside
    them (``<results dir>/figure3_<baseline>_<dataset>``, :func:`scaling.results.dataset_label`); of two
    studies of one dimension, the later in ``directories`` wins. Returns the stems."""
    groups: dict[tuple[pathlib.Path, str, str], dict[str, pd.DataFrame]] = {}
    for directory in map(pathlib.Path, directories):
        df, summary = results.load(directory)
        sweep = summary["kind"].removeprefix("sweep:")
        if sweep in results.SINGLE_DIMENSIONS:
            key = (directory.parent, summary["baseline"]["baseline"], results.dataset_label(summary["dataset"]))
            groups.setdefault(key, {})[sweep] = results.sweep_table(df)
    out = []
    for (root, baseline, dataset), tables in groups.items():
        if len(tables) < 2:
            continue
        table = pd.concat([tables[s] for s in results.SINGLE_DIMENSIONS if s in tables], ignore_index=True)
        fig = sweep_figure(table, title=f"Fig. 3: scaling up one dimension\n{baseline} on {dataset}", panels=True,
                           **kwargs)
        path = root / ("figure3_" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{baseline}_{dataset}"))
        save(fig, path)
        out.append(path)
    return out
