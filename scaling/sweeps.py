"""Scaling sweeps (paper Figs. 3, 4, 8) as point lists for the one study runner (:mod:`scaling.study`).

A sweep scales its study's baseline (``study.train.network``: efficientnet-b0, mobilenetv2 or
resnet50, itself at some depth, width and resolution) by multipliers (d, w, r) and draws top-1
against MACs:

- ``width``, ``depth``, ``resolution`` (Fig. 3): one dimension over ``values`` (default the paper's);
- ``width-baselines`` (Fig. 4): widths ``values`` for each (d, r) of ``baselines``;
- ``strategies``: each scaling strategy of ``strategies`` (:mod:`scaling.strategies`: compound, depth,
  width, resolution, dWr) at each cost multiplier s of ``costs``, matched on real MACs;
- ``compound-vs-single`` (Fig. 8): for each phi of ``phi``, the compound network
  (alpha^phi, beta^phi, gamma^phi) (alpha, beta, gamma given, or the winner of the search
  ``from_study``) and the width-only, depth-only and resolution-only networks whose real MACs are
  closest to it.

Every distinct network is one point (x seeds) with params ``d``, ``w``, ``r`` (its multipliers of
the baseline) and a ``members`` attribute: the figure points (line, coefficient, label) it stands
for. Figure points that round to one network (Fig. 8's four lines share the baseline) are trained once.

Each kind is one function ``members(cfg, num_classes)`` registered with its figure (``@register``,
:data:`SWEEPS`); :mod:`scaling.plots` draws every kind from that registration.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
from collections.abc import Callable

from scaling import budgets, config, cost, results, scaling_math, search, strategies, study
from scaling.network import merge_identical
from scaling.schema import SweepConfig
from scaling.study import Point, StudyError

#: The paper's Fig. 3 coefficients; ``width`` is also used for Fig. 4, whose widths the paper does not list.
PAPER_VALUES = {"width": (1, 1.4, 1.8, 2.6, 3.8, 5), "depth": (1, 2, 3, 4, 6, 8),
                "resolution": (1, 1.3, 1.5, 1.7, 1.9, 2.2, 2.5)}


class SweepError(StudyError):
    """A sweep that cannot start (unknown name, bad coefficients); one line, exit 2."""


@dataclasses.dataclass(frozen=True)
class Member:
    """One figure point: its line, coefficient and label, and the (d, w, r) multipliers of its network."""

    line: str
    coefficient: float
    label: str
    dwr: tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class SweepKind:
    """A kind of sweep: its figure points and the figure that draws them (``scaling.plots``)."""

    name: str
    members: Callable[[SweepConfig, int], list[Member]]  # (config, num_classes) -> figure points
    figure: str  # file stem of its figure in the study directory
    title: str
    panels: bool = False  # one panel per line (Fig. 3), else every line on one axis
    differences: bool = False  # a panel of each line's difference from the first (Fig. 4)
    matches_cost: bool = False  # honours ``match_macs`` (moves its networks' pixels, then width)
    compound: bool = False  # its compound networks use alpha, beta, gamma (so ``from_study`` can set them)


#: Every sweep kind by name; a new one is one function and one ``@register``.
SWEEPS: dict[str, SweepKind] = {}


def register(name: str, *, figure: str, title: str, panels: bool = False, differences: bool = False,
             matches_cost: bool = False, compound: bool = False):
    """Register ``members(cfg, num_classes) -> list[Member]`` as the sweep ``name``, drawn as ``figure``.

    A kind without a figure, or a name taken twice, fails here, when it is defined. Its tables need no
    entry: every kind's members become the same sweep table (:func:`scaling.results.sweep_table`)."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ValueError(f"sweep name must be lowercase letters, digits and '-', got {name!r}")
    if name in SWEEPS:
        raise ValueError(f"sweep {name!r} is registered twice")
    if not figure or not title:
        raise ValueError(f"sweep {name!r} needs a figure stem and a title")

    def add(members: Callable[[SweepConfig, int], list[Member]]):
        SWEEPS[name] = SweepKind(name, members, figure, title, panels, differences, matches_cost, compound)
        return members
    return add


def kind(name: str) -> SweepKind:
    """The registered sweep ``name`` (SweepError, one line, naming the others)."""
    if name not in SWEEPS:
        raise SweepError(f"unknown sweep {name!r}; choose from {', '.join(SWEEPS)}")
    return SWEEPS[name]


def load_config(name: str, path: str | None = None) -> SweepConfig:
    """The SweepConfig of the packaged ``sweep_<name>`` (or of the experiment file ``path``)."""
    kind(name)
    where = path or f"sweep_{name.replace('-', '_')}"
    cfg = config.load_experiment(where, SweepConfig)
    if cfg.sweep != name:
        raise SweepError(f"{where}: get_config() must return a SweepConfig with sweep={name!r}, not {cfg.sweep!r}")
    return cfg


def with_baseline(cfg: SweepConfig, baseline: str) -> SweepConfig:
    """``cfg`` on another baseline family; the study is renamed ``<study>-<baseline>`` (a study of its own)."""
    if baseline == cfg.study.train.network.baseline:
        return cfg
    return config.override(cfg, baseline=baseline, name=f"{cfg.study.name}-{baseline}")


def resolve(cfg: SweepConfig) -> SweepConfig:
    """``cfg`` with alpha, beta, gamma taken from ``from_study`` (a finished search) when set."""
    kind(cfg.sweep)
    if not cfg.from_study:
        return cfg
    if not kind(cfg.sweep).compound:
        raise SweepError(f"from_study only applies to the sweeps with compound networks "
                         f"({', '.join(n for n, s in SWEEPS.items() if s.compound)}), not to {cfg.sweep!r}")
    own = pathlib.Path(cfg.study.results_dir, cfg.from_study).is_dir()  # else runs/, then results/
    _, (a, b, g) = search.from_study(cfg.from_study, cfg.study.results_dir if own else None, cfg.study.storage)
    return dataclasses.replace(cfg, alpha=a, beta=b, gamma=g, from_study=None)


# --------------------------------------------------------------------------------------------
# Figure points and study points
# --------------------------------------------------------------------------------------------
def _costs(cfg: SweepConfig) -> list[float]:
    costs = cfg.costs or (1.0, 2.0, 4.0)
    if min(costs) < 1:
        raise SweepError(f"costs must be multipliers >= 1 of the baseline's MACs, got {cfg.costs!r}")
    return costs


def _dwr(dimension: str, value: float) -> tuple[float, float, float]:
    return {"depth": (value, 1.0, 1.0), "width": (1.0, value, 1.0), "resolution": (1.0, 1.0, value)}[dimension]


def _values(cfg: SweepConfig, default: str) -> list[float]:
    values = cfg.values or PAPER_VALUES[default]
    if min(values) <= 0:
        raise SweepError(f"sweep values must be positive, got {cfg.values!r}")
    return values


def _macs(cfg: SweepConfig, dwr: tuple[float, float, float], num_classes: int) -> int:
    return cost.count(cfg.study.train.network.scaled(*dwr).spec(), num_classes).macs


def match_macs(cfg: SweepConfig, dimension: str, target: float, num_classes: int, step: float = 0.01) -> float:
    """The multiplier (>= 1, a multiple of ``step``) of ``dimension`` alone whose network's MACs are
    closest to ``target`` in ratio. Bisection: MACs grow with each multiplier."""

    def macs(k: int) -> int:
        return _macs(cfg, _dwr(dimension, 1 + k * step), num_classes)

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


def _strategy_params(cfg: SweepConfig, name: str) -> dict:
    """The parameters of strategy ``name`` that the sweep config sets (compound's alpha, beta, gamma);
    the others keep the strategy's defaults."""
    return {k: getattr(cfg, k) for k in strategies.get(name).defaults if hasattr(cfg, k)}


def _path_points(cfg: SweepConfig, name: str, s: float, num_classes: int) -> list[tuple[float, float]]:
    """[(t, real)]: the strategy ``name``'s two multipliers t whose rounded networks bracket ``s`` times the
    baseline's MACs (the last below and the first at or above), closest first, with their real MAC
    ratios. Bisection on log t: MACs grow along a path."""
    rule = strategies.get(name)
    params = _strategy_params(cfg, name)
    base = _macs(cfg, (1.0, 1.0, 1.0), num_classes)

    def ratio(t: float) -> float:
        return _macs(cfg, rule(t, **params), num_classes) / base

    if s == 1:
        return [(1.0, 1.0)]
    lo, hi = 1.0, s
    while ratio(hi) < s:
        lo, hi = hi, 2 * hi
        if hi > 1e6:
            raise SweepError(f"strategy {name!r} reaches no network of {s:g}x the baseline's MACs")
    for _ in range(40):  # the smallest t whose network costs >= s lies in (lo, hi]
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ratio(mid) >= s else (mid, hi)
    return sorted(((t, ratio(t)) for t in (lo, hi)), key=lambda p: abs(math.log(p[1] / s)))


def match_strategy(cfg: SweepConfig, name: str, s: float, num_classes: int) -> tuple[float, float]:
    """(t, real): the strategy ``name``'s own multiplier t whose rounded network costs closest to ``s`` times
    the baseline's MACs, and that network's real MAC ratio."""
    return _path_points(cfg, name, s, num_classes)[0]


def members(cfg: SweepConfig, num_classes: int) -> list[Member]:
    """The sweep's figure points, line by line."""
    k = kind(cfg.sweep)
    if cfg.match_macs and not k.matches_cost:
        raise SweepError(f"match_macs applies to the {', '.join(n for n, s in SWEEPS.items() if s.matches_cost)} "
                         f"sweep, not to {cfg.sweep!r} (its networks are not moved)")
    return k.members(cfg, num_classes)


def _single(dimension: str):
    def single(cfg: SweepConfig, num_classes: int) -> list[Member]:
        return [Member(dimension, v, f"{dimension[0]}={v:g}", _dwr(dimension, v)) for v in _values(cfg, dimension)]
    return single


for _dimension in results.SINGLE_DIMENSIONS:
    register(_dimension, figure=f"figure3_{_dimension}", title=f"Fig. 3: scaling up {_dimension}",
             panels=True)(_single(_dimension))


@register("width-baselines", figure="figure4", title="Fig. 4: scaling up width for different baselines",
          differences=True)
def width_baselines(cfg: SweepConfig, num_classes: int) -> list[Member]:
    """Width scaled on each (d, r) baseline of ``cfg.baselines`` (paper Fig. 4)."""
    pairs = cfg.baselines
    if not pairs or any(len(p) != 2 or min(p) <= 0 for p in pairs):
        raise SweepError(f"baselines must be positive d/r pairs like 1/1,2/1.3, got {cfg.baselines!r}")
    return [Member(f"d={d:g}, r={r:g}", w, f"w={w:g}", (d, w, r)) for d, r in pairs for w in _values(cfg, "width")]


@register("compound-vs-single", figure="figure8", title="Fig. 8: scaling up the baseline with different methods",
          compound=True)
def compound_vs_single(cfg: SweepConfig, num_classes: int) -> list[Member]:
    """Compound scaling at each phi, and each single dimension matched to its MACs (paper Fig. 8)."""
    scaling_math.check_coefficients(at_least=1, alpha=cfg.alpha, beta=cfg.beta, gamma=cfg.gamma)
    phis = cfg.phi
    if not phis or min(phis) < 0:
        raise SweepError(f"phi must be >= 0 (single-dimension networks are matched from above 1), got {cfg.phi}")
    out = []
    for dim in results.SINGLE_DIMENSIONS:
        for phi in phis:
            target = _macs(cfg, scaling_math.compound_coefficients(cfg.alpha, cfg.beta, cfg.gamma, phi), num_classes)
            v = match_macs(cfg, dim, target, num_classes)
            out.append(Member(dim, v, f"{dim[0]}={v:g}", _dwr(dim, v)))
    out += [Member("compound", phi, f"phi={phi:g}",
                   scaling_math.compound_coefficients(cfg.alpha, cfg.beta, cfg.gamma, phi)) for phi in phis]
    return out


@register("strategies", figure="strategies", title="Scaling strategies at equal cost", matches_cost=True,
          compound=True)
def strategies_at_equal_cost(cfg: SweepConfig, num_classes: int) -> list[Member]:
    """Each strategy of ``cfg.strategies`` at each cost multiplier s of ``cfg.costs``, its network's real
    MACs matched to s times the baseline's (:func:`_strategy_network`)."""
    names = list(cfg.strategies) or list(strategies.STRATEGIES)
    for name in names:
        strategies.get(name)
    if cfg.match_macs < 0:
        raise SweepError(f"match_macs must be >= 0 (0: off; 0.03: within 3%), got {cfg.match_macs}")
    return [Member(name, s, f"s={s:g}", _strategy_network(cfg, name, s, num_classes))
            for name in names for s in _costs(cfg)]


def _strategy_network(cfg: SweepConfig, name: str, s: float, num_classes: int) -> tuple[float, float, float]:
    """(d, w, r) of strategy ``name`` at cost ``s``: its path's network closest to s x the baseline's MACs;
    with ``cfg.match_macs``, one outside that band has its resolution (or, where that cannot, its width)
    moved into it (:func:`scaling.search.match_network`), starting from the closer of the two path networks
    around s and then from the other. Depth and width round to whole blocks and channels, so a path can
    jump over s (the CIFAR-10 proxy's compound s = 2 lands at 2.11x)."""
    rule = strategies.get(name)
    params = _strategy_params(cfg, name)
    target = s * _macs(cfg, (1.0, 1.0, 1.0), num_classes)
    moved = []
    for t, real in _path_points(cfg, name, s, num_classes):
        dwr = rule(t, **params)
        if not cfg.match_macs or scaling_math.within_cost(real / s, cfg.match_macs):
            return dwr
        width, resolution_scale, within = search.match_network(cfg.study.train.network, dwr, target,
                                                               cfg.match_macs, num_classes)
        if within:
            return dwr[0], width, resolution_scale
        moved.append((dwr[0], width, resolution_scale))
    return moved[0]  # no start reaches the band: the closer path network's best (the dry run shows its ratio)


def points(cfg: SweepConfig, num_classes: int) -> list[Point]:
    """One study point per distinct network (x seeds); its ``members`` attribute lists its figure points."""
    baseline = cfg.study.train.network
    out = []
    for first, _, group in merge_identical(members(cfg, num_classes), lambda m: baseline.scaled(*m.dwr).spec()):
        d, w, r = first.dwr
        attrs = {"members": json.dumps([{"line": m.line, "coefficient": m.coefficient, "label": m.label}
                                        for m in group])}
        out += [Point(f"d{d:.4g}_w{w:.4g}_r{r:.4g}", seed, baseline.scaled(d, w, r), {"d": d, "w": w, "r": r}, attrs)
                for seed in range(cfg.study.seeds)]
    out = budgets.apply(cfg.study, out)
    keys = [p.key for p in out]
    if len(set(keys)) != len(keys):
        raise SweepError("two networks of the sweep got the same name; use coefficients that differ by 1e-4 or more")
    return out


def point_table(cfg: SweepConfig, pts: list[Point], num_classes: int) -> list[dict]:
    """The dry-run table: each network, the figure points it stands for, its cost and MAC ratio."""
    base = cost.count(cfg.study.train.network.spec(), num_classes).macs
    rows = []
    for p in pts:
        if p.seed:
            continue
        row = {"candidate": p.name, **p.params,
               "points": "; ".join(f"{m['line']}: {m['label']}" for m in json.loads(p.attrs["members"]))}
        row |= {k: v for k, v in cost.describe(p.network.spec(), num_classes).items() if k != "network"}
        row["mac_ratio"] = round(row["macs"] / base, 3)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------
def prepare(cfg: SweepConfig, check_storage: bool = True) -> tuple[SweepConfig, list[Point], int]:
    """Validate ``cfg`` and build its points without creating anything: (config, points, num_classes)."""
    cfg = resolve(cfg)
    num_classes = study.validate(cfg.study, [], check_storage=False).num_classes
    pts = points(cfg, num_classes)
    study.validate(cfg.study, pts, check_storage=check_storage)
    return cfg, pts, num_classes


def sweep(cfg: SweepConfig, workers: int = 1) -> dict:
    """Train every point of the sweep (a resumable study) and write its tables; returns the summary. The
    command that runs it draws the figures (:func:`scaling.plots.redraw`)."""
    cfg, pts, _ = prepare(cfg)
    summary = study.run(cfg.study, f"sweep:{cfg.sweep}", pts, study.config_dict(cfg), workers)
    df, _ = results.load(cfg.study.dir)
    print(results.describe_sweep(results.sweep_table(df)), flush=True)
    return summary
