"""Statistics a figure or a table may claim: seed intervals, differences, test families, power, slopes, saturation.

``interval`` is the Student-t confidence interval of a mean over seeds; ``compare`` the Welch interval
of a difference of two means, ``paired`` the seed-blocked (paired t) one; ``compare_lines`` and
``compare_lines_paired`` (each seed's own lines) those of two fitted lines at one MACs value; ``holm``
and ``benjamini_hochberg`` adjust a family's p-values;
``equivalence`` says what a difference's interval excludes (a claimed margin, or ±margin: TOST);
``power`` and ``seeds_needed`` size a paired comparison, ``not_testable`` words a power below
``MIN_POWER``; ``slope_of_means`` (lack of fit counted as error) and ``slope_paired`` (seed-blocked) give
accuracy's slope per doubling of MACs; ``fit_saturation`` decides whether accuracy rises with MACs, and
whether it saturates inside the measured range (paper Fig. 3), from every run of a sweep line. numpy and
scipy only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize, special
from scipy.stats import false_discovery_control, spearmanr

#: Extra AICc support the saturating curve needs over the line to be chosen (Burnham & Anderson's "2").
SUPPORT = 2.0
#: Decay rates c tried by the saturating fit (the gap to the asymptote shrinks by 2^-c per doubling).
C_GRID = np.geomspace(0.01, 10.0, 61)


def half_width(std, n, confidence: float = 0.95):
    """Half-width of the Student-t interval of a mean from its std (ddof 1) and count; NaN where n < 2."""
    std, n = np.asarray(std, dtype=float), np.asarray(n, dtype=float)
    df = np.where(n >= 2, n - 1, np.nan)
    out = special.stdtrit(df, (1 + confidence) / 2) * std / np.sqrt(n)
    return float(out) if out.ndim == 0 else out


@dataclasses.dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with its std (ddof 1) and ``confidence`` t interval (NaN where n < 2)."""

    mean: float
    std: float
    n: int
    half_width: float
    low: float
    high: float
    confidence: float


def interval(values, confidence: float = 0.95) -> Interval:
    """The mean of ``values`` (e.g. one point's seeds) and its Student-t confidence interval."""
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    mean = float(v.mean()) if n else math.nan
    std = float(v.std(ddof=1)) if n >= 2 else math.nan
    h = half_width(std, n, confidence)
    return Interval(mean, std, n, h, mean - h, mean + h, confidence)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """``difference`` = mean(b) - mean(a), its t interval and two-sided p-value.

    ``method``: ``"welch"`` (two independent groups) or ``"paired"`` (per-seed differences, ``n_a`` = ``n_b``
    = the shared seeds). ``exceeds_noise``: the interval excludes 0; None when either group has fewer than
    2 values.
    """

    difference: float
    half_width: float
    low: float
    high: float
    p_value: float
    df: float
    n_a: int
    n_b: int
    exceeds_noise: bool | None
    confidence: float
    method: str = "welch"


def compare(a, b, confidence: float = 0.95) -> Comparison:
    """Whether group ``b`` differs from group ``a`` (e.g. two candidates' seeds) beyond the seed noise."""
    a, b = interval(a, confidence), interval(b, confidence)
    diff = b.mean - a.mean
    if min(a.n, b.n) < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, math.nan, math.nan, a.n, b.n, None, confidence)
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:  # both groups constant: the difference is exact
        return Comparison(diff, 0.0, diff, diff, float(diff == 0), math.inf, a.n, b.n, diff != 0, confidence)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))  # Welch-Satterthwaite
    h = float(special.stdtrit(df, (1 + confidence) / 2) * se)
    p = float(2 * special.stdtr(df, -abs(diff) / se))
    return Comparison(diff, h, diff - h, diff + h, p, float(df), a.n, b.n, bool(abs(diff) > h), confidence)


def compare_lines(macs_a, accuracy_a, macs_b, accuracy_b, at: float, confidence: float = 0.95) -> Comparison:
    """Line ``b`` minus line ``a`` at ``at`` MACs (paper Fig. 4: which baseline's width curve is higher).

    Each line's runs (one (MACs, accuracy) pair per seed and point) are fitted by least squares against
    log2(MACs), and the two predictions at ``at`` are compared with a Welch interval on their standard
    errors (n - 2 degrees of freedom each). The fit assumes accuracy linear in log MACs over each line's
    range (what ``fit_saturation`` chooses for a line that rises without saturating); ``at`` must lie
    inside both ranges (no extrapolation). ``n_a``, ``n_b`` count runs; a line of 2 runs has no
    interval (``exceeds_noise`` None).
    """
    fits = [_line_at(np.log2(np.asarray(m, dtype=float).ravel()), np.asarray(y, dtype=float).ravel(), math.log2(at))
            for m, y in ((macs_a, accuracy_a), (macs_b, accuracy_b))]
    (ya, va, dfa, na), (yb, vb, dfb, nb) = fits
    if min(dfa, dfb) < 1:
        return Comparison(yb - ya, math.nan, math.nan, math.nan, math.nan, math.nan, na, nb, None, confidence)
    diff, se = yb - ya, math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / dfa + vb**2 / dfb) if se > 0 else math.inf
    h = float(special.stdtrit(df, (1 + confidence) / 2) * se)
    p = float(2 * special.stdtr(df, -abs(diff) / se)) if se > 0 else float(diff == 0)
    return Comparison(diff, h, diff - h, diff + h, p, float(df), na, nb, bool(abs(diff) > h), confidence)


def _line_at(x, y, x0) -> tuple[float, float, int, int]:
    """The least-squares line's value at ``x0``, its variance (NaN through 2 runs), degrees of freedom and run count."""
    distinct = np.unique(x)
    if distinct.size < 2:
        raise ValueError(f"a line needs runs at 2 or more MACs, got {distinct.size}")
    _check_inside(distinct, x0)
    a, slope, rss = _line(x, y)
    n = x.size
    variance = rss / (n - 2) * (1 / n + (x0 - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum()) if n > 2 else math.nan
    return a + slope * x0, variance, n - 2, n


def _check_inside(distinct, x0) -> None:
    """ValueError unless ``x0`` lies within the sorted log2 MACs values ``distinct`` (no extrapolation)."""
    if not distinct[0] <= x0 <= distinct[-1]:
        raise ValueError(f"{2 ** x0:.4g} MACs lies outside a line's range ({2 ** distinct[0]:.4g} to "
                         f"{2 ** distinct[-1]:.4g}): no extrapolation")


def compare_lines_paired(macs_a, accuracy_a, seeds_a, macs_b, accuracy_b, seeds_b, at: float,
                         confidence: float = 0.95) -> Comparison:
    """Line ``b`` minus line ``a`` at ``at`` MACs, paired by seed (paper Fig. 4, seeds as blocks).

    Each seed's own least-squares line against log2(MACs) over its line's points (its runs at a point
    averaged; only seeds with a run at every point count, as in :func:`slope_paired`) gives its value at
    ``at``, and :func:`paired` takes the per-seed differences of the two lines' values: a seed's offset,
    shared by every network of the seed, cancels. With the same seeds at every point of both lines the
    difference is :func:`compare_lines`'s (a least-squares prediction is linear in the data); only the
    interval differs. ``at`` must lie inside both lines' ranges; ``n_a`` = ``n_b`` count the shared seeds.
    """
    x0 = math.log2(at)
    a, b = (_seed_lines_at(m, y, s, x0) for m, y, s in ((macs_a, accuracy_a, seeds_a), (macs_b, accuracy_b, seeds_b)))
    return paired(a, b, confidence)


def _seed_lines_at(macs, accuracy, seeds, x0) -> dict:
    """seed -> its least-squares line's value at ``x0`` (log2 MACs), for the seeds with a run at every point."""
    cells = _cells(macs, accuracy, seeds)
    points = sorted({m for m, _ in cells})
    if len(points) < 2:
        raise ValueError(f"a line needs runs at 2 or more MACs, got {len(points)}")
    x = np.log2(points)
    _check_inside(x, x0)
    complete = [s for s in dict.fromkeys(s for _, s in cells) if all((p, s) in cells for p in points)]
    out = {}
    for s in complete:
        a, slope, _ = _line(x, np.array([cells[p, s] for p in points]))
        out[s] = a + slope * x0
    return out


def paired(a_by_seed, b_by_seed, confidence: float = 0.95) -> Comparison:
    """Seed-blocked ``b`` minus ``a``: the paired t interval of the mean per-seed difference.

    Each input maps seed -> value, or seed -> values (a seed run twice, e.g. on two machines: averaged
    within the seed first; non-finite values are dropped, a seed left with none is absent). Only seeds
    present in both count (``n_a`` = ``n_b`` = their number, df = n - 1); a seed's own offset, shared by
    both sides, cancels. ``exceeds_noise`` is None, and the interval NaN, with fewer than 2 shared seeds.
    """
    a, b = _seed_means(a_by_seed), _seed_means(b_by_seed)
    d = np.array([b[s] - a[s] for s in a if s in b])
    n = d.size
    diff = float(d.mean()) if n else math.nan
    if n < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, math.nan, math.nan, n, n, None, confidence, "paired")
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0:  # every seed gives the same difference: it is exact
        return Comparison(diff, 0.0, diff, diff, float(diff == 0), math.inf, n, n, diff != 0, confidence, "paired")
    h = float(special.stdtrit(n - 1, (1 + confidence) / 2) * se)
    p = float(2 * special.stdtr(n - 1, -abs(diff) / se))
    return Comparison(diff, h, diff - h, diff + h, p, float(n - 1), n, n, bool(abs(diff) > h), confidence, "paired")


def _seed_means(by_seed) -> dict:
    """seed -> the mean of its finite values, for the seeds that have one."""
    out = {}
    for seed, values in dict(by_seed).items():
        v = np.asarray(values, dtype=float).ravel()
        v = v[np.isfinite(v)]
        if v.size:
            out[seed] = float(v.mean())
    return out


# --------------------------------------------------------------------------------------------
# A family of tests: adjusted p-values
# --------------------------------------------------------------------------------------------
def holm(p_values) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (family-wise error), in the input's order.

    The i-th smallest of m p-values becomes max over j <= i of (m - j + 1) p_(j), capped at 1. NaN (a test
    not run) stays NaN and is not counted in m.
    """
    p = _p_array(p_values)
    out = np.full(p.size, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out.tolist()


def benjamini_hochberg(p_values) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate), in the input's order.

    scipy's ``false_discovery_control``; NaN (a test not run) stays NaN and is not counted in the family.
    """
    p = _p_array(p_values)
    out = np.full(p.size, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = false_discovery_control(p[finite], method="bh")
    return out.tolist()


def _p_array(p_values) -> np.ndarray:
    p = np.asarray(p_values, dtype=float).ravel()
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)].tolist()}")
    return p


# --------------------------------------------------------------------------------------------
# What an interval excludes: a claimed margin, equivalence
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Equivalence:
    """What a difference's ``confidence`` interval [``low``, ``high``] says about a margin ``bound`` > 0.

    ``below_bound``: it excludes a difference of +bound or more (high < bound); ``above_bound``: it excludes
    one below +bound (low > bound); ``equivalent``: it lies inside (-bound, +bound), TOST's verdict with
    each one-sided test at level (1 - confidence) / 2 (stricter than the usual 90% interval at 5%). All
    three are None when the interval is NaN (fewer than 2 seeds).
    """

    bound: float
    low: float
    high: float
    confidence: float
    below_bound: bool | None
    above_bound: bool | None
    equivalent: bool | None

    def words(self) -> str:
        """One-line verdict: ``within ±1 of 0 (equivalent)``, ``excludes a difference of +2.5 or more``, ..."""
        if self.equivalent and (self.low > 0 or self.high < 0):
            return f"excludes both 0 and a difference of ±{self.bound:g} or more (a real but smaller one)"
        if self.equivalent:
            return f"within ±{self.bound:g} of 0 (equivalent)"
        if self.below_bound:
            return f"excludes a difference of {self.bound:+g} or more"
        if self.above_bound:
            return f"excludes a difference below {self.bound:+g}"
        if self.below_bound is None:
            return f"cannot exclude {self.bound:+g} (no interval: fewer than 2 seeds)"
        return f"cannot exclude {self.bound:+g}"


def equivalence(comparison: Comparison, bound: float) -> Equivalence:
    """Whether ``comparison``'s interval excludes a difference of +``bound`` (e.g. a paper's claimed gain)
    and whether it lies within ±``bound`` of 0, at the comparison's own confidence."""
    if not (math.isfinite(bound) and bound > 0):
        raise ValueError(f"the margin must be a positive number, got {bound}")
    low, high = comparison.low, comparison.high
    if math.isnan(low) or math.isnan(high):
        return Equivalence(bound, low, high, comparison.confidence, None, None, None)
    return Equivalence(bound, low, high, comparison.confidence, bool(high < bound), bool(low > bound),
                       bool(-bound < low and high < bound))


# --------------------------------------------------------------------------------------------
# Power of the paired t test: how many seeds a difference needs
# --------------------------------------------------------------------------------------------
#: Power below which a comparison is reported as not testable with the seeds it has.
MIN_POWER = 0.5


def power(effect, sd_difference, seeds, alpha: float = 0.05, tests: int = 1):
    """Power of the two-sided paired t test to find a true mean difference ``effect`` (noncentral t).

    ``sd_difference`` is the std of the per-seed difference; the test's level is ``alpha / tests``
    (Bonferroni, or Holm's first step: the conservative case for a family of ``tests``). 0 below 2 seeds.
    Broadcasts over its arguments.
    """
    return _power(effect, sd_difference, seeds, alpha, tests)


def _power(effect, sd_difference, seeds, alpha, tests):
    if np.any(np.asarray(sd_difference) <= 0):
        raise ValueError(f"sd_difference must be positive, got {sd_difference}")
    n = np.asarray(seeds, dtype=float)
    df = np.where(n >= 2, n - 1, np.nan)
    t = special.stdtrit(df, 1 - alpha / tests / 2)
    nc = np.abs(np.asarray(effect, dtype=float)) * np.sqrt(n) / sd_difference
    # The tail on the other side is tiny for nc >= 0, and scipy's nctdtr returns NaN where it underflows.
    wrong_side = np.nan_to_num(special.nctdtr(df, nc, -t), nan=0.0)
    out = np.where(n >= 2, wrong_side + (1 - special.nctdtr(df, nc, t)), 0.0)
    return float(out) if out.ndim == 0 else out


def seeds_needed(effect, sd_difference, power: float = 0.8, alpha: float = 0.05, tests: int = 1,
                 max_seeds: int = 100) -> int | None:
    """The fewest seeds whose paired t test has at least ``power`` (see :func:`power`); None beyond ``max_seeds``."""
    n = np.arange(2, max_seeds + 1)
    reached = np.flatnonzero(_power(effect, sd_difference, n, alpha, tests) >= power)
    return int(n[reached[0]]) if reached.size else None


def not_testable(power: float, seeds: int) -> str | None:
    """``not testable with 3 seeds (power 0.21)`` for a power below ``MIN_POWER``; None otherwise."""
    return f"not testable with {seeds} seeds (power {power:.2f})" if power < MIN_POWER else None


# --------------------------------------------------------------------------------------------
# Cost-adjusted scores: what a candidate scores beyond what its cost predicts
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CostAdjusted:
    """Scores against log2 MACs over a grid's candidates: the least-squares ``slope`` per doubling, each
    candidate's ``residual`` (its score minus the line's at its MACs), and Spearman's rank correlation
    of score and MACs with its p-value (NaN below 3 candidates or where every MACs value is equal)."""

    slope: float
    residuals: tuple[float, ...]
    spearman: float
    spearman_p: float


def cost_adjusted(macs, score) -> CostAdjusted:
    """Each score's residual from the line of score on log2 MACs (candidates of equal MACs: from their mean)."""
    x, y = np.log2(np.asarray(macs, dtype=float)), np.asarray(score, dtype=float)
    if x.size < 3 or np.ptp(x) == 0:
        return CostAdjusted(math.nan if x.size < 3 else 0.0, tuple((y - y.mean()).tolist()), math.nan, math.nan)
    a, slope, _ = _line(x, y)
    rho = spearmanr(x, y)
    return CostAdjusted(slope, tuple((y - a - slope * x).tolist()), float(rho.statistic), float(rho.pvalue))


# --------------------------------------------------------------------------------------------
# Slope of accuracy per doubling of MACs
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Slope:
    """Accuracy's slope per doubling of MACs and its ``confidence`` t interval (NaN where there is none).

    ``method``: ``"means"`` (the line through the point means, df = points - 2) or ``"paired"`` (the mean
    of the seeds' own slopes, df = seeds - 1). ``points`` counts distinct MACs values, ``seeds`` the seeds
    used (None where the call gave none); ``df`` is 0 where there is no interval.
    """

    slope: float
    low: float
    high: float
    points: int
    seeds: int | None
    df: int
    method: str
    confidence: float


def slope_of_means(macs, accuracy, seeds=None, confidence: float = 0.95) -> Slope:
    """The least-squares slope of the point means against log2(MACs), with an interval that counts lack of fit.

    One value per distinct MACs, the mean of its runs (with ``seeds``, a seed's runs at a point are averaged
    first, so a seed run twice counts once); the interval is Student-t on points - 2 degrees of freedom, so
    the means' scatter about the line, seed noise and departure from a line alike, is the error (a fit to
    every run would count each point's seeds as independent evidence of a line). NaN interval below 3
    points, NaN slope below 2. Non-finite runs are dropped.
    """
    cells = _cells(macs, accuracy, seeds)
    points = sorted({m for m, _ in cells})
    means = np.array([np.mean([v for (m, _), v in cells.items() if m == p]) for p in points])
    k, used = len(points), None if seeds is None else len({s for _, s in cells})
    if k < 2:
        return Slope(math.nan, math.nan, math.nan, k, used, 0, "means", confidence)
    x = np.log2(points)
    _, slope, rss = _line(x, means)
    if k < 3:
        return Slope(slope, math.nan, math.nan, k, used, 0, "means", confidence)
    h = float(special.stdtrit(k - 2, (1 + confidence) / 2) * math.sqrt(rss / (k - 2) / ((x - x.mean()) ** 2).sum()))
    return Slope(slope, slope - h, slope + h, k, used, k - 2, "means", confidence)


def slope_paired(macs, accuracy, seeds, confidence: float = 0.95) -> Slope:
    """The seed-blocked slope: each seed's own least-squares line over the points, t interval over seeds.

    Only seeds with a run at every distinct MACs count (a seed's runs at a point averaged), so every seed's
    line is over the same points and the mean of their slopes is the slope of their point means. The
    interval counts how the slope varies from seed to seed, not lack of fit: it is for the best line's
    slope over these very points (``slope_of_means`` counts departure from a line as error).
    """
    cells = _cells(macs, accuracy, seeds)
    points = sorted({m for m, _ in cells})
    complete = [s for s in dict.fromkeys(s for _, s in cells) if all((p, s) in cells for p in points)]
    if len(points) < 2:
        return Slope(math.nan, math.nan, math.nan, len(points), len(complete), 0, "paired", confidence)
    x = np.log2(points)
    iv = interval([_line(x, np.array([cells[p, s] for p in points]))[1] for s in complete], confidence)
    return Slope(iv.mean, iv.low, iv.high, len(points), iv.n, max(iv.n - 1, 0), "paired", confidence)


def _cells(macs, accuracy, seeds) -> dict:
    """(MACs, seed) -> the mean of that seed's finite runs there; each run its own seed where ``seeds`` is None."""
    m, y = np.asarray(macs, dtype=float).ravel(), np.asarray(accuracy, dtype=float).ravel()
    s = np.arange(m.size) if seeds is None else np.asarray(seeds).ravel()
    if not m.size == y.size == s.size:
        raise ValueError(f"macs, accuracy and seeds differ in length ({m.size}, {y.size}, {s.size})")
    runs: dict = {}
    for mi, yi, si in zip(m, y, s.tolist(), strict=True):
        if math.isfinite(mi) and mi > 0 and math.isfinite(yi):
            runs.setdefault((float(mi), si), []).append(float(yi))
    return {key: float(np.mean(v)) for key, v in runs.items()}


# --------------------------------------------------------------------------------------------
# Saturation (paper Fig. 3: "the accuracy gain saturates"), against x = log2(MACs / M0)
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Saturation:
    """What one sweep line's runs say about accuracy against x = log2(MACs / m0), m0 its smallest MACs.

    ``model`` is the one chosen: ``"constant"`` (y = a), ``"line"`` (y = a + slope x) or ``"saturating"``
    (y = a - b 2^(-c x), b, c > 0: ``a`` the asymptote, the gap to it shrinks by 2^-c per doubling);
    ``params`` are its parameters, ``aicc`` the small-sample AIC of every model fitted (inf where there
    are too few runs for it). ``slope`` is the line's (slope, low, high) in points per doubling. The
    gain per doubling at M is the chosen curve's slope in log2 MACs there; ``saturation_macs`` (with
    ``saturation_ci``) is where it falls to ``threshold``, given only when both lie in [m0, m_max].
    """

    model: str
    params: dict[str, float]
    aicc: dict[str, float]
    slope: tuple[float, float, float]
    m0: float
    m_max: float
    threshold: float
    saturation_macs: float | None
    saturation_ci: tuple[float, float] | None
    verdict: str

    def __call__(self, macs) -> np.ndarray:
        x, p = np.log2(np.asarray(macs, dtype=float) / self.m0), self.params
        if self.model == "saturating":
            return p["a"] - p["b"] * 2.0 ** (-p["c"] * x)
        return p["a"] + p.get("slope", 0.0) * x

    def gain_per_doubling(self, macs) -> np.ndarray:
        """d accuracy / d log2(MACs) of the chosen model at ``macs``."""
        x, p = np.log2(np.asarray(macs, dtype=float) / self.m0), self.params
        if self.model == "saturating":
            return p["b"] * p["c"] * math.log(2) * 2.0 ** (-p["c"] * x)
        return np.full_like(x, p.get("slope", 0.0))

    def curve(self, num: int = 200) -> tuple[np.ndarray, np.ndarray] | None:
        """(MACs, accuracy) of the chosen line or saturating curve over the measured range; None for a constant."""
        if self.model == "constant":
            return None
        macs = np.geomspace(self.m0, self.m_max, num)
        return macs, self(macs)


def fit_saturation(macs, accuracy, *, threshold: float = 0.5, confidence: float = 0.95, resamples: int = 1000,
                   seed: int = 0) -> Saturation:
    """Fit one sweep line's runs (one (MACs, accuracy) pair per seed, accuracy in %; ``threshold`` in points).

    Rules: the line's slope decides between rising (its ``confidence`` interval above 0), falling (below 0)
    and flat (the constant). A rising line is replaced by the saturating curve when that has at least 4
    distinct MACs values and an AICc lower by more than ``SUPPORT`` (``aicc`` lists every model fitted;
    the constant and the line are told apart by the slope's t test). The saturation point's
    interval is a bootstrap (``resamples``, ``seed``) that resamples the seeds within each point and
    refits the curve; it needs 2 or more seeds at every point, and is reported only inside [m0, m_max].
    """
    m, y = np.asarray(macs, dtype=float).ravel(), np.asarray(accuracy, dtype=float).ravel()
    keep = np.isfinite(m) & np.isfinite(y) & (m > 0)
    m, y = m[keep], y[keep]
    n = y.size
    m0, m_max = (float(m.min()), float(m.max())) if n else (math.nan, math.nan)
    x = np.log2(m / m0)
    levels = np.unique(x)
    base = dict(m0=m0, m_max=m_max, threshold=threshold, saturation_macs=None, saturation_ci=None)
    if n < 3 or levels.size < 3:  # through two MACs values any curve is a line: nothing to tell apart
        return Saturation("constant", {"a": float(y.mean()) if n else math.nan}, {}, (math.nan,) * 3,
                          verdict=f"too few points to fit ({n} run(s) at {levels.size} MACs value(s))", **base)

    a, slope, rss_line = _line(x, y)
    df = n - 2
    se = math.sqrt(rss_line / df / ((x - x.mean()) ** 2).sum())
    t = special.stdtrit(df, (1 + confidence) / 2)
    low, high = slope - t * se, slope + t * se
    aicc = {"constant": _aicc(((y - y.mean()) ** 2).sum(), n, 1), "line": _aicc(rss_line, n, 2)}
    ci = f"{round(100 * confidence)}% CI"
    if low <= 0:
        falls = high < 0
        model, params = ("line", {"a": a, "slope": slope}) if falls else ("constant", {"a": float(y.mean())})
        verdict = (f"does not rise (falls {-slope:.1f} pts per doubling, {ci} {-high:.1f}-{-low:.1f})" if falls else
                   f"does not rise significantly ({slope:+.1f} pts per doubling, {ci} {low:+.1f} to {high:+.1f})")
        return Saturation(model, params, aicc, (slope, low, high), verdict=verdict, **base)

    line_verdict = (f"rises linearly in log MACs ({slope:+.1f} pts per doubling, {ci} {low:.1f}-{high:.1f}): "
                    f"no saturation in the measured range")
    if levels.size < 4:
        return Saturation("line", {"a": a, "slope": slope}, aicc, (slope, low, high), verdict=line_verdict, **base)
    sa, sb, sc, rss = (float(v[0]) for v in _fit_saturating(x, y[None]))
    aicc["saturating"] = _aicc(rss, n, 3)
    if not aicc["saturating"] < aicc["line"] - SUPPORT:
        return Saturation("line", {"a": a, "slope": slope}, aicc, (slope, low, high), verdict=line_verdict, **base)

    fit = Saturation("saturating", {"a": sa, "b": sb, "c": sc}, aicc, (slope, low, high), verdict="", **base)
    first, last = fit.gain_per_doubling([m0, m_max])
    flattens = f"rises, then flattens ({first:+.1f} to {last:+.1f} pts per doubling); < {threshold:g} pts per doubling"
    at = float(_crossing(sb, sc, threshold))
    if at > levels[-1]:
        return dataclasses.replace(fit, verdict=f"{flattens} not reached in the measured range")
    if min((x == level).sum() for level in levels) < 2:
        return dataclasses.replace(fit, verdict=f"{flattens}: not estimated (needs >= 2 seeds per point)")
    lo, hi = _bootstrap_crossing(x, y, levels, at, threshold, confidence, resamples, seed)
    if not 0 <= lo <= at <= hi <= levels[-1]:
        return dataclasses.replace(fit, verdict=f"{flattens} not established in the measured range (its {ci} "
                                                f"reaches outside it)")
    point, bounds = m0 * 2.0**at, (float(m0 * 2.0**lo), float(m0 * 2.0**hi))
    scale, unit = _unit(point)
    verdict = (f"rises, then saturates: < {threshold:g} pts per doubling beyond {_macs(point)} MACs "
               f"({ci} {bounds[0] / scale:.2g}-{bounds[1] / scale:.2g} {unit})")
    return dataclasses.replace(fit, saturation_macs=float(point), saturation_ci=bounds, verdict=verdict)


def saturation_power(macs, seeds: int, sd: float, gain_start: float, gain_end: float, sims: int = 300,
                     seed: int = 0) -> float:
    """How often :func:`fit_saturation` chooses the saturating curve when one is true: the share of ``sims``
    simulated lines at ``macs`` (``seeds`` runs each, independent noise of std ``sd`` points) whose truth
    gains ``gain_start`` points per doubling at the smallest MACs and ``gain_end`` at the largest
    (a - b 2^(-c x), x = log2(M / M0)). With ``gain_end == gain_start`` (a straight line) it is the
    false-positive rate."""
    m = np.sort(np.unique(np.asarray(macs, dtype=float)))
    if not (0 < gain_end <= gain_start) or sd <= 0 or seeds < 1 or m.size < 2:
        raise ValueError("need 0 < gain_end <= gain_start, sd > 0, seeds >= 1 and 2 or more MACs values")
    x = np.repeat(np.log2(m / m[0]), seeds)
    span = x.max()
    c = math.log2(gain_start / gain_end) / span
    truth = 50 + gain_start * x if c == 0 else 50 - gain_start / (c * math.log(2)) * 2.0 ** (-c * x)
    rng = np.random.default_rng(seed)
    chosen = sum(fit_saturation(np.repeat(m, seeds), truth + rng.normal(0, sd, x.size), resamples=2).model
                 == "saturating" for _ in range(sims))
    return chosen / sims


def _bootstrap_crossing(x, y, levels, at, threshold, confidence, resamples, seed) -> tuple[float, float]:
    """Percentile bootstrap interval of the saturation point (in x), widened by t/z for the few seeds.

    With 2-3 seeds per point the percentile interval is too narrow (simulated coverage of a true
    saturation point 0.81 and 0.85 for a nominal 0.95); scaling its arms by t(n - points) / z, the
    small-sample factor of the seed noise's degrees of freedom, gives 0.92, 0.91 and 0.94 at 2, 3, 5
    seeds (6 points of ``tests/test_stats.py``'s curve, 200 noisy data sets each).
    """
    ys = _resample_seeds(x, y, levels, resamples, np.random.default_rng(seed))
    p = (1 + confidence) / 2
    q = np.quantile(_crossing(*_fit_saturating(x, ys)[1:3], threshold), [1 - p, p], method="inverted_cdf")
    widen = special.stdtrit(y.size - levels.size, p) / special.ndtri(p)
    with np.errstate(invalid="ignore"):  # an infinite arm stays infinite
        return float(at - widen * (at - q[0])), float(at + widen * (q[1] - at))


def _line(x, y) -> tuple[float, float, float]:
    """Least-squares y = a + slope x: (a, slope, residual sum of squares)."""
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    a = float(y.mean() - slope * x.mean())
    return a, slope, float(((y - a - slope * x) ** 2).sum())


def _aicc(rss: float, n: int, params: int) -> float:
    """Small-sample AIC of a least-squares fit with Gaussian noise (the noise variance counts as a parameter)."""
    k = params + 1
    if n - k - 1 <= 0:
        return math.inf
    with np.errstate(divide="ignore"):
        return float(n * np.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1))


def _fit_saturating(x, ys) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares y = a - b 2^(-c x), b >= 0, c in C_GRID's range, for each row of ``ys``: (a, b, c, rss).

    For a fixed c the model is linear in (a, b), so the fit profiles c: a grid, then Brent's method
    between the best grid point's neighbours.
    """
    rows = np.arange(len(ys))
    _, _, rss = _profile(C_GRID[:, None, None], x, ys)  # (grid, rows)
    best = rss.argmin(0)
    c = np.empty(len(ys))
    for i in rows:
        lo, hi = C_GRID[max(best[i] - 1, 0)], C_GRID[min(best[i] + 1, C_GRID.size - 1)]
        found = optimize.minimize_scalar(lambda logc, y=ys[i]: _profile(np.exp(logc), x, y)[2],
                                         bounds=(math.log(lo), math.log(hi)), method="bounded")
        c[i] = math.exp(found.x)
    a, b, rss = _profile(c[:, None], x, ys)
    return a, b, c, rss


def _profile(c, x, y):
    """The best (a, b >= 0) and residual sum of squares of y = a - b 2^(-c x) at decay rate(s) c (broadcasts)."""
    z = -(2.0 ** (-c * x))
    zc, yc = z - z.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    szz, szy, syy = (zc**2).sum(-1), (zc * yc).sum(-1), (yc**2).sum(-1)
    b = np.maximum(szy / szz, 0.0)
    a = y.mean(-1) - b * z.mean(-1)
    return a, b, syy - b * szy


def _crossing(b, c, threshold):
    """x where the gain per doubling, b c ln2 2^(-c x), equals ``threshold`` (-inf for b = 0)."""
    with np.errstate(divide="ignore"):
        return np.log2(np.asarray(b) * c * math.log(2) / threshold) / c


def _resample_seeds(x, y, levels, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` rows of y, each point's seeds drawn with replacement from its own.

    Deviations from a point's mean are scaled by sqrt(n / (n - 1)), so the resampled variance is unbiased.
    """
    out = np.empty((resamples, y.size))
    for level in levels:
        idx = np.flatnonzero(x == level)
        dev = (y[idx] - y[idx].mean()) * math.sqrt(idx.size / (idx.size - 1))
        out[:, idx] = y[idx].mean() + dev[rng.integers(0, idx.size, size=(resamples, idx.size))]
    return out


def _unit(macs: float) -> tuple[float, str]:
    return (1e9, "G") if macs >= 1e9 else (1e6, "M")


def _macs(macs: float) -> str:
    """``1.9 M`` / ``2.4 G``."""
    scale, unit = _unit(macs)
    return f"{macs / scale:.2g} {unit}"
