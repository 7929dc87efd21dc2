"""Sweep figures (Figs. 3, 4, 8), the sweep table and the saturating-curve fit, on fixed tables (no training)."""

import json

import numpy as np
import pandas as pd
import pytest

from scaling import cli, plots, results

# The paper's Fig. 3 multipliers and their B0 GMACs under the TF rounding (reference notes, sec. 4.2).
FIG3 = {
    "width": ([1.0, 1.4, 1.8, 2.6, 3.8, 5.0], [0.39, 0.74, 1.18, 2.39, 5.06, 8.71]),
    "depth": ([1.0, 2.0, 3.0, 4.0, 6.0, 8.0], [0.39, 0.78, 1.18, 1.58, 2.37, 3.16]),
    "resolution": ([1.0, 1.3, 1.5, 1.7, 1.9, 2.2, 2.5], [0.39, 0.72, 0.89, 1.13, 1.46, 1.92, 2.45]),
}


def _rows(line, coefficients, gmacs, symbol, seeds=1, spread=0.0):
    top1 = [0.80 - 0.03 * (gmacs[0] / g) ** 0.7 for g in gmacs]
    return pd.DataFrame({"line": line, "coefficient": coefficients, "label": [f"{symbol}={c:g}" for c in coefficients],
                         "candidate": [f"{line}{c}" for c in coefficients], "test_top1": top1,
                         "test_std": spread if seeds > 1 else np.nan, "minival_top1": top1,
                         "minival_std": spread if seeds > 1 else np.nan, "seeds": seeds,
                         "macs": [g * 1e9 for g in gmacs], "params": 5e6})


def _fig3_table():
    return pd.concat([_rows(line, c, g, line[0]) for line, (c, g) in FIG3.items()], ignore_index=True)


def _points(container):
    return list(container.lines[0].get_xdata())


def test_figure3_three_labelled_panels():
    fig = plots.sweep_figure(_fig3_table(), title="Fig. 3", panels=True)
    assert len(fig.axes) == 3 and fig._suptitle.get_text() == "Fig. 3"
    for ax, (line, (coefficients, gmacs)) in zip(fig.axes, FIG3.items(), strict=True):
        assert ax.get_title() == line and ax.get_xlabel() == "MACs (billions)"
        (container,) = ax.containers  # one line per panel
        assert _points(container) == pytest.approx(gmacs)
        assert not container.has_yerr  # one seed: no error bars
        labels = [t.get_text() for t in ax.texts]
        assert labels == [f"{line[0]}={c:g}" for c in coefficients]
    assert fig.axes[0].get_ylabel() == "test top-1 (%)"


def test_figure4_four_lines_on_one_axes_with_seed_error_bars():
    widths, gmacs = FIG3["width"]
    lines = ["d=1, r=1", "d=1, r=1.3", "d=2, r=1", "d=2, r=1.3"]
    table = pd.concat([_rows(line, widths, [g * (1 + i) for g in gmacs], "w", seeds=3, spread=0.004)
                       for i, line in enumerate(lines)], ignore_index=True)
    fig = plots.sweep_figure(table, panels=False, metric="minival_top1")
    (ax,) = fig.axes
    assert len(ax.containers) == 4 and all(c.has_yerr for c in ax.containers)
    assert [len(_points(c)) for c in ax.containers] == [6] * 4
    assert ax.get_ylabel() == "minival top-1 (%)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(line in legend for line in lines)
    assert len(ax.texts) == 24


def test_figure8_millions_for_small_networks_and_a_fit_per_line():
    table = pd.concat([_rows(line, [0, 1, 2, 3], [0.5e-3 * 2**k for k in range(4)], line[0])
                       for line in ("width", "depth", "resolution", "compound")], ignore_index=True)
    fig = plots.sweep_figure(table)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "MACs (millions)" and len(ax.containers) == 4
    fits = [t.get_text() for t in ax.get_legend().get_texts() if t.get_text().startswith("fit")]
    assert len(fits) == 4
    no_fit = plots.sweep_figure(table, fit=False)
    assert not any(t.get_text().startswith("fit") for t in no_fit.axes[0].get_legend().get_texts())


def test_saturation_point_is_marked_where_a_doubling_gains_less_than_the_threshold():
    table = _rows("width", *FIG3["width"], "w")
    fig = plots.sweep_figure(table, threshold=0.5)
    ax = fig.axes[0]
    fit = results.fit_saturation(table["macs"], 100 * table["test_top1"], 0.5, a_max=100)
    (marker,) = [line for line in ax.lines if line.get_marker() == "v"]
    assert marker.get_xdata()[0] == pytest.approx(fit.saturation_macs / 1e9)
    assert any("< 0.5 pts per 2x MACs" in t.get_text() for t in ax.get_legend().get_texts())


# --------------------------------------------------------------------------------------------
# The saturating curve: acc(M) = a - b (M / m0)^-c
# --------------------------------------------------------------------------------------------
A, B, C, M0 = 80.0, 6.0, 0.7, 0.39e9
MACS = M0 * 2.0 ** np.arange(7)


def test_fit_recovers_exact_parameters():
    fit = results.fit_saturation(MACS, A - B * (MACS / M0) ** -C)
    assert (fit.a, fit.b, fit.c) == pytest.approx((A, B, C), rel=1e-6) and fit.m0 == M0


def test_fit_recovers_parameters_from_noisy_points_within_tolerance():
    """Stated tolerance: with 0.05-point noise on 7 points over 64x MACs, a within 0.3 points,
    b within 0.3 points, c within 0.05, the saturation point within 10%."""
    noisy = A - B * (MACS / M0) ** -C + np.random.default_rng(0).normal(0, 0.05, MACS.size)
    fit = results.fit_saturation(MACS, noisy, threshold=0.5)
    assert abs(fit.a - A) < 0.3 and abs(fit.b - B) < 0.3 and abs(fit.c - C) < 0.05
    true = results.Saturation(A, B, C, M0, 0.5)
    assert fit.saturation_macs == pytest.approx(true.saturation_macs, rel=0.1)


def test_saturation_point_has_the_threshold_gain_per_doubling():
    curve = results.Saturation(A, B, C, M0, 0.5)
    at = curve.saturation_macs
    assert curve.gain_per_doubling(at) == pytest.approx(0.5)
    assert curve.gain_per_doubling(at / 2) > 0.5 > curve.gain_per_doubling(2 * at)
    assert results.Saturation(A, 0.1, C, M0, 0.5).saturation_macs == M0  # saturated from the start


def test_fit_needs_three_distinct_points():
    assert results.fit_saturation([1e9, 2e9], [70, 72]) is None
    assert results.fit_saturation([1e9, 1e9, 1e9], [70, 71, 72]) is None


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
        "seed": [0, 1, 0, 1, 0, 1, 2], "members": [base, base, wide, wide, comp, comp, comp],
        "alpha": [1, 1, 1, 1, 1.2, 1.2, 1.2], "beta": [1, 1, 1.5, 1.5, 1.1, 1.1, 1.1],
        "gamma": [1, 1, 1, 1, 1.15, 1.15, 1.15], "phi": 1.0, "value": [0.5, 0.6, 0.7, 0.7, 0.8, 0.9, None],
        "minival_top1": [0.5, 0.6, 0.7, 0.7, 0.8, 0.9, None], "test_top1": [0.4, 0.6, 0.7, 0.7, 0.8, 0.9, None],
        "macs": [1e6, 1e6, 2e6, 2e6, 2.1e6, 2.1e6, None], "params": 1e5, "resolution": [16, 16, 16, 16, 18, 18, 18],
        "wall_time": 1.0, "point": ["base-s0", "base-s1", "wide-s0", "wide-s1", "comp-s0", "comp-s1", "comp-s2"]})


def test_sweep_table_one_row_per_figure_point_seed_averaged():
    table = results.sweep_table(_trials())
    assert list(zip(table["line"], table["label"], strict=True)) == [
        ("width", "w=1"), ("width", "w=1.5"), ("compound", "phi=0"), ("compound", "phi=1")]
    base = table.iloc[0]
    assert base["test_top1"] == pytest.approx(0.5) and base["test_std"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert base["seeds"] == 2 and (base["d"], base["w"], base["r"]) == (1, 1, 1)
    assert table.iloc[3]["seeds"] == 2  # the failed third seed is left out
    assert "test_top1 50.00% ± 14.14" in results.describe_sweep(table)


def _write_study(root, name, kind, df):
    summary = {"study": name, "kind": kind, "config": {"train": {"baseline": "efficientnet-b0", "dataset": "digits"}}}
    results.write(df, summary, root / name)


def test_plot_cli_redraws_from_tables_and_combines_figure3(tmp_path, capsys):
    for line in ("width", "depth"):
        df = _trials().assign(members=lambda d, line=line: [json.dumps([_member(line, c, f"{line[0]}={c}")])
                                                            for c in d["alpha"] * d["beta"]])
        _write_study(tmp_path, f"s_{line}", f"sweep:{line}", df)
    _write_study(tmp_path, "s_cvs", "sweep:compound-vs-single", _trials())
    assert cli.main(["plot", "all", "--results-dir", str(tmp_path), "--threshold", "0.2"]) == 0
    out = capsys.readouterr().out
    for path in ("s_width/figure3_width", "s_depth/figure3_depth", "s_cvs/figure8",
                 "figure3_efficientnet-b0_digits"):
        assert (tmp_path / f"{path}.png").stat().st_size > 0 and (tmp_path / f"{path}.pdf").exists()
        assert f"{tmp_path / path}.png" in out
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
