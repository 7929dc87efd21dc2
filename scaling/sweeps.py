"""Scaling sweeps (paper Figs. 3, 4, 8) as point lists for the search's study machinery.

A sweep scales a baseline (``train.baseline``: efficientnet-b0, mobilenetv2 or resnet50, itself
pre-scaled by ``depth0``, ``width0``, ``resolution0`` at ``train.base_resolution`` px) by multipliers
(d, w, r), and draws top-1 against MACs:

- ``width``, ``depth``, ``resolution`` (Fig. 3): one dimension over ``values`` (default the paper's);
- ``width-baselines`` (Fig. 4): widths ``values`` for each (d, r) of ``baselines``;
- ``compound-vs-single`` (Fig. 8): for each phi of ``phi``, the compound network
  (alpha^phi, beta^phi, gamma^phi) (alpha, beta, gamma given, or the winner of the search
  ``from_study``) and the width-only, depth-only and resolution-only networks whose real MACs are
  closest to it.

Every distinct network is one point of an Optuna study run by :func:`scaling.search.run_study`, so a
sweep is trained exactly once per (network, seed), resumes, shares storage and workers, and records
failures like the search. A point is stored as the search stores its points, with
(alpha, beta, gamma) = (d, w, r) at phi = 1 (the same network), plus a ``members`` attribute: the
figure points (line, coefficient, label) it stands for. Figure points that round to one network
(Fig. 8's four lines share the baseline) are trained once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

from scaling import cost, plots, results, rules, search

SWEEPS = ("width", "depth", "resolution", "width-baselines", "compound-vs-single")
#: The paper's Fig. 3 coefficients; ``width`` is also used for Fig. 4, whose widths the paper does not list.
PAPER_VALUES = {"width": "1,1.4,1.8,2.6,3.8,5", "depth": "1,2,3,4,6,8", "resolution": "1,1.3,1.5,1.7,1.9,2.2,2.5"}
#: Fields of SweepConfig that SearchConfig lacks.
SWEEP_FIELDS = ("sweep", "values", "baselines", "phi", "from_study")


class SweepError(search.SearchError):
    """A sweep that cannot start (unknown name, bad coefficients); one line, exit 2."""


@dataclasses.dataclass
class SweepConfig(search.SearchConfig):
    """A sweep study: the search's fields (storage, seeds, baseline d0/w0/r0, ``train``) plus these.

    ``alpha``, ``beta``, ``gamma`` are single values here: the compound coefficients of
    compound-vs-single. The grid fields ``target`` and ``tol`` are unused.
    """

    alpha: str = "1.2"
    beta: str = "1.1"
    gamma: str = "1.15"
    sweep: str = "width"
    values: str = ""  # the swept coefficient (width-baselines: the widths); "" = the paper's Fig. 3 values
    baselines: str = "1/1,1/1.3,2/1,2/1.3"  # width-baselines: d/r of each line (Fig. 4)
    phi: str = "0:3"  # compound-vs-single: the compound exponents (>= 0)
    from_study: str | None = None  # compound-vs-single: alpha, beta, gamma of this finished search


@dataclasses.dataclass(frozen=True)
class Member:
    """One figure point: its line, coefficient and label, and the (d, w, r) multipliers of its network."""

    line: str
    coefficient: float
    label: str
    dwr: tuple[float, float, float]


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def experiment_file(name: str) -> pathlib.Path:
    return search.REPO / "experiments" / f"sweep_{name.replace('-', '_')}.py"


def load_config(name: str, path: str | None = None) -> SweepConfig:
    """The SweepConfig of ``experiments/sweep_<name>.py`` (or of the experiment file ``path``)."""
    if name not in SWEEPS:
        raise SweepError(f"unknown sweep {name!r}; choose from {', '.join(SWEEPS)}")
    config = search.load_config(path or experiment_file(name))
    if not isinstance(config, SweepConfig) or config.sweep != name:
        raise SweepError(f"{path or experiment_file(name)}: get_config() must return a SweepConfig with sweep={name!r}")
    return config


def with_overrides(config: SweepConfig, **changes) -> SweepConfig:
    """``config`` with fields replaced (sweep, search and training fields alike).

    A new ``baseline`` without a new ``study`` renames the study ``<study>-<baseline>``, so
    ``scaling sweep width --baseline resnet50`` is a study of its own.
    """
    own = {k: changes.pop(k) for k in SWEEP_FIELDS if k in changes}
    if changes.get("baseline", config.train.baseline) != config.train.baseline and "study" not in changes:
        changes["study"] = f"{config.study}-{changes['baseline']}"
    return dataclasses.replace(search.with_overrides(config, **changes), **own)


def resolve(config: SweepConfig) -> SweepConfig:
    """``config`` with alpha, beta, gamma taken from ``from_study`` (a finished search) when set."""
    if config.sweep not in SWEEPS:
        raise SweepError(f"unknown sweep {config.sweep!r}; choose from {', '.join(SWEEPS)}")
    if not config.from_study:
        return config
    if config.sweep != "compound-vs-single":
        raise SweepError("from_study only applies to the compound-vs-single sweep")
    _, (a, b, g) = search.from_study(dataclasses.replace(config, study=config.from_study))
    return dataclasses.replace(config, alpha=f"{a:g}", beta=f"{b:g}", gamma=f"{g:g}", from_study=None)


# --------------------------------------------------------------------------------------------
# Networks, figure points, study points
# --------------------------------------------------------------------------------------------
def network(config: SweepConfig, d: float = 1.0, w: float = 1.0, r: float = 1.0):
    """The baseline (pre-scaled by depth0, width0, resolution0) scaled by (d, w, r)."""
    return rules.baseline_spec(config.train.baseline, config.depth0 * d, config.width0 * w, config.resolution0 * r,
                               base_resolution=config.train.base_resolution)


def _dwr(dimension: str, value: float) -> tuple[float, float, float]:
    return {"depth": (value, 1.0, 1.0), "width": (1.0, value, 1.0), "resolution": (1.0, 1.0, value)}[dimension]


def _values(config: SweepConfig, default: str) -> list[float]:
    values = rules.parse_range(config.values or PAPER_VALUES[default])
    if not values or min(values) <= 0:
        raise SweepError(f"sweep values must be positive, got {config.values!r}")
    return values


def _macs(config: SweepConfig, dwr: tuple[float, float, float], num_classes: int) -> int:
    return cost.count(network(config, *dwr), num_classes).macs


def match_macs(config: SweepConfig, dimension: str, target: float, num_classes: int, step: float = 0.01) -> float:
    """The multiplier (>= 1, a multiple of ``step``) of ``dimension`` alone whose network's MACs are
    closest to ``target`` in ratio. Bisection: MACs grow with each multiplier."""

    def macs(k: int) -> int:
        return _macs(config, _dwr(dimension, 1 + k * step), num_classes)

    lo, hi = 0, 1
    while macs(hi) < target:
        lo, hi = hi, 2 * hi
        if hi > 1e6:
            raise SweepError(f"no {dimension} multiplier reaches {target:.3g} MACs")
    while hi - lo > 1:  # smallest k with macs(k) >= target lies in (lo, hi]
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if macs(mid) >= target else (mid, hi)
    best = min((lo, hi), key=lambda k: abs(math.log(macs(k) / target)))
    return round(1 + best * step, 6)


def compound_coefficients(config: SweepConfig) -> tuple[float, float, float]:
    try:
        a, b, g = (float(v) for v in (config.alpha, config.beta, config.gamma))
    except ValueError:
        raise SweepError(f"alpha, beta, gamma must be single numbers, got {config.alpha!r}, "
                         f"{config.beta!r}, {config.gamma!r}") from None
    if min(a, b, g) < 1:
        raise SweepError(f"alpha, beta, gamma must be >= 1, got {a:g}, {b:g}, {g:g}")
    return a, b, g


def members(config: SweepConfig, num_classes: int) -> list[Member]:
    """The sweep's figure points, line by line."""
    name = config.sweep
    if name in plots.SINGLE_DIMENSIONS:
        return [Member(name, v, f"{name[0]}={v:g}", _dwr(name, v)) for v in _values(config, name)]
    if name == "width-baselines":
        pairs = [pair.split("/") for pair in config.baselines.split(",")]
        try:
            pairs = [(float(d), float(r)) for d, r in pairs]
        except ValueError:
            pairs = []
        if not pairs or min(min(p) for p in pairs) <= 0:
            raise SweepError(f"baselines must be positive d/r pairs like 1/1,2/1.3, got {config.baselines!r}")
        return [Member(f"d={d:g}, r={r:g}", w, f"w={w:g}", (d, w, r))
                for d, r in pairs for w in _values(config, "width")]
    if name == "compound-vs-single":
        alpha, beta, gamma = compound_coefficients(config)
        phis = search.parse_phis(config.phi)
        if min(phis) < 0:
            raise SweepError(f"phi must be >= 0 (single-dimension networks are matched from above 1), got {config.phi}")
        out = []
        for dim in plots.SINGLE_DIMENSIONS:
            for phi in phis:
                target = _macs(config, rules.compound_coefficients(alpha, beta, gamma, phi), num_classes)
                v = match_macs(config, dim, target, num_classes)
                out.append(Member(dim, v, f"{dim[0]}={v:g}", _dwr(dim, v)))
        out += [Member("compound", phi, f"phi={phi:g}", rules.compound_coefficients(alpha, beta, gamma, phi))
                for phi in phis]
        return out
    raise SweepError(f"unknown sweep {name!r}; choose from {', '.join(SWEEPS)}")


def points(config: SweepConfig, num_classes: int) -> list[search.Point]:
    """One study point per distinct network (x seeds); its ``members`` attribute lists its figure points."""
    groups: dict[tuple, tuple] = {}
    for m in members(config, num_classes):
        spec = network(config, *m.dwr)
        groups.setdefault(spec.architecture, (spec, m.dwr, []))[2].append(m)
    out = []
    for spec, (d, w, r), group in groups.values():
        attrs = {"members": json.dumps([{"line": m.line, "coefficient": m.coefficient, "label": m.label}
                                        for m in group])}
        params = {"alpha": d, "beta": w, "gamma": r, "phi": 1.0}
        out += [search.Point(f"d{d:.4g}_w{w:.4g}_r{r:.4g}", seed, spec, params, attrs) for seed in range(config.seeds)]
    keys = [p.key for p in out]
    if len(set(keys)) != len(keys):
        raise SweepError("two networks of the sweep got the same name; use coefficients that differ by 1e-4 or more")
    return out


def point_table(config: SweepConfig, pts: list[search.Point], num_classes: int) -> list[dict]:
    """The dry-run table: each network, the figure points it stands for, its cost and MAC ratio."""
    base = cost.count(network(config), num_classes).macs
    rows = []
    for p in pts:
        if p.seed:
            continue
        row = {"candidate": p.name, "points": "; ".join(f"{m['line']}: {m['label']}" for m in
                                                       json.loads(p.attrs["members"]))}
        row |= {k: v for k, v in cost.describe(p.spec, num_classes).items() if k != "network"}
        row["mac_ratio"] = round(row["macs"] / base, 3)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def prepare(config: SweepConfig, storage: bool = True) -> tuple[SweepConfig, list[search.Point], int]:
    """Validate ``config`` and build its points without creating anything: (config, points, num_classes)."""
    config = resolve(config)
    num_classes = search.validate(config, [], storage=False).num_classes
    pts = points(config, num_classes)
    search.validate(config, pts, storage=storage)
    return config, pts, num_classes


def sweep(config: SweepConfig, workers: int = 1) -> dict:
    """Train every point of the sweep (resumable study), write its table and figure; returns the summary."""
    config, pts, _ = prepare(config)
    summary = search.run_study(f"sweep:{config.sweep}", config, pts, workers)
    directory = search.study_dir(config)
    for stem in plots.redraw(directory):
        print(f"figure {stem}.png/.pdf", flush=True)
    df, _ = results.load(directory)
    print(results.describe_sweep(results.sweep_table(df)), flush=True)
    return summary
