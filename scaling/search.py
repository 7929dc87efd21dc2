"""The compound-scaling search (paper sec. 3.3): step 1's (alpha, beta, gamma) grid at phi = 1, and
step 2, the baseline scaled up by (alpha, beta, gamma)^phi.

Both are point lists for the one study runner (:mod:`scaling.study`): exactly-once runs, resume,
shared storage, failures and outputs are its business. Step 1's points are the feasible grid's
distinct networks (points that round to one network are merged, :func:`scaling.grid_candidates`)
times the seeds; the winner is the best seed mean of minival top-1.
"""

from __future__ import annotations

import dataclasses
import json
import math

from scaling import arch, config, cost, results, scaling_math, study
from scaling.network import Candidate, Network, grid_candidates, merge_identical
from scaling.schema import SearchConfig
from scaling.study import Point, StudyConfig, StudyError

PAPER_POINT = (1.2, 1.1, 1.15)
DEFAULT_EXPERIMENT = "search_digits"


def load_config(name_or_path: str = DEFAULT_EXPERIMENT) -> SearchConfig:
    """The SearchConfig of a packaged experiment (``search_digits``) or of an experiment file."""
    return config.load_experiment(name_or_path, SearchConfig)


def candidates(cfg: SearchConfig, num_classes: int = 10) -> list[Candidate]:
    """The feasible grid at phi = 1 on the config's baseline, merged where points round to one network;
    with ``match_macs``, each at its cost-matched resolution and width (:func:`match_cost`)."""
    grid = scaling_math.feasible_grid(cfg.alpha, cfg.beta, cfg.gamma, cfg.target, cfg.tol)
    cands = grid_candidates(grid, cfg.study.train.network, cfg.target)
    if cfg.match_macs < 0:
        raise StudyError(f"match_macs must be >= 0 (0: off; 0.03: within 3%), got {cfg.match_macs}")
    return match_cost(cfg, cands, num_classes) if cfg.match_macs else cands


#: Width steps tried by :func:`match_cost` (fractions of the candidate's beta), nearest first.
WIDTH_STEPS = sorted((j / 100 for j in range(-20, 21)), key=abs)


def match_cost(cfg: SearchConfig, cands: list[Candidate], num_classes: int) -> list[Candidate]:
    """Each candidate with its resolution (and, where that cannot, its width) changed so that its real
    MACs are within ``cfg.match_macs`` of ``cfg.target`` x the baseline's (:func:`match_network`).

    Depth and width rounding leave the grid's candidates at unequal cost (1.41-2.11x the baseline on the
    CIFAR-10 proxy, where accuracy tracks cost), so a ranking of them ranks cost as much as shape.
    Candidates that become one network are merged again (the first names it).
    """
    base = cfg.study.train.network
    target = cost.count(base.spec(), num_classes).macs * cfg.target
    out = []
    for c in cands:
        width, resolution_scale, ok = match_network(base, (c.alpha, c.beta, c.gamma), target, cfg.match_macs,
                                                    num_classes)
        network = base.scaled(c.alpha, width, resolution_scale)
        out.append(dataclasses.replace(c, network=network, spec=network.spec(), matched=(width, resolution_scale, ok)))
    merged = merge_identical(out, lambda c: c.spec)
    return [dataclasses.replace(first, merged=tuple(m for c in group for m in c.merged)) for first, _, group in merged]


def match_network(base: Network, dwr: tuple[float, float, float], target: int, tol: float,
                  num_classes: int) -> tuple[float, float, bool]:
    """(w, r, within): the width and resolution multipliers that bring ``base.scaled(*dwr)``'s real MACs
    nearest ``target``, and whether they are within ``tol`` of it.

    The resolution is searched pixel by pixel from the baseline's up to twice the network's own; only
    where no resolution reaches the band at its width is the width changed, by the fewest 1% steps (up
    to 20%, never below 1). A network no change brings into the band keeps its closest (``within`` False).
    """
    d, w, r = dwr
    px0 = base.spec().resolution
    tried = []
    for step in WIDTH_STEPS:
        width = round(w * (1 + step), 6) if step else w  # w itself can sit a hair below a rounding step
        if width < 1:
            continue
        for px in range(px0, 2 * round(px0 * r) + 1):
            ratio = cost.count(base.scaled(d, width, px / px0).spec(), num_classes).macs / target
            tried.append((abs(math.log(ratio)), abs(step), width, px, scaling_math.within_cost(ratio, tol)))
        within = [t for t in tried if t[-1]]
        if within:
            break
    _, _, width, px, _ = min(within or tried)
    return width, px / px0, bool(within)


def candidate_table(cfg: SearchConfig, cands: list[Candidate], num_classes: int) -> list[dict]:
    """The dry-run table: coefficients, rounded network, params, MACs, MAC ratio to the baseline."""
    rows = cost.candidate_rows(cands, cfg.study.train.network.spec(), num_classes)
    for row, cand in zip(rows, cands, strict=True):
        row["paper"] = PAPER_POINT in cand.merged
        row |= _matched_attrs(cand)
    return rows


def search_points(cfg: SearchConfig, cands: list[Candidate]) -> list[Point]:
    """Step 1: every merged candidate times the seeds."""
    return [Point(c.key, seed, c.network, {"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma, "phi": 1.0},
                  {"merged": " ".join(f"{a:g}/{b:g}/{g:g}" for a, b, g in c.merged),
                   "paper": PAPER_POINT in c.merged, **_matched_attrs(c)})
            for c in cands for seed in range(cfg.study.seeds)]


def _matched_attrs(c: Candidate) -> dict:
    if c.matched is None:
        return {}
    width, resolution_scale, ok = c.matched
    return {"matched_width": width, "matched_resolution_scale": resolution_scale, "cost_matched": ok}


def scale_up_network(cfg: SearchConfig, alpha: float, beta: float, gamma: float, phi: float) -> Network:
    scaling_math.check_coefficients(at_least=1, alpha=alpha, beta=beta, gamma=gamma)
    return cfg.study.train.network.scaled(*scaling_math.compound_coefficients(alpha, beta, gamma, phi))


def scale_up_points(cfg: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float]) -> list[Point]:
    """Step 2: the baseline scaled by (alpha, beta, gamma)^phi for every phi, times the seeds."""
    return [Point(f"phi{phi:g}", seed, scale_up_network(cfg, alpha, beta, gamma, phi),
                  {"alpha": alpha, "beta": beta, "gamma": gamma, "phi": float(phi)})
            for phi in phis for seed in range(cfg.study.seeds)]


def scale_up_table(cfg: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float],
                   num_classes: int) -> list[dict]:
    """The phi networks beside the nominal 2^phi and the published B0-B7 (paper Table 2)."""
    base = cost.count(scale_up_network(cfg, alpha, beta, gamma, 0).spec(), num_classes).macs
    b0_flops = arch.PAPER_TABLE2["b0"][1]
    rows = []
    for phi in phis:
        row = {"phi": phi} | cost.describe(scale_up_network(cfg, alpha, beta, gamma, phi).spec(), num_classes)
        del row["network"]
        row["mac_ratio"] = round(row["macs"] / base, 3)
        row["nominal_2^phi"] = round(2.0**phi, 3)
        at_b0 = cost.count(arch.compound_spec(alpha, beta, gamma, phi), 1000)
        row |= {"b0_scale_params_M": round(at_b0.params / 1e6, 2), "b0_scale_gmacs": round(at_b0.gmacs, 3)}
        variant = f"b{phi:g}"
        if variant in arch.PAPER_TABLE2:
            params_m, flops_b, _ = arch.PAPER_TABLE2[variant]
            p = arch.PRESETS[variant]
            row |= {"published": f"{variant} (d {p.depth}, w {p.width}, {p.resolution} px)",
                    "published_params_M": params_m, "published_flops_B": flops_b,
                    "published_ratio": round(flops_b / b0_flops, 2)}
        rows.append(row)
    return rows


def validate(cfg: SearchConfig, points: list[Point], check_storage: bool = True):
    if cfg.study.budgets:
        raise StudyError("budgets: a search picks one winner at one budget; train its candidates at several "
                         "budgets as a sweep (compound-vs-single with --from-study) and run scaling fidelity")
    return study.validate(cfg.study, points, check_storage)


def prepare(cfg: SearchConfig, check_storage: bool = True) -> tuple[list[Candidate], list[Point], int]:
    """Validate ``cfg`` and build step 1's candidates and points, creating nothing: (candidates, points,
    num_classes)."""
    num_classes = validate(cfg, [], check_storage=False).num_classes
    cands = candidates(cfg, num_classes)
    points = search_points(cfg, cands)
    validate(cfg, points, check_storage)
    return cands, points, num_classes


def search(cfg: SearchConfig, workers: int = 1) -> dict:
    """Step 1: train every merged candidate (x seeds) at phi = 1; returns the summary."""
    _, points, _ = prepare(cfg)
    summary = study.run(cfg.study, "search", points, study.config_dict(cfg), workers)
    print(results.describe_winner(summary), flush=True)
    return summary


def scale_up(cfg: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float], workers: int = 1) -> dict:
    """Step 2: train the baseline scaled by (alpha, beta, gamma)^phi for every phi; returns the summary."""
    points = scale_up_points(cfg, alpha, beta, gamma, phis)
    validate(cfg, points)
    summary = study.run(cfg.study, "scale-up", points, study.config_dict(cfg), workers)
    print(results.describe_curve(summary), flush=True)
    return summary


def from_study(name: str, results_dir: str | None = None, storage: str | None = None
               ) -> tuple[SearchConfig, tuple[float, float, float]]:
    """The stored config and best (alpha, beta, gamma) of the finished step-1 search ``name``: from its
    study storage, or, where that is absent (a clone of the committed ``results/``), its summary.json.

    The search is looked for in ``results_dir`` (None: ``runs/``, then ``results/``); the config returned
    writes to ``results_dir`` (None: the default, ``runs/``)."""
    where = StudyConfig(name=name, results_dir=results.study_root(name, results_dir), storage=storage)
    try:
        found = study.load(where)
    except StudyError:
        if storage or not (where.dir / "summary.json").exists():
            raise
        summary = json.loads((where.dir / "summary.json").read_text())
    else:
        if found.user_attrs.get("definition", {}).get("kind") != "search":
            raise StudyError(f"study {name!r} is not a step-1 search")
        summary = results.summarize(results.trials_table(found), study=name, kind="search",
                                    config=found.user_attrs["config"], storage="", points=[])
    if summary.get("kind") != "search":
        raise StudyError(f"study {name!r} is not a step-1 search")
    stored = config.from_dict(SearchConfig, summary["config"])
    if not summary.get("best"):
        raise StudyError(f"study {name!r} has no completed trial yet")
    best = summary["best"]
    stored = config.override(stored, storage=storage, results_dir=results_dir or StudyConfig.results_dir)
    return stored, (best["alpha"], best["beta"], best["gamma"])


def scale_up_name(cfg: SearchConfig, alpha: float, beta: float, gamma: float) -> str:
    return f"{cfg.study.name}-scaleup-a{alpha:.2f}_b{beta:.2f}_g{gamma:.2f}"
