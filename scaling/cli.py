"""The ``scaling`` command: thin subcommands that map flags onto the package's functions.

Bad input prints one line on stderr and exits with status 2; nothing here holds logic a notebook
would have to copy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from scaling import cost, rules

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _print_table(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 80):
        print(pd.DataFrame(rows).to_string(index=False))


# --------------------------------------------------------------------------------------------
def _add_network_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network (a preset, (d, w, r), or (alpha, beta, gamma, phi))")
    g.add_argument("--depth", type=_float, help="depth coefficient d")
    g.add_argument("--width", type=_float, help="width coefficient w")
    g.add_argument("--resolution", type=_float, help="resolution coefficient r")
    g.add_argument("--alpha", type=_float)
    g.add_argument("--beta", type=_float)
    g.add_argument("--gamma", type=_float)
    g.add_argument("--phi", type=_float)
    g.add_argument("--base-resolution", type=int, default=rules.B0_RESOLUTION,
                   help="resolution of the unscaled baseline in px (default 224)")


def custom_spec(args: argparse.Namespace) -> rules.NetworkSpec | None:
    """The spec named by --depth/--width/--resolution or --alpha/--beta/--gamma/--phi, if any."""
    dwr = [args.depth, args.width, args.resolution]
    abgp = [args.alpha, args.beta, args.gamma, args.phi]
    if any(v is not None for v in abgp):
        if any(v is not None for v in dwr):
            raise UsageError("give either --depth/--width/--resolution or --alpha/--beta/--gamma/--phi, not both")
        if any(v is None for v in abgp):
            raise UsageError("--alpha, --beta, --gamma and --phi go together")
        return rules.compound_spec(*abgp, base_resolution=args.base_resolution)
    if any(v is not None for v in dwr):
        d, w, r = (1.0 if v is None else v for v in dwr)
        return rules.scaled_spec(d, w, r, base_resolution=args.base_resolution)
    return None


def cmd_models(args: argparse.Namespace) -> None:
    spec = custom_spec(args)
    if spec is not None:
        _print_table([cost.describe(spec, args.num_classes)], args.json)
        return
    names = list(rules.PRESETS) if args.variants == "all" else [v.strip() for v in args.variants.split(",")]
    rows = []
    for name in names:
        row = cost.describe(rules.preset_spec(name), args.num_classes)
        paper_params, paper_flops, paper_top1 = rules.PAPER_TABLE2[row["network"]]
        row |= {"paper_params_M": paper_params, "params_diff_M": round(row["params"] / 1e6 - paper_params, 2),
                "paper_flops_B": paper_flops, "gmacs_diff": round(row["gmacs"] - paper_flops, 3),
                "paper_top1": paper_top1}
        rows.append(row)
    _print_table(rows, args.json)


def cmd_grid(args: argparse.Namespace) -> None:
    points = rules.feasible_grid(rules.parse_range(args.alpha), rules.parse_range(args.beta),
                                 rules.parse_range(args.gamma), args.target, args.tol)
    kw = dict(base_resolution=args.base_resolution)
    candidates = rules.merge_identical(points, args.target, **kw)
    rows = cost.candidate_rows(candidates, rules.scaled_spec(**kw), args.num_classes)
    _print_table(rows, args.json)
    if not args.json:
        print(f"{len(points)} feasible points, {len(candidates)} distinct networks "
              f"(|alpha*beta^2*gamma^2 - {args.target:g}| <= {args.tol:g}, base resolution {args.base_resolution} px)")


def _add_config_fields(p: argparse.ArgumentParser, config_cls, skip=()) -> None:
    """One --flag per dataclass field, typed from its annotation; defaults stay the dataclass's."""
    for field in dataclasses.fields(config_cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        ann = str(field.type)
        if ann == "bool":
            p.add_argument(flag, action="store_true", default=None)
        else:
            kind = int if ann.startswith("int") else _float if ann.startswith("float") else str
            p.add_argument(flag, type=kind, default=None, metavar=field.name.upper())


def config_from_args(config_cls, args: argparse.Namespace, **base):
    """``config_cls`` with every flag the user gave (None means "not given")."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return config_cls(**{**base, **given})


def cmd_train(args: argparse.Namespace) -> None:
    from scaling import train

    config = config_from_args(train.TrainConfig, args)
    if any(getattr(config, k) is not None for k in ("depth", "width", "resolution", "alpha", "beta", "gamma", "phi")):
        config.variant = None
    dataset = config.dataset.replace(":", "_").replace("/", "_")
    workdir = args.workdir or f"runs/{train.network_spec(train.resolved(config)).name}-{dataset}-s{config.seed}"
    result = train.train_and_evaluate(config, workdir)
    keys = ("status", "epochs", "loss", "train_top1", "minival_top1", "test_top1", "images_per_sec", "wall_time",
            "params", "macs", "resolution")
    print(json.dumps({k: result[k] for k in keys} | {"workdir": str(workdir)}))


def _search_config(args: argparse.Namespace, skip: tuple[str, ...] = ()):
    """The experiment file's SearchConfig with every field flag the user gave."""
    from scaling import search

    config = search.load_config(args.config or search.DEFAULT_EXPERIMENT)
    return search.with_overrides(config, **_given_fields(args, skip))


def _given_fields(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict:
    from scaling import search

    names = set().union(*search.config_fields()) - set(skip)
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def cmd_search(args: argparse.Namespace) -> None:
    from scaling import search

    config = _search_config(args)
    if not args.dry_run:
        search.search(config, workers=args.workers)
        return
    cands = search.candidates(config)
    points = search.search_points(config, cands)
    dataset = search.validate(config, points, storage=False)
    _print_table(search.candidate_table(config, cands, dataset.num_classes), args.json)
    if not args.json:
        print(f"{sum(len(c.merged) for c in cands)} feasible points, {len(cands)} distinct networks, "
              f"{len(points)} runs ({config.seeds} seed(s)) on {config.train.dataset}; study {config.study!r}")


def cmd_scale_up(args: argparse.Namespace) -> None:
    from scaling import search

    skip = ("alpha", "beta", "gamma", "target", "tol", "study")
    config = _search_config(args, skip)
    coefficients = (args.scale_alpha, args.scale_beta, args.scale_gamma)
    if args.from_study:
        if any(c is not None for c in coefficients):
            raise UsageError("give either --alpha/--beta/--gamma or --from-study, not both")
        stored, coefficients = search.from_study(search.with_overrides(config, study=args.from_study))
        config = search.with_overrides(stored, **_given_fields(args, skip))
    elif any(c is None for c in coefficients):
        raise UsageError("scale-up needs --alpha, --beta and --gamma, or --from-study NAME")
    config = search.with_overrides(config, study=args.study or search.scale_up_name(config, *coefficients))
    phis = search.parse_phis(args.phi)
    points = search.scale_up_points(config, *coefficients, phis)
    dataset = search.validate(config, points, storage=args.train)
    _print_table(search.scale_up_table(config, *coefficients, phis, dataset.num_classes), args.json)
    if args.train:
        search.scale_up(config, *coefficients, phis, workers=args.workers)


def cmd_sweep(args: argparse.Namespace) -> None:
    from scaling import search, sweeps

    names = set().union(*search.config_fields(), sweeps.SWEEP_FIELDS) - {"sweep"}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    config = sweeps.with_overrides(sweeps.load_config(args.name, args.config), **given)
    if not args.dry_run:
        sweeps.sweep(config, workers=args.workers)
        return
    config, points, num_classes = sweeps.prepare(config, storage=False)
    _print_table(sweeps.point_table(config, points, num_classes), args.json)
    if not args.json:
        print(f"{len(points) // config.seeds} networks, {len(points)} runs ({config.seeds} seed(s)) of "
              f"{config.train.baseline} on {config.train.dataset}; study {config.study!r}")


def cmd_plot(args: argparse.Namespace) -> None:
    from scaling import plots, results

    if not args.threshold > 0:
        raise UsageError(f"--threshold must be > 0, got {args.threshold}")
    known = results.studies(args.results_dir)
    names = list(known) if args.studies == ["all"] else args.studies
    missing = [name for name in names if name not in known] or ([] if names else ["all"])
    if missing:
        raise UsageError(f"no study {missing[0]!r} with a trials table in {args.results_dir}; "
                         f"found: {', '.join(known) or 'none'}")
    kwargs = dict(metric=args.metric, threshold=args.threshold)
    stems = [stem for name in names for stem in plots.redraw(known[name], **kwargs)]
    stems += plots.redraw_figure3([known[name] for name in names], args.results_dir, **kwargs)
    for stem in stems:
        print(f"{stem}.png {stem}.pdf")


def cmd_cam(args: argparse.Namespace) -> None:
    import pathlib

    from scaling import cam, plots

    if args.images < 1:
        raise UsageError(f"--images must be >= 1, got {args.images}")
    fig, picked = cam.cam_grid(args.results_dir, args.studies, args.images, args.gmacs)
    stem = pathlib.Path(args.out) if args.out else cam.default_path(args.results_dir, args.studies)
    stem.parent.mkdir(parents=True, exist_ok=True)
    plots.save(fig, stem)
    for name, run in picked.items():
        print(f"{name:>17}: {run['study']} {run['candidate']} seed {run['seed']}, {run['macs'] / 1e6:.2f} MMACs")
    print(f"{stem}.png {stem}.pdf")


# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scaling", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="params and MACs of B0-B7 or of a custom network")
    p.add_argument("--variants", default="all", help="comma-separated presets (b0..b7) or 'all'")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_network_args(p)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("grid", help="merged (alpha, beta, gamma) candidates with their real cost")
    p.add_argument("--alpha", default="1:1.4:0.05", help="value, list a,b,c or range start:stop:step")
    p.add_argument("--beta", default="1:1.4:0.05")
    p.add_argument("--gamma", default="1:1.4:0.05")
    p.add_argument("--target", type=_float, default=2.0, help="alpha*beta^2*gamma^2 target (default 2)")
    p.add_argument("--tol", type=_float, default=0.1, help="allowed |product - target| (default 0.1)")
    p.add_argument("--base-resolution", type=int, default=rules.B0_RESOLUTION)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_grid)

    from scaling.train import TrainConfig

    p = sub.add_parser("train", help="train and evaluate one network (rerun to resume)",
                       description="Every TrainConfig field is a flag; see scaling/train.py for the recipes.")
    p.add_argument("--workdir", help="run directory (default runs/<net>-<dataset>-s<seed>)")
    _add_config_fields(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    from scaling.search import NETWORK_FIELDS, SearchConfig

    p = sub.add_parser("search", help="step 1: the (alpha, beta, gamma) grid search at phi = 1 (rerun to resume)",
                       description="Every SearchConfig and TrainConfig field is a flag that overrides the "
                                   "experiment file (default experiments/search_digits.py).")
    p.add_argument("--config", help="experiment file (a Python module with get_config())")
    p.add_argument("--dry-run", action="store_true", help="print the candidate table and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    _add_config_fields(p, SearchConfig, skip=("train",))
    _add_config_fields(p, TrainConfig, skip=NETWORK_FIELDS)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("scale-up", help="step 2: scale the baseline by (alpha, beta, gamma)^phi",
                       description="Prints the phi networks beside B0-B7; --train trains them as one study.")
    p.add_argument("--alpha", dest="scale_alpha", type=_float)
    p.add_argument("--beta", dest="scale_beta", type=_float)
    p.add_argument("--gamma", dest="scale_gamma", type=_float)
    p.add_argument("--from-study", help="take alpha, beta, gamma and the recipe from this finished search")
    p.add_argument("--phi", default="0:7", help="start:stop (integers), start:stop:step or a list (default 0:7)")
    p.add_argument("--train", action="store_true", help="train every phi (a resumable study)")
    p.add_argument("--config", help="experiment file (default experiments/search_digits.py)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--workers", type=int, default=1)
    _add_config_fields(p, SearchConfig, skip=("train", "alpha", "beta", "gamma", "target", "tol"))
    _add_config_fields(p, TrainConfig, skip=NETWORK_FIELDS)
    p.set_defaults(func=cmd_scale_up)

    from scaling.sweeps import SWEEPS, SweepConfig

    p = sub.add_parser("sweep", help="Figs. 3, 4, 8: scale the baseline along one or more dimensions (rerun to resume)",
                       description="NAME is one of " + ", ".join(SWEEPS) + "; its experiment file is "
                                   "experiments/sweep_<name>.py. Every SweepConfig and TrainConfig field is a "
                                   "flag that overrides it (--values 1,2,4 --baseline resnet50 --seeds 3 ...).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--config", help="experiment file (default experiments/sweep_<name>.py)")
    p.add_argument("--dry-run", action="store_true", help="print the networks and their MACs and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    _add_config_fields(p, SweepConfig, skip=("train", "sweep", "target", "tol"))
    _add_config_fields(p, TrainConfig, skip=NETWORK_FIELDS)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("plot", help="redraw a study's figures from its results table (no training)")
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study names in --results-dir, or 'all'")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--metric", default="test_top1", choices=("test_top1", "minival_top1"))
    p.add_argument("--threshold", type=_float, default=0.5,
                   help="saturation: gain per doubling of MACs in points (default 0.5)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("cam", help="Fig. 7: class activation maps of baseline, deeper, wider, higher-resolution "
                                   "and compound runs")
    p.add_argument("--studies", nargs="+", required=True, help="finished studies to pick the runs from")
    p.add_argument("--images", type=int, default=4, help="test images, one row each (default 4)")
    p.add_argument("--gmacs", type=_float, help="pick the scaled runs closest to this many GMACs "
                                                "(default: the largest compound run)")
    p.add_argument("--results-dir", default="results")
    p.add_argument("--out", help="figure path without extension (default <results-dir>/<first study>/cams)")
    p.set_defaults(func=cmd_cam)
    return parser


def exit_code(error: Exception) -> int | None:
    """2 for bad input, 1 for a run that failed on its own (divergence); None: a bug, re-raise."""
    from scaling.data import DatasetError
    from scaling.train import ConfigError, TrainingDiverged

    if isinstance(error, (UsageError, rules.ScalingError, DatasetError, ConfigError)):
        return EXIT_USAGE
    if isinstance(error, TrainingDiverged):
        return 1
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except KeyboardInterrupt:
        print("scaling: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:
        code = exit_code(e)
        if code is None:
            raise
        print(f"scaling: error: {e}", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
