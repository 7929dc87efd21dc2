"""Seed intervals, differences beyond the noise and the saturation verdict, on synthetic data with known truth."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from scaling import stats


def test_interval_matches_the_t_formula_and_is_nan_for_one_value():
    iv = stats.interval([38.0, 39.0, 41.0])
    assert iv.n == 3 and iv.mean == pytest.approx(118 / 3) and iv.std == pytest.approx(np.std([38, 39, 41], ddof=1))
    assert iv.half_width == pytest.approx(scipy_stats.t.ppf(0.975, 2) * iv.std / math.sqrt(3))
    assert (iv.low, iv.high) == pytest.approx((iv.mean - iv.half_width, iv.mean + iv.half_width))
    one = stats.interval([39.0])
    assert one.mean == 39.0 and math.isnan(one.std) and math.isnan(one.half_width)
    assert stats.half_width([iv.std, 1.0], [3, 1])[0] == pytest.approx(iv.half_width)


def test_interval_covers_the_true_mean_95_percent_of_the_time_with_three_seeds():
    rng = np.random.default_rng(0)
    intervals = [stats.interval(rng.normal(40.0, 0.5, 3)) for _ in range(2000)]
    assert 0.93 <= np.mean([iv.low <= 40.0 <= iv.high for iv in intervals]) <= 0.97
    assert 0.86 <= np.mean([iv.low <= 40.0 <= iv.high for iv in
                            (stats.interval(rng.normal(40.0, 0.5, 3), 0.9) for _ in range(2000))]) <= 0.94


def test_compare_welch_interval_covers_the_true_difference_with_unequal_seeds_and_noise():
    rng = np.random.default_rng(1)
    found = [stats.compare(rng.normal(40.0, 0.5, 3), rng.normal(41.0, 1.5, 5)) for _ in range(2000)]
    assert 0.93 <= np.mean([c.low <= 1.0 <= c.high for c in found]) <= 0.97
    assert all(c.exceeds_noise == (c.low > 0 or c.high < 0) for c in found)
    assert 0.03 <= np.mean([c.p_value < 0.05 for c in
                            (stats.compare(rng.normal(40, 1, 3), rng.normal(40, 1, 3)) for _ in range(2000))]) <= 0.07


def test_compare_a_clear_difference_and_too_few_seeds():
    c = stats.compare([38.1, 38.5, 38.9], [43.2, 43.6, 44.1])  # b - a
    assert c.difference == pytest.approx(43.6333 - 38.5, abs=1e-3) and c.exceeds_noise and c.p_value < 1e-3
    assert c.low > 0 and (c.n_a, c.n_b) == (3, 3)
    assert stats.compare([43.2, 43.6, 44.1], [38.1, 38.5, 38.9]).high < 0
    assert not stats.compare([38.1, 38.9], [38.4, 38.6]).exceeds_noise
    single = stats.compare([39.0], [43.6, 44.1])
    assert single.exceeds_noise is None and math.isnan(single.p_value)
    assert single.difference == pytest.approx(43.85 - 39)


# --------------------------------------------------------------------------------------------
# Saturation against x = log2(MACs / M0)
# --------------------------------------------------------------------------------------------
M0 = 0.5e6


def _runs(f, doublings, seeds, noise, rng_seed=0):
    """(MACs, accuracy %) of every seed at M0 * 2^x for each x in ``doublings``, accuracy f(x) plus noise."""
    x = np.repeat(np.asarray(doublings, dtype=float), seeds)
    return M0 * 2.0**x, f(x) + np.random.default_rng(rng_seed).normal(0, noise, x.size)


def saturating(x, a=80.0, b=20.0, c=1.2):
    return a - b * 2.0 ** (-c * x)


def true_saturation(threshold, b=20.0, c=1.2):
    """Where the gain per doubling, b c ln2 2^(-c x), falls to ``threshold``."""
    return M0 * 2.0 ** (math.log2(b * c * math.log(2) / threshold) / c)


def test_compare_lines_at_one_macs_value_covers_the_true_gap_and_matches_the_regression_formula():
    rng = np.random.default_rng(2)
    macs_a, macs_b = np.repeat([1e6, 2e6, 4e6, 8e6], 3), np.repeat([1.5e6, 3e6, 6e6, 12e6], 3)

    def runs(macs, a, slope, sd):
        return a + slope * np.log2(macs / 1e6) + rng.normal(0, sd, macs.size)

    found = [stats.compare_lines(macs_a, runs(macs_a, 50, 2, 1.0), macs_b, runs(macs_b, 51, 1, 2.0), at=4e6)
             for _ in range(2000)]
    assert 0.93 <= np.mean([c.low <= (51 + 1 * 2) - (50 + 2 * 2) <= c.high for c in found]) <= 0.97
    assert all(c.exceeds_noise == (c.low > 0 or c.high < 0) for c in found) and found[0].n_a == 12
    # at x = log2(at) = 0 each line's prediction is its intercept: scipy's intercept and its standard error
    ya, yb = runs(np.repeat([0.5e6, 1e6, 2e6], 2), 50, 2, 1), runs(np.repeat([0.5e6, 2e6], 3), 53, 1, 1)
    fa, fb = (scipy_stats.linregress(np.log2(m), y) for m, y in ((np.repeat([0.5, 1, 2], 2), ya),
                                                                 (np.repeat([0.5, 2], 3), yb)))
    c = stats.compare_lines(np.repeat([0.5e6, 1e6, 2e6], 2), ya, np.repeat([0.5e6, 2e6], 3), yb, at=1e6)
    assert c.difference == pytest.approx(fb.intercept - fa.intercept)
    se = math.hypot(fa.intercept_stderr, fb.intercept_stderr)
    assert c.half_width == pytest.approx(scipy_stats.t.ppf(0.975, c.df) * se)
    assert 4 <= c.df <= 8  # Welch-Satterthwaite: between the smaller and the summed n - 2 (4 and 4)
    with pytest.raises(ValueError, match="outside a line's range"):
        stats.compare_lines(macs_a, runs(macs_a, 50, 2, 1), macs_b, runs(macs_b, 51, 1, 1), at=1.2e6)


def test_compare_lines_paired_cancels_the_seed_offsets_that_widen_the_run_level_interval():
    """Every network of a seed shares its offset (its data order): 4 pts of spread across seeds, 0.2 within.
    Line b is 1.5 pts above line a at every MACs; paired by seed the interval holds that and is narrow,
    fitted on every run (runs as independent) it is wide."""
    rng = np.random.default_rng(3)
    macs_a, macs_b = np.tile([1e6, 2e6, 4e6, 8e6], 3), np.tile([1.5e6, 3e6, 6e6, 12e6], 3)
    seeds = np.repeat([0, 1, 2], 4)

    def runs(macs, a, offsets):
        return a + 2 * np.log2(macs / 1e6) + offsets[seeds] + rng.normal(0, 0.2, macs.size)

    found = []
    for _ in range(2000):
        offsets = rng.normal(0, 4, 3)
        ya, yb = runs(macs_a, 50, offsets), runs(macs_b, 51.5, offsets)
        found.append((stats.compare_lines_paired(macs_a, ya, seeds, macs_b, yb, seeds, at=4e6),
                      stats.compare_lines(macs_a, ya, macs_b, yb, at=4e6)))
    assert 0.93 <= np.mean([p.low <= 1.5 <= p.high for p, _ in found]) <= 0.97
    assert np.mean([w.low <= 1.5 <= w.high for _, w in found]) > 0.99  # the offsets counted twice as noise
    assert all(p.difference == pytest.approx(w.difference) for p, w in found)  # balanced: the same estimate
    assert np.median([w.half_width / p.half_width for p, w in found]) > 5
    assert np.mean([p.exceeds_noise for p, _ in found]) > 0.99 and np.mean([w.exceeds_noise for _, w in found]) < 0.3
    p, _ = found[0]
    assert (p.method, p.n_a, p.df) == ("paired", 3, 2)


def test_compare_lines_paired_is_the_paired_t_of_each_seeds_least_squares_lines():
    rng = np.random.default_rng(4)
    macs, seeds = np.tile([1e6, 2e6, 4e6], 3), np.repeat([0, 1, 2], 3)
    ya, yb = rng.normal(50, 1, 9), rng.normal(51, 1, 9)
    at = 3e6

    def seed_line(y, s):
        slope, intercept = np.polyfit(np.log2(macs[seeds == s]), y[seeds == s], 1)
        return intercept + slope * math.log2(at)

    differences = [seed_line(yb, s) - seed_line(ya, s) for s in range(3)]
    t = scipy_stats.ttest_1samp(differences, 0)
    c = stats.compare_lines_paired(macs, ya, seeds, macs, yb, seeds, at=at)
    assert c.difference == pytest.approx(np.mean(differences)) and c.p_value == pytest.approx(t.pvalue)
    assert (c.low, c.high) == pytest.approx(tuple(t.confidence_interval()))
    # A seed's two runs of a point (a pooled rerun) are averaged first; a seed missing a point is left out.
    twice = stats.compare_lines_paired(np.r_[macs, macs], np.r_[ya - 1, ya + 1], np.r_[seeds, seeds],
                                       macs, yb, seeds, at=at)
    assert twice.difference == pytest.approx(c.difference) and twice.half_width == pytest.approx(c.half_width)
    partial = stats.compare_lines_paired(macs[1:], ya[1:], seeds[1:], macs, yb, seeds, at=at)
    assert partial.n_a == 2 and partial.difference == pytest.approx(np.mean(differences[1:]))
    one = stats.compare_lines_paired(macs[:3], ya[:3], seeds[:3], macs, yb, seeds, at=at)
    assert one.n_a == 1 and one.exceeds_noise is None and math.isnan(one.low)
    with pytest.raises(ValueError, match="outside a line's range"):
        stats.compare_lines_paired(macs, ya, seeds, macs, yb, seeds, at=5e6)
    with pytest.raises(ValueError, match="2 or more MACs"):
        stats.compare_lines_paired(np.full(3, 1e6), ya[:3], seeds[:3], macs, yb, seeds, at=1e6)


def test_saturating_data_give_a_saturation_point_whose_interval_holds_the_truth():
    macs, top1 = _runs(saturating, range(6), seeds=3, noise=0.3)
    fit = stats.fit_saturation(macs, top1, threshold=1.0, resamples=200)
    assert fit.model == "saturating" and fit.aicc["saturating"] < fit.aicc["line"] - stats.SUPPORT
    assert fit.params == pytest.approx({"a": 80, "b": 20, "c": 1.2}, rel=0.05)
    truth = true_saturation(1.0)
    lo, hi = fit.saturation_ci
    assert M0 <= lo <= truth <= hi <= fit.m_max and lo <= fit.saturation_macs <= hi
    assert fit.saturation_macs == pytest.approx(truth, rel=0.1)
    assert fit.gain_per_doubling(fit.saturation_macs) == pytest.approx(1.0)
    assert fit.verdict.startswith("rises, then saturates: < 1 pts per doubling beyond")
    macs_grid, curve = fit.curve(50)
    assert macs_grid[0] == M0 and macs_grid[-1] == fit.m_max and curve == pytest.approx(fit(macs_grid))


def test_a_saturation_point_beyond_the_measured_range_is_not_reported():
    macs, top1 = _runs(saturating, range(6), seeds=3, noise=0.3)
    fit = stats.fit_saturation(macs, top1, threshold=0.2, resamples=200)  # truth: 6.2 doublings
    assert true_saturation(0.2) > fit.m_max
    assert fit.model == "saturating" and fit.saturation_macs is None and fit.saturation_ci is None
    assert fit.verdict.endswith("< 0.2 pts per doubling not reached in the measured range")


def test_one_seed_per_point_gives_the_curve_but_no_saturation_point():
    macs, top1 = _runs(saturating, [0, 0.5, 1, 1.5, 2, 3, 4, 5], seeds=1, noise=0.05)
    fit = stats.fit_saturation(macs, top1, threshold=1.0)
    assert fit.model == "saturating" and fit.saturation_macs is None
    assert "not estimated (needs >= 2 seeds per point)" in fit.verdict


@pytest.mark.parametrize("seeds", [1, 3])
def test_straight_rise_in_log_macs_is_a_line_without_saturation(seeds):
    macs, top1 = _runs(lambda x: 40 + 2.0 * x, range(6), seeds=seeds, noise=0.4)
    fit = stats.fit_saturation(macs, top1, threshold=0.5, resamples=100)
    assert fit.model == "line" and fit.saturation_macs is None
    slope, lo, hi = fit.slope
    assert slope == pytest.approx(2.0, abs=0.2) and lo < slope < hi and fit.params["slope"] == slope
    assert fit.verdict.startswith("rises linearly in log MACs") and "no saturation in the measured range" in fit.verdict
    assert fit(M0 * 4) == pytest.approx(fit.params["a"] + 2 * slope)


def test_falling_data_get_no_saturating_curve():
    macs, top1 = _runs(lambda x: 39 - 6.0 * x + 0.5 * x**2, range(6), seeds=2, noise=0.4)  # falls, then flattens
    fit = stats.fit_saturation(macs, top1, threshold=0.5)
    assert fit.model == "line" and fit.slope[2] < 0 and "saturating" not in fit.aicc and fit.saturation_macs is None
    assert fit.verdict.startswith("does not rise (falls ")


def test_flat_data_are_a_constant_with_nothing_to_draw():
    macs, top1 = _runs(lambda x: 39 + 0 * x, range(5), seeds=2, noise=0.5)
    fit = stats.fit_saturation(macs, top1)
    assert fit.model == "constant" and fit.curve() is None and fit.slope[1] < 0 < fit.slope[2]
    assert fit.verdict.startswith("does not rise significantly")


def test_three_macs_values_never_get_three_parameters():
    macs, top1 = _runs(saturating, [0, 1, 4], seeds=5, noise=0.1)
    fit = stats.fit_saturation(macs, top1)
    assert fit.model == "line" and set(fit.aicc) == {"constant", "line"}


def test_too_few_runs_or_macs_values():
    assert stats.fit_saturation([M0, 2 * M0], [39.0, 41.0]).verdict.startswith("too few points to fit")
    # two seeds at each of two MACs values (Table 3's lines): any curve through them is a line
    fit = stats.fit_saturation([M0, M0, 4 * M0, 4 * M0], [39.0, 39.4, 43.0, 43.2])
    assert fit.curve() is None and "2 MACs value" in fit.verdict
    fit = stats.fit_saturation([M0] * 3, [39.0, 38.1, 38.5])
    assert fit.model == "constant" and fit.curve() is None and "1 MACs value" in fit.verdict


# --------------------------------------------------------------------------------------------
# Seed-blocked comparison, families of tests, margins, power, slopes
# --------------------------------------------------------------------------------------------
def _seed_study(rng, seeds=5, offset_sd=3.0, noise=0.3, difference=1.0):
    """seed -> accuracy of candidates a and b, each seed shifting both by the same offset."""
    offset = rng.normal(0, offset_sd, seeds)
    a = 40.0 + offset + rng.normal(0, noise, seeds)
    b = 40.0 + difference + offset + rng.normal(0, noise, seeds)
    return dict(enumerate(a)), dict(enumerate(b))


def test_paired_interval_removes_the_shared_seed_offset_and_matches_scipy():
    a, b = _seed_study(np.random.default_rng(3))
    c, welch = stats.paired(a, b), stats.compare(list(a.values()), list(b.values()))
    assert c.method == "paired" and welch.method == "welch" and (c.n_a, c.n_b, c.df) == (5, 5, 4)
    assert c.low <= 1.0 <= c.high and c.exceeds_noise and c.half_width < 0.2 * welch.half_width
    ref = scipy_stats.ttest_rel(list(b.values()), list(a.values()))
    assert c.p_value == pytest.approx(ref.pvalue) and c.difference == pytest.approx(np.mean(ref.confidence_interval()))
    assert (c.low, c.high) == pytest.approx(tuple(ref.confidence_interval()))


def test_paired_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    found = [stats.paired(*_seed_study(rng, seeds=4)) for _ in range(400)]
    assert 0.92 <= np.mean([c.low <= 1.0 <= c.high for c in found]) <= 0.98


def test_paired_uses_only_shared_seeds_averages_repeats_and_needs_two():
    a, b = {0: 40.0, 1: 42.0, 2: 39.0, 7: 99.0}, {0: 41.0, 1: 43.5, 2: 39.5, 8: -5.0}
    c = stats.paired(a, b)
    assert c == stats.paired({s: a[s] for s in (0, 1, 2)}, {s: b[s] for s in (0, 1, 2)}) and c.n_a == c.n_b == 3
    assert c.difference == pytest.approx(1.0)
    # seed 1 ran twice on b (two machines, 43.0 and 44.0): it counts once, as their mean; a failed run is absent
    assert stats.paired(a, {0: 41.0, 1: [43.0, 44.0], 2: [39.5, math.nan], 3: [math.nan]}) == c
    one = stats.paired({0: 40.0, 1: 41.0}, {1: 42.0, 2: 40.0})
    assert one.exceeds_noise is None and one.n_a == 1 and one.difference == 1.0
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.p_value)
    exact = stats.paired({0: 40.0, 1: 41.0}, {0: 41.0, 1: 42.0})
    assert exact.half_width == 0 and exact.exceeds_noise and exact.low == exact.high == 1.0


def test_holm_and_benjamini_hochberg_textbook_values_with_nan_passed_through():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    held = stats.holm([0.01, math.nan, 0.04, 0.03, 0.005])
    assert math.isnan(held[1]) and held[:1] + held[2:] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0] and stats.holm([]) == []
    # BH by hand: m p_(i) / i = 0.08, 0.06, 0.0533, 0.5, then the running minimum from the largest down
    assert stats.benjamini_hochberg([0.02, 0.03, 0.04, 0.5]) == pytest.approx([0.16 / 3] * 3 + [0.5])
    bh = stats.benjamini_hochberg([0.04, math.nan, 0.005, 0.01, 0.03])
    assert math.isnan(bh[1]) and bh[:1] + bh[2:] == pytest.approx([0.04, 0.02, 0.02, 0.04])
    with pytest.raises(ValueError, match="must lie in"):
        stats.holm([0.2, 1.5])


def test_holm_keeps_the_family_wise_error_at_alpha_under_the_null():
    rng = np.random.default_rng(5)
    p = scipy_stats.ttest_1samp(rng.normal(0, 1, (2000, 6, 4)), 0, axis=-1).pvalue  # 2000 families of 6 null tests
    raw = np.mean((p < 0.05).any(axis=1))
    fwer = {f: np.mean([min(f(row)) < 0.05 for row in p]) for f in (stats.holm, stats.benjamini_hochberg)}
    assert raw > 0.2 and fwer[stats.holm] <= 0.06 and fwer[stats.benjamini_hochberg] <= 0.06  # 1 - 0.95^6 = 0.26


def _difference(low, high):
    return stats.Comparison((low + high) / 2, (high - low) / 2, low, high, math.nan, 4.0, 5, 5, None, 0.95, "paired")


def test_equivalence_says_what_the_interval_excludes():
    below = stats.equivalence(_difference(-2.8, 1.9), 2.5)
    assert below.below_bound and not below.equivalent and not below.above_bound
    assert below.words() == "excludes a difference of +2.5 or more"
    within = stats.equivalence(_difference(-0.6, 0.8), 1)
    assert within.equivalent and within.below_bound and within.words() == "within ±1 of 0 (equivalent)"
    low_side = stats.equivalence(_difference(-1.2, 0.8), 1)  # out of ±1 on the low side only
    assert not low_side.equivalent and low_side.words() == "excludes a difference of +1 or more"
    wide = stats.equivalence(_difference(0.3, 3.1), 2.5)
    assert not wide.below_bound and wide.words() == "cannot exclude +2.5"
    assert stats.equivalence(_difference(2.7, 4.0), 2.5).words() == "excludes a difference below +2.5"
    small = stats.equivalence(_difference(2.31, 2.41), 2.5)  # beyond the noise, and below the margin
    assert small.words() == "excludes both 0 and a difference of ±2.5 or more (a real but smaller one)"
    none = stats.equivalence(stats.paired({0: 1.0}, {0: 2.0}), 2.5)
    assert none.equivalent is None and none.words().startswith("cannot exclude +2.5")
    with pytest.raises(ValueError, match="positive"):
        stats.equivalence(_difference(-1.0, 1.0), -1)


def test_power_matches_the_simulated_rejection_rate_of_the_paired_t_test():
    rng = np.random.default_rng(6)
    p = scipy_stats.ttest_1samp(rng.normal(1.0, 1.2, (2000, 5)), 0, axis=1).pvalue
    assert stats.power(1.0, 1.2, 5) == pytest.approx(np.mean(p < 0.05), abs=0.03)
    assert stats.power(1.0, 1.2, 5, tests=6) < stats.power(1.0, 1.2, 5) and stats.power(1.0, 1.2, 1) == 0
    assert stats.power(0.0, 1.2, 5) == pytest.approx(0.05)


def test_seeds_needed_reaches_the_target_and_falls_as_the_effect_grows():
    needed = [stats.seeds_needed(effect, 1.0) for effect in (0.5, 1.0, 2.0)]
    assert needed[0] > needed[1] > needed[2] >= 2
    for effect, n in zip((0.5, 1.0, 2.0), needed, strict=True):
        assert stats.power(effect, 1.0, n) >= 0.8 and (n == 2 or stats.power(effect, 1.0, n - 1) < 0.8)
    assert stats.seeds_needed(1.0, 1.0, tests=6) > needed[1] and stats.seeds_needed(0.01, 1.0) is None
    assert stats.not_testable(stats.power(1.0, 1.2, 3), 3).startswith("not testable with 3 seeds (power 0.")
    assert stats.not_testable(0.9, 10) is None and stats.MIN_POWER == 0.5


def test_slope_of_means_counts_lack_of_fit_that_a_fit_to_every_run_hides():
    macs, top1 = _runs(saturating, range(6), seeds=3, noise=0.05)
    runs = scipy_stats.linregress(np.log2(macs), top1)
    run_half = scipy_stats.t.ppf(0.975, macs.size - 2) * runs.stderr
    s = stats.slope_of_means(macs, top1)
    assert (s.points, s.df, s.method, s.seeds) == (6, 4, "means", None)
    assert s.slope == pytest.approx(runs.slope) and s.high - s.low > 2 * (2 * run_half)
    seeds = np.tile(range(3), 6)
    p = stats.slope_paired(macs, top1, seeds)  # the seeds' own slopes barely differ: tight, lack of fit not counted
    assert p.method == "paired" and (p.points, p.seeds, p.df) == (6, 3, 2) and p.slope == pytest.approx(s.slope)
    assert p.high - p.low < s.high - s.low
    # a seed missing a point is left out of the paired slope; a seed run twice counts once in its point's mean
    assert stats.slope_paired(macs[:-1], top1[:-1], seeds[:-1]).seeds == 2
    twice = stats.slope_of_means(np.append(macs, macs[0]), np.append(top1, 0.0), np.append(seeds, 0))
    assert twice.seeds == 3 and twice.slope != pytest.approx(s.slope)
    assert math.isnan(stats.slope_of_means(macs[:3], top1[:3]).slope)  # one MACs value


def test_slope_of_means_interval_covers_a_true_linear_slope_95_percent_of_the_time():
    found = [stats.slope_of_means(*_runs(lambda x: 40 + 2.0 * x, range(5), seeds=2, noise=0.5, rng_seed=i))
             for i in range(400)]
    assert 0.91 <= np.mean([s.low <= 2.0 <= s.high for s in found]) <= 0.99


def test_cost_adjusted_residuals_remove_the_cost_line_and_rank_by_what_is_left():
    macs = np.array([1.0, 2.0, 4.0, 8.0]) * 1e6
    shape = np.array([0.01, -0.02, 0.0, 0.01])  # what each candidate scores beyond its cost
    fit = stats.cost_adjusted(macs, 0.5 + 0.03 * np.log2(macs / 1e6) + shape - shape.mean())
    assert np.isclose(fit.slope, 0.03 + np.polyfit(np.log2(macs), shape, 1)[0])
    assert np.allclose(fit.residuals, shape - np.polyval(np.polyfit(np.log2(macs), shape, 1), np.log2(macs)))
    assert fit.spearman == pytest.approx(scipy_stats.spearmanr(macs, 0.5 + 0.03 * np.log2(macs) + shape).statistic)
    equal = stats.cost_adjusted([2e6] * 3, [0.5, 0.6, 0.7])  # matched costs: residuals from the mean
    assert equal.slope == 0 and np.allclose(equal.residuals, [-0.1, 0, 0.1]) and math.isnan(equal.spearman)


def _trials(rng, effects: dict, seeds: int, noise: float = 0.01):
    """A study's completed trials: each candidate's effect, a seed block shared by every candidate, noise."""
    import pandas as pd

    blocks = rng.normal(0, 0.02, seeds)
    return pd.DataFrame([{"state": "COMPLETE", "candidate": c, "seed": s,
                          "test_top1": 0.5 + e + blocks[s] + rng.normal(0, noise)}
                         for c, e in effects.items() for s in range(seeds)])


def test_a_family_of_paired_comparisons_holds_its_error_rate_under_holm():
    from scaling import results

    rng = np.random.default_rng(3)
    pairs = [("base", f"c{i}") for i in range(5)]
    null = [results.family(_trials(rng, dict.fromkeys(["base", *(b for _, b in pairs)], 0.0), 3), pairs)
            for _ in range(300)]
    raw = np.mean([(t["p"] < 0.05).any() for t in null])
    holm = np.mean([(t["p_holm"] < 0.05).any() for t in null])
    assert raw > 0.15 and holm < 0.075  # five uncorrected tests find something a fifth of the time; Holm 5%


def test_a_family_says_what_each_interval_excludes_and_its_power_at_the_margin():
    from scaling import results

    rng = np.random.default_rng(4)
    df = _trials(rng, {"base": 0.0, "same": 0.0, "better": 0.05}, seeds=4, noise=0.005)
    table = results.family(df, [("base", "same"), ("base", "better")], margin=2.5).set_index("b")
    assert table.loc["same", "bound"] == "within ±2.5 of 0 (equivalent)"
    assert table.loc["better", "bound"] == "excludes a difference below +2.5"
    sd = np.sqrt((table["sd_difference"] ** 2).mean())  # the power uses the family's pooled std
    assert np.allclose(table["power"], stats.power(2.5, sd, 4, tests=2))
    assert table["seeds_needed"].iloc[0] == stats.seeds_needed(2.5, sd, tests=2)


def test_power_survives_a_large_noncentrality():
    """scipy's nctdtr gives NaN where the far tail underflows; the power is then the near tail's."""
    assert stats.power(2.5, 0.3775, 3, tests=2) == pytest.approx(0.9621275, abs=1e-6)


def test_saturation_power_is_low_with_three_seeds_and_its_false_positive_rate_is_small():
    macs = 1e6 * 2.0 ** np.array([0, 0.64, 1.17, 1.61, 2.0])  # the Imagenette resolution sweep's design
    curve = stats.saturation_power(macs, 3, 1.45, 8.3, 2.1, sims=150)
    assert 0.1 < curve < 0.45 and stats.saturation_power(macs, 10, 1.45, 8.3, 2.1, sims=150) > 0.7
    assert stats.saturation_power(macs, 3, 1.45, 4.0, 4.0, sims=150) < 0.1  # a straight line
    with pytest.raises(ValueError, match="gain_end <= gain_start"):
        stats.saturation_power(macs, 3, 1.45, 2.0, 4.0)
