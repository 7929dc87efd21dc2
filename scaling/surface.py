"""alpha, beta, gamma from the whole grid: a response surface fitted to every run of a step-1 search.

A grid search's winner is the argmax of noisy seed means; the surface uses every run instead. Each
grid point is first moved to the nearest point, in logs, of the constraint surface
alpha beta^2 gamma^2 = target (a plane in (log alpha, log beta, log gamma); the grid only satisfies
the constraint within its tolerance), so gamma is implied by alpha and beta. The score is then fitted
by least squares as

    score = (the seed's own level) + a quadratic in (log alpha, log beta),

seeds as blocks: every candidate shares its seed's data subset and order, and a seed's offset is not
evidence about the coefficients. The quadratic's stationary point is the estimate only where it is a
maximum inside the grid's convex hull (on the constraint plane); a saddle, a minimum or a maximum
beyond the searched range is reported as such. Its confidence region is a bootstrap: seeds drawn
with replacement (a block bootstrap) from ``MIN_BLOCK_SEEDS`` seeds on; below that (2-4 seeds give
only 3-35 distinct block resamples) the residuals drawn again within each seed, which assumes a
seed shifts every point alike. Simulated coverage of a known maximum by the nominal 95% intervals
(the 15-point grid 1-1.4 by 0.1, 200 data sets each, ``tests/test_surface.py``'s surface): residuals,
0.93-0.95 per coefficient at 2, 3 and 5 seeds, but 0.72-0.92 at 5 seeds where each seed also tilts
the surface (its own linear term); seeds, 0.82-0.88 at 5 seeds, 0.84-0.91 with the tilt, 0.90-0.91 at
10 and 0.92-0.95 at 20. numpy and scipy (the grid's hull) only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import spatial

#: Fewest seeds for the block bootstrap; with fewer, residuals are resampled within each seed.
MIN_BLOCK_SEEDS = 5
#: Terms of the quadratic in the (centred, scaled) coordinates z = (z1, z2), besides the seeds' levels.
TERMS = ("z1", "z2", "z1^2", "z1 z2", "z2^2")
#: The constraint's normal in (log alpha, log beta, log gamma): alpha beta^2 gamma^2.
NORMAL = np.array([1.0, 2.0, 2.0])
#: What the fitted quadratic's stationary point is.
STATUSES = ("maximum", "maximum outside the grid", "saddle", "minimum", "no stationary point", "not fitted")


@dataclasses.dataclass(frozen=True)
class Quadratic:
    """The fitted surface, averaged over the seeds' levels: ``level`` + the quadratic in
    z = (log(alpha, beta) - ``center``) / ``scale`` with coefficients ``coef`` (``TERMS``)."""

    level: float
    coef: tuple[float, ...]
    center: tuple[float, float]
    scale: tuple[float, float]
    target: float

    def __call__(self, alpha, beta) -> np.ndarray:
        """The fitted score at (alpha, beta) on the constraint surface (gamma implied)."""
        z = (np.stack([np.log(alpha), np.log(beta)], -1) - self.center) / self.scale
        return self.level + _terms(z) @ np.asarray(self.coef)


@dataclasses.dataclass(frozen=True)
class Optimum:
    """The response surface of one search and what its stationary point is.

    ``status`` is one of ``STATUSES``: only ``"maximum"`` (inside the grid's hull) is an estimate, with
    ``score`` the fitted seed-averaged score there and ``intervals`` (coefficient -> percentile interval
    of the bootstrap optima, or None: see :func:`fit`). ``alpha``, ``beta``, ``gamma`` are the
    stationary point whatever it is (None where there is none or nothing was fitted); ``words`` says
    it in one line. ``cloud`` holds the bootstrap resamples' maxima (alpha, beta, gamma), inside the
    hull or not; ``share_inside`` is the share of resamples with a maximum inside it. ``hull``: the
    grid's hull vertices (alpha, beta, gamma), counter-clockwise in (alpha, beta).
    """

    status: str
    words: str
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    score: float | None = None
    points: int = 0
    runs: int = 0
    seeds: int = 0
    target: float = 2.0
    surface: Quadratic | None = None
    method: str | None = None
    resamples: int = 0
    share_inside: float | None = None
    intervals: dict[str, tuple[float, float] | None] | None = None
    confidence: float = 0.95
    cloud: np.ndarray = dataclasses.field(default_factory=lambda: np.empty((0, 3)))
    hull: np.ndarray = dataclasses.field(default_factory=lambda: np.empty((0, 3)))

    def record(self) -> dict:
        """The JSON-able part (no cloud, no hull): what a search's ``summary.json`` stores."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("cloud", "hull")}
        if self.surface is not None:
            out["surface"] = dataclasses.asdict(self.surface)
        if self.intervals is not None:
            out["intervals"] = {k: None if v is None else list(v) for k, v in self.intervals.items()}
        return out


def project(alpha, beta, gamma, target: float = 2.0) -> np.ndarray:
    """(log alpha, log beta) of the point of alpha beta^2 gamma^2 = ``target`` nearest each
    (alpha, beta, gamma) in logs: the orthogonal projection onto that plane, one row per point."""
    u = np.log(np.stack([np.asarray(v, dtype=float).ravel() for v in (alpha, beta, gamma)], -1))
    # term by term, not u @ NORMAL: BLAS sums in an order that follows the CPU (AVX2 and AVX-512 differ in
    # the last bit), and a figure drawn from these points must be the same file on every machine
    along = sum(u[:, i] * NORMAL[i] for i in range(3)) - math.log(target)
    u = u - (along / float(sum(n * n for n in NORMAL)))[:, None] * NORMAL
    return u[:, :2]


def coefficients(logs: np.ndarray, target: float = 2.0) -> np.ndarray:
    """(alpha, beta, gamma) rows of (log alpha, log beta) rows on the constraint surface."""
    logs = np.atleast_2d(logs)
    log_gamma = (math.log(target) - logs[:, 0] - 2 * logs[:, 1]) / 2
    return np.exp(np.column_stack([logs, log_gamma]))


def fit(alpha, beta, gamma, score, seed, *, target: float = 2.0, confidence: float = 0.95, resamples: int = 1000,
        rng_seed: int = 0) -> Optimum:
    """The response surface of every run (one value of each argument per run) and its optimum.

    Non-finite scores are left out. The fit needs 6 or more distinct points, 3 or more values of each of
    alpha and beta (a grid with one beta is a thin band around a line once projected), that determine a
    quadratic (not all on one conic); otherwise the status is ``"not fitted"`` and ``words`` says why. The
    interval of each coefficient is the percentile interval of the resamples' maxima, where a resample
    with no maximum (a saddle or a minimum) counts as an optimum beyond either end: an interval is None
    (unbounded) once those exceed its tail, (1 - ``confidence``) / 2 of the resamples.
    """
    a, b, g, y = (np.asarray(v, dtype=float).ravel() for v in (alpha, beta, gamma, score))
    s = np.asarray(seed).ravel()
    keep = np.isfinite(y) & (np.minimum(np.minimum(a, b), g) > 0)
    a, b, g, y, s = a[keep], b[keep], g[keep], y[keep], s[keep]
    logs = project(a, b, g, target)
    distinct = np.unique(logs.round(12), axis=0)
    _, block = np.unique(s, return_inverse=True)
    base = dict(points=len(distinct), runs=y.size, seeds=int(block.max()) + 1 if y.size else 0, target=target,
                confidence=confidence)
    if len(distinct) < len(TERMS) + 1:
        return Optimum("not fitted", f"no response surface: a quadratic needs 6 or more distinct (alpha, beta) "
                       f"points on the constraint, the search has {len(distinct)}", **base)
    values = [np.unique(v.round(12)).size for v in (a, b)]
    if min(values) < 3:
        return Optimum("not fitted", f"no response surface: a quadratic needs 3 or more distinct values of each of "
                       f"alpha and beta, the search has {values[0]} and {values[1]}", **base)
    center, scale = distinct.mean(0), distinct.std(0)
    if np.linalg.cond(_design(distinct, center, scale)) > 1e10:
        return Optimum("not fitted", f"no response surface: the {len(distinct)} points do not determine a "
                       "quadratic (they lie on one conic)", **base)

    q = _terms((logs - center) / scale)
    qc, yc = _within(q, block), _within(y[:, None], block)[:, 0]
    gram = qc.T @ qc
    coef = np.linalg.solve(gram, qc.T @ yc)
    levels = np.array([(y[block == j] - q[block == j] @ coef).mean() for j in range(base["seeds"])])
    residuals = yc - qc @ coef
    surface = Quadratic(float(levels.mean()), tuple(coef.tolist()), tuple(center.tolist()), tuple(scale.tolist()),
                        target)
    hull = _hull(distinct)
    z, kind = _stationary(coef[None])
    status = kind[0]
    point = None if status == "no stationary point" else center + scale * z[0]
    if status == "maximum" and not _inside(hull, point[None])[0]:
        status = "maximum outside the grid"
    abg = (None,) * 3 if point is None else tuple(float(v) for v in coefficients(point, target)[0])
    optimum_score = None if point is None else float(surface(abg[0], abg[1]))

    dof = y.size - len(TERMS) - base["seeds"]
    boot: dict = dict(method=None, resamples=0, share_inside=None, intervals=None)
    if dof > 0 and resamples > 0:
        rng = np.random.default_rng(rng_seed)
        if base["seeds"] >= MIN_BLOCK_SEEDS:
            method, draws = "seeds", _block_resamples(qc, yc, block, resamples, rng)
        else:
            method = "residuals within seed"
            draws = _residual_resamples(qc, qc @ coef, residuals * math.sqrt(y.size / dof), block, gram,
                                        resamples, rng)
        zs, kinds = _stationary(draws)
        maxima = kinds == "maximum"
        found = center + scale * zs[maxima]
        inside = _inside(hull, found)
        cloud = coefficients(found, target) if len(found) else np.empty((0, 3))
        boot = dict(method=method, resamples=resamples, share_inside=float(inside.sum() / resamples), cloud=cloud)
        if status == "maximum":
            boot["intervals"] = {name: _percentile(cloud[:, i], resamples - maxima.sum(), confidence)
                                 for i, name in enumerate(("alpha", "beta", "gamma"))}
    optimum = Optimum(status, "", *abg, score=optimum_score if status == "maximum" else None, surface=surface,
                      hull=coefficients(hull, target), **base, **boot)
    return dataclasses.replace(optimum, words=describe(optimum))


def describe(o: Optimum, scale: float = 100.0, unit: str = "%") -> str:
    """The optimum in one line: the estimate with its intervals, or what the stationary point is."""
    if o.status == "not fitted":
        return o.words
    fitted = (f"response surface (quadratic in log alpha, log beta on alpha*beta^2*gamma^2 = {o.target:g}, "
              f"seeds as blocks; {o.runs} runs at {o.points} points, {o.seeds} seed(s))")
    at = "" if o.alpha is None else f"alpha {o.alpha:.3g}, beta {o.beta:.3g}, gamma {o.gamma:.3g}"
    boot = (f"; {100 * o.share_inside:.0f}% of {o.resamples} bootstrap resamples ({o.method}) have a maximum "
            "inside the grid" if o.method else "; no bootstrap (as many parameters as runs)")
    if o.status != "maximum":
        where = {"maximum outside the grid": f"its maximum lies beyond the searched range ({at}: an extrapolation)",
                 "saddle": f"the fitted surface is a saddle (at {at})",
                 "minimum": f"the fitted surface has a minimum, not a maximum (at {at})",
                 "no stationary point": "the fitted surface has no single stationary point"}[o.status]
        return f"{fitted}: no optimum inside the grid: {where}{boot}"
    ci = f"{round(100 * o.confidence)}% CI"
    parts = []
    for name, value in (("alpha", o.alpha), ("beta", o.beta), ("gamma", o.gamma)):
        iv = (o.intervals or {}).get(name)
        spread = f" ({ci} {iv[0]:.3g}-{iv[1]:.3g})" if iv else (f" ({ci} unbounded: too many resamples have no "
                                                                 "maximum)" if o.intervals else "")
        parts.append(f"{name} {value:.3g}{spread}")
    lo, hi = o.hull.min(0), o.hull.max(0)
    grid = ", ".join(f"{n} {lo[i]:.3g}-{hi[i]:.3g}" for i, n in enumerate(("alpha", "beta", "gamma")))
    return (f"{fitted}: maximum at {', '.join(parts)} (grid: {grid}); fitted score there {scale * o.score:.2f}{unit}"
            f"{boot}")


def _terms(z: np.ndarray) -> np.ndarray:
    z1, z2 = z[..., 0], z[..., 1]
    return np.stack([z1, z2, z1**2, z1 * z2, z2**2], -1)


def _design(distinct, center, scale) -> np.ndarray:
    z = (distinct - center) / scale
    return np.column_stack([np.ones(len(z)), _terms(z)])


def _within(x: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``x`` minus its mean within each block (the seeds' levels profiled out)."""
    means = np.zeros((block.max() + 1, x.shape[1]))
    np.add.at(means, block, x)
    return x - (means / np.bincount(block)[:, None])[block]


def _stationary(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of quadratic coefficients (``TERMS``): its stationary point z and what it is."""
    g1, g2, h11, h12, h22 = coef[:, 0], coef[:, 1], 2 * coef[:, 2], coef[:, 3], 2 * coef[:, 4]
    det = h11 * h22 - h12**2
    flat = np.abs(det) <= 1e-12 * (h11**2 + h22**2 + h12**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.column_stack([-(h22 * g1 - h12 * g2) / det, -(h11 * g2 - h12 * g1) / det])
    kind = np.where(det < 0, "saddle", np.where(h11 < 0, "maximum", "minimum")).astype(object)
    kind[flat] = "no stationary point"
    return z, kind


def _block_resamples(qc, yc, block, resamples: int, rng) -> np.ndarray:
    """Quadratic coefficients of ``resamples`` fits to seeds drawn with replacement, each draw its own block.

    A drawn seed's within-seed data are its own whatever else is drawn, so each fit is the sum of the
    drawn seeds' normal equations; a draw whose seeds do not determine the quadratic is NaN (no maximum).
    """
    seeds = block.max() + 1
    gram = np.stack([qc[block == j].T @ qc[block == j] for j in range(seeds)])
    moment = np.stack([qc[block == j].T @ yc[block == j] for j in range(seeds)])
    counts = np.stack([np.bincount(rng.integers(0, seeds, seeds), minlength=seeds) for _ in range(resamples)])
    grams, moments = np.einsum("rj,jkl->rkl", counts, gram), counts @ moment
    out = np.full((resamples, len(TERMS)), np.nan)
    ok = np.linalg.cond(grams) < 1e10
    out[ok] = np.linalg.solve(grams[ok], moments[ok][..., None])[..., 0]
    return out


def _residual_resamples(qc, fitted, residuals, block, gram, resamples: int, rng) -> np.ndarray:
    """Quadratic coefficients of ``resamples`` fits to the fitted values plus residuals drawn again within each seed."""
    y = np.empty((resamples, fitted.size))
    for j in range(block.max() + 1):
        idx = np.flatnonzero(block == j)
        y[:, idx] = fitted[idx] + residuals[idx][rng.integers(0, idx.size, (resamples, idx.size))]
    y = _within(y.T, block).T
    return np.linalg.solve(gram, qc.T @ y.T).T


def _percentile(values: np.ndarray, unbounded: int, confidence: float) -> tuple[float, float] | None:
    """The percentile interval of ``values`` and ``unbounded`` more resamples beyond either end; None when
    those reach into either tail."""
    tail = (1 - confidence) / 2
    low = np.quantile(np.concatenate([np.full(unbounded, -np.inf), values]), tail, method="inverted_cdf")
    high = np.quantile(np.concatenate([values, np.full(unbounded, np.inf)]), 1 - tail, method="inverted_cdf")
    return (float(low), float(high)) if np.isfinite([low, high]).all() else None


def _hull(points: np.ndarray) -> np.ndarray:
    """The convex hull's vertices of 2-D ``points``, counter-clockwise (Qhull's order in 2-D) from the
    lowest (x, then y)."""
    vertices = points[spatial.ConvexHull(points).vertices]
    return np.roll(vertices, -np.lexsort(vertices.T[::-1])[0], axis=0)


def _inside(hull: np.ndarray, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Whether each of ``points`` lies inside the counter-clockwise ``hull`` (on an edge counts)."""
    a, b = hull, np.roll(hull, -1, axis=0)
    cross = ((b[:, 0] - a[:, 0]) * (points[:, None, 1] - a[:, 1])
             - (b[:, 1] - a[:, 1]) * (points[:, None, 0] - a[:, 0]))
    return (cross >= -tol).all(1)
