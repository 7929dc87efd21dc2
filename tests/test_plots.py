"""Sweep figures (Figs. 3, 4, 8), the sweep table and point labels, on fixed tables (no training)."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation, Text

from scaling import cli, plots, results, stats

# The paper's Fig. 3 multipliers and their B0 GMACs under the TF rounding (reference notes, sec. 4.2).
FIG3 = {
    "width": ([1.0, 1.4, 1.8, 2.6, 3.8, 5.0], [0.39, 0.74, 1.18, 2.39, 5.06, 8.71]),
    "depth": ([1.0, 2.0, 3.0, 4.0, 6.0, 8.0], [0.39, 0.78, 1.18, 1.58, 2.37, 3.16]),
    "resolution": ([1.0, 1.3, 1.5, 1.7, 1.9, 2.2, 2.5], [0.39, 0.72, 0.89, 1.13, 1.46, 1.92, 2.45]),
}


def _rows(line, coefficients, gmacs, symbol, seeds=1, noise=0.0, top1=None, rng_seed=0):
    """A ``results.sweep_table`` of one line: per-seed top-1 = ``top1(x)`` (x = log2(MACs / first), %) + noise."""
    rng = np.random.default_rng(rng_seed)
    top1 = top1 or (lambda x: 80 - 3 * 2.0 ** (-0.7 * x))
    per_seed = [tuple((top1(np.log2(g / gmacs[0])) + rng.normal(0, noise, seeds)) / 100) for g in gmacs]
    table = pd.DataFrame({"line": line, "coefficient": coefficients, "label": [f"{symbol}={c:g}" for c in coefficients],
                          "candidate": [f"{line}{c}" for c in coefficients], "seeds": seeds,
                          "run_seeds": [tuple(range(seeds))] * len(coefficients), "macs": [g * 1e9 for g in gmacs],
                          "params": 5e6})
    for metric in results.SWEEP_METRICS:
        found = [stats.interval(v) for v in per_seed]
        table[metric] = [iv.mean for iv in found]
        table[f"{metric}_std"] = [iv.std for iv in found]
        table[f"{metric}_ci"] = [iv.half_width for iv in found]
        table[f"{metric}_seeds"] = per_seed
    return table


def _fig3_table(**kwargs):
    return pd.concat([_rows(line, c, g, line[0], **kwargs) for line, (c, g) in FIG3.items()], ignore_index=True)


def _points(container):
    return list(container.lines[0].get_xdata())


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _label_boxes(fig):
    """The text boxes (display) of every point label (an Annotation's own extent would include its leader line)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)]


def _overlapping(boxes):
    return [(a, b) for a, b in itertools.combinations(boxes, 2) if a.overlaps(b)]


def test_figure3_three_labelled_panels_on_a_log_macs_axis():
    fig = plots.sweep_figure(_fig3_table(), title="Fig. 3", panels=True, fit=False)
    assert len(fig.axes) == 3 and fig._suptitle.get_text() == "Fig. 3"
    for ax, (line, (coefficients, gmacs)) in zip(fig.axes, FIG3.items(), strict=True):
        assert ax.get_title() == line and ax.get_xlabel() == "MACs (billions, log scale)" and ax.get_xscale() == "log"
        (container,) = ax.containers  # one line per panel
        assert _points(container) == pytest.approx(gmacs)
        assert not container.has_yerr  # one seed: no error bars
        assert [t.get_text() for t in ax.texts] == [f"{line[0]}={c:g}" for c in coefficients]
        assert _legend(ax) == [f"{line} (1 seed)"]
    assert fig.axes[0].get_ylabel() == "test top-1 (%)"
    assert plots.sweep_figure(_fig3_table(), panels=True, logx=False).axes[0].get_xscale() == "linear"


def test_error_bars_are_the_95_percent_t_interval_of_the_seed_mean():
    widths, gmacs = FIG3["width"]
    lines = ["d=1, r=1", "d=1, r=1.3", "d=2, r=1", "d=2, r=1.3"]
    table = pd.concat([_rows(line, widths, [g * (1 + i) for g in gmacs], "w", seeds=3, noise=0.4, rng_seed=i)
                       for i, line in enumerate(lines)], ignore_index=True)
    fig = plots.sweep_figure(table, panels=False, metric="minival_top1", fit=False)
    (ax,) = fig.axes
    assert len(ax.containers) == 4 and all(c.has_yerr for c in ax.containers)
    segments = ax.containers[0].lines[2][0].get_segments()
    half = [(top[1] - bottom[1]) / 2 for bottom, top in segments]
    rows = table[table["line"] == lines[0]]
    assert half == pytest.approx(list(100 * rows["minival_top1_ci"]))
    assert half == pytest.approx([100 * stats.interval(v).half_width for v in rows["minival_top1_seeds"]])
    assert ax.get_ylabel() == "minival top-1 (%)"
    assert all(f"{line} (mean of 3 seeds, 95% CI; dots: seeds)" in _legend(ax) for line in lines)
    assert len(ax.texts) == 24 and not _overlapping(_label_boxes(fig))


def test_fits_are_drawn_only_where_stats_chooses_them_and_the_legend_says_why():
    rising = _rows("resolution", *FIG3["resolution"], "r", seeds=3, noise=0.2, top1=lambda x: 60 + 4 * x)
    falling = _rows("depth", *FIG3["depth"], "d", seeds=3, noise=0.2, top1=lambda x: 60 - 4 * x)
    flat = _rows("width", *FIG3["width"], "w", seeds=3, noise=0.5, top1=lambda x: 60 + 0 * x, rng_seed=1)
    fig = plots.sweep_figure(pd.concat([flat, falling, rising], ignore_index=True), panels=True)
    dashed = [[line for line in ax.lines if line.get_linestyle() == "--"] for ax in fig.axes]
    assert [len(d) for d in dashed] == [0, 1, 1]
    legends = [" ".join(_legend(ax)).replace("\n", " ") for ax in fig.axes]
    assert "no fit: does not rise significantly" in legends[0]
    assert "does not rise (falls 4." in legends[1]
    assert "rises linearly in log MACs" in legends[2] and "no saturation in the measured range" in legends[2]
    x, y = dashed[2][0].get_data()  # the line, over the measured range only
    assert (x[0], x[-1]) == pytest.approx((0.39, 2.45)) and y[-1] > y[0]
    no_fit = plots.sweep_figure(rising, fit=False)
    assert not any(line.get_linestyle() == "--" for line in no_fit.axes[0].lines)


def test_saturation_point_with_its_interval_only_inside_the_measured_range():
    gmacs = [0.39 * 2**k for k in range(6)]
    table = _rows("width", [1, 2, 3, 4, 5, 6], gmacs, "w", seeds=3, noise=0.3, top1=lambda x: 80 - 20 * 2 ** (-1.2 * x))
    fig = plots.sweep_figure(table, threshold=1.0, resamples=100)
    ax = fig.axes[0]
    (curve,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    (marker,) = [line for line in ax.lines if line.get_marker() == "v"]
    at = marker.get_xdata()[0]
    assert gmacs[0] < at < gmacs[-1] and at == pytest.approx(0.39 * 2 ** (np.log2(20 * 1.2 * np.log(2)) / 1.2), rel=0.1)
    legend = " ".join(_legend(ax)).replace("\n", " ")
    assert "rises, then saturates: < 1 pts per doubling beyond" in legend and "saturation point, 95% CI" in legend
    beyond = plots.sweep_figure(table, threshold=0.2, resamples=100).axes[0]
    assert not [line for line in beyond.lines if line.get_marker() == "v"]
    assert "not reached in the measured range" in " ".join(_legend(beyond)).replace("\n", " ")


def test_close_points_get_labels_that_do_not_overlap():
    """r=2.2 and r=2.5 at nearly equal MACs and accuracy (the committed Fig. 3), and Fig. 8's shared baseline."""
    close = _rows("resolution", [1, 1.3, 1.5, 1.7, 1.9, 2.2, 2.5], [0.50, 1.12, 1.24, 1.61, 1.91, 2.83, 2.90], "r",
                  top1=lambda x: [39.0, 46.2, 45.7, 46.6, 48.2, 51.1, 51.3][int(np.argmin(np.abs(
                      np.log2(np.array([0.50, 1.12, 1.24, 1.61, 1.91, 2.83, 2.90]) / 0.5) - x)))])
    for logx in (True, False):
        fig = plots.sweep_figure(close, panels=True, logx=logx)
        boxes = _label_boxes(fig)
        assert len(boxes) == 7 and not _overlapping(boxes)
        frame = fig.axes[0].get_window_extent()
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)
    shared = pd.concat([_rows(line, [0, 1, 2], [0.5e-3, 1.2e-3, 1.8e-3], line[0], top1=lambda x, k=k: 39 + k * x)
                        for k, line in enumerate(("width", "depth", "resolution", "compound"))], ignore_index=True)
    boxes = _label_boxes(plots.sweep_figure(shared))
    assert len(boxes) == 12 and not _overlapping(boxes)


def test_a_point_lines_share_under_one_text_is_labelled_once():
    """The strategies figure: every strategy starts from the same baseline run, labelled s=1 by each."""
    lines = ("compound", "dwr", "width", "depth")
    table = pd.concat([_rows(line, [1, 2, 4], [1.0, 2.0, 4.0], "s", top1=lambda x, k=k: 50 + k * x)
                       for k, line in enumerate(lines)], ignore_index=True)
    fig = plots.sweep_figure(table, fit=False)
    texts = [(t.get_text(), t.get_color()) for t in fig.axes[0].texts if isinstance(t, Annotation)]
    assert [c for t, c in texts if t == "s=1"] == ["0.3"]
    assert sorted(t for t, _ in texts).count("s=2") == len(lines) and len(texts) == 1 + 2 * len(lines)


def test_label_points_keeps_labels_off_every_marker():
    fig = plots._figure((4, 3))
    ax = fig.add_subplot()
    x, y = [1.0, 1.02, 1.04, 2.0], [5.0, 5.01, 5.0, 6.0]
    ax.plot(x, y, "o")
    plots.label_points(fig, [(ax, xi, yi, f"point {i}") for i, (xi, yi) in enumerate(zip(x, y, strict=True))])
    boxes = _label_boxes(fig)
    assert len(boxes) == 4 and not _overlapping(boxes)
    centers = ax.transData.transform(np.column_stack([x, y]))
    assert not any(b.contains(cx, cy) for b in boxes for cx, cy in centers)


# --------------------------------------------------------------------------------------------
# From trials to the sweep table, and `scaling plot`
# --------------------------------------------------------------------------------------------
def _member(line, coefficient, label):
    return {"line": line, "coefficient": coefficient, "label": label}


def _trials():
    """A compound-vs-single study: baseline shared by two lines, two seeds, one failed run."""
    base = json.dumps([_member("width", 1.0, "w=1"), _member("compound", 0.0, "phi=0")])
    wide = json.dumps([_member("width", 1.5, "w=1.5")])
    comp = json.dumps([_member("compound", 1.0, "phi=1")])
    return pd.DataFrame({
        "trial": range(7), "state": ["COMPLETE"] * 6 + ["FAIL"], "candidate": ["base", "base", "wide", "wide",
                                                                          "comp", "comp", "comp"],
        "seed": [1, 0, 0, 1, 0, 1, 2], "members": [base, base, wide, wide, comp, comp, comp],
        "d": [1, 1, 1, 1, 1.2, 1.2, 1.2], "w": [1, 1, 1.5, 1.5, 1.1, 1.1, 1.1],
        "r": [1, 1, 1, 1, 1.15, 1.15, 1.15], "phi": 1.0, "value": [0.6, 0.5, 0.7, 0.7, 0.8, 0.9, None],
        "minival_top1": [0.6, 0.5, 0.7, 0.7, 0.8, 0.9, None], "test_top1": [0.6, 0.4, 0.7, 0.7, 0.8, 0.9, None],
        "train_top1": [0.5, 0.3, 0.6, 0.6, 0.7, 0.8, None],
        "macs": [1e6, 1e6, 2e6, 2e6, 2.1e6, 2.1e6, None], "params": 1e5, "resolution": [16, 16, 16, 16, 18, 18, 18],
        "wall_time": 1.0, "point": ["base-s1", "base-s0", "wide-s0", "wide-s1", "comp-s0", "comp-s1", "comp-s2"]})


def test_sweep_table_one_row_per_figure_point_with_seed_intervals():
    table = results.sweep_table(_trials())
    assert list(zip(table["line"], table["label"], strict=True)) == [
        ("width", "w=1"), ("width", "w=1.5"), ("compound", "phi=0"), ("compound", "phi=1")]
    base = table.iloc[0]
    assert base["test_top1_seeds"] == (0.4, 0.6)  # seed order
    assert base["test_top1"] == pytest.approx(0.5)
    assert base["test_top1_std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert base["test_top1_ci"] == pytest.approx(stats.interval([0.4, 0.6]).half_width)
    assert base["train_top1_seeds"] == (0.3, 0.5) and base["minival_top1"] == pytest.approx(0.55)
    assert base["seeds"] == 2 and (base["d"], base["w"], base["r"]) == (1, 1, 1)
    assert table.iloc[3]["seeds"] == 2 and table.iloc[3]["test_top1_seeds"] == (0.8, 0.9)  # the failed seed left out
    single = results.sweep_table(_trials().iloc[[1, 2]])
    assert single["seeds"].tolist() == [1, 1, 1] and single["test_top1_ci"].isna().all()
    text = results.describe_sweep(table)
    assert f"test_top1 50.00% ± {100 * base['test_top1_ci']:.2f} (95% CI, 2 seeds)" in text
    assert "(1 seed, no CI)" in results.describe_sweep(single)
    assert results.sweep_table(_trials().iloc[:0]).empty


def _write_study(root, name, kind, df):
    summary = {"study": name, "kind": kind, "baseline": {"baseline": "efficientnet-b0"}, "dataset": "digits"}
    results.write(df, summary, root / name)


def test_plot_cli_redraws_from_tables_and_combines_figure3(tmp_path, capsys):
    for line in ("width", "depth"):
        df = _trials().assign(members=lambda d, line=line: [json.dumps([_member(line, c, f"{line[0]}={c}")])
                                                            for c in d["d"] * d["w"]])
        _write_study(tmp_path, f"s_{line}", f"sweep:{line}", df)
    _write_study(tmp_path, "s_cvs", "sweep:compound-vs-single", _trials())
    assert cli.main(["plot", "all", "--results-dir", str(tmp_path), "--threshold", "0.2"]) == 0
    out = capsys.readouterr().out
    for path in ("s_width/figure3_width", "s_depth/figure3_depth", "s_cvs/figure8",
                 "figure3_efficientnet-b0_digits"):
        assert (tmp_path / f"{path}.png").stat().st_size > 0 and (tmp_path / f"{path}.pdf").exists()
        assert f"{tmp_path / path}.png" in out
    first = {f: f.read_bytes() for f in tmp_path.rglob("*.p[nd][gf]")}
    assert cli.main(["plot", "all", "--results-dir", str(tmp_path), "--threshold", "0.2"]) == 0
    assert {f: f.read_bytes() for f in tmp_path.rglob("*.p[nd][gf]")} == first  # redrawn byte for byte
    assert cli.main(["plot", "s_cvs", "--results-dir", str(tmp_path)]) == 0


@pytest.mark.parametrize("argv, message", [
    (["plot", "nosuch"], "no study 'nosuch'"),
    (["plot", "all"], "no study 'all'"),
    (["plot", "s", "--metric", "top5"], "invalid choice"),
    (["plot", "s", "--threshold", "0"], "--threshold must be > 0"),
])
def test_plot_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    _write_study(tmp_path, "s", "sweep:compound-vs-single", _trials())
    if argv[1] == "all":
        tmp_path = tmp_path / "empty"
    assert cli.main([*argv, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_fig8_points_off_the_compound_cost_are_labelled_with_their_ratio():
    table = pd.DataFrame({"line": ["width", "width", "compound", "compound"], "label": ["w=1", "w=2.23", "phi=0",
                                                                                      "phi=2"],
                          "macs": [1.0e6, 3.54e6, 1.0e6, 3.0e6]})
    assert list(plots.flag_unequal_cost(table)["label"]) == ["w=1", "w=2.23 (x1.18 cost)", "phi=0", "phi=2"]
    assert plots.flag_unequal_cost(table[table["line"] == "width"]).equals(table[table["line"] == "width"])


def test_fig4_difference_panel_draws_each_line_minus_the_first_at_equal_macs():
    base = _rows("d=1", [1, 2, 4], [1.0, 2.0, 4.0], "w", seeds=3, noise=0.5, top1=lambda x: 50 + 2 * x)
    up = _rows("d=2", [1, 2, 4], [2.0, 4.0, 8.0], "w", seeds=3, noise=0.5, top1=lambda x: 53 + 2 * x, rng_seed=1)
    fig = plots.sweep_figure(pd.concat([base, up], ignore_index=True), fit=False, differences=True)
    gaps = fig.axes[1]
    (gap,) = [ln for ln in gaps.lines if ln.get_label().startswith("(d=2)")]
    x = gap.get_xdata()
    assert gap.get_label() == "(d=2) − (d=1)" and np.isclose(x.min(), 2.0) and np.isclose(x.max(), 4.0)  # both span
    # d=2's line is 3 points above at its own start, i.e. 1 point above d=1's at equal MACs (2 pts per doubling)
    assert np.allclose(gap.get_ydata(), 1.0, atol=1.0)
    runs = [(m, 100 * y, results.line_seeds(t)) for t in (base, up) for m, y in [results.line_runs(t)]]
    paired = [stats.compare_lines_paired(*runs[0], *runs[1], m * 1e9) for m in x]  # each seed's lines, paired
    assert np.allclose(gap.get_ydata(), [c.difference for c in paired])
    (band,) = gaps.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), min(c.low for c in paired)) and np.isclose(ys.max(), max(c.high for c in paired))
    assert gaps.get_title() == "each line minus the first at equal MACs, paired by seed, 95% CI"
    assert len(plots.sweep_figure(base, fit=False).axes) == 1


def test_a_rerun_draws_its_point_means_hollow_beside_the_study():
    mine = _rows("width", [1, 2], [1.0, 2.0], "w", seeds=2, noise=0.5)
    theirs = _rows("width", [1, 2], [1.0, 2.0], "w", seeds=2, noise=0.5, rng_seed=7)
    ax = plots.sweep_figure(mine, fit=False, rerun=theirs).axes[0]
    (hollow,) = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "none"]
    assert np.allclose(hollow.get_ydata(), 100 * theirs["test_top1"])
    assert "hollow: the rerun's point means" in _legend(ax)
    assert not [ln for ln in plots.sweep_figure(mine, fit=False).axes[0].lines if ln.get_markerfacecolor() == "none"]
