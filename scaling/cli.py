"""The ``scaling`` command: thin subcommands that map flags onto the package's functions.

Every config field is a flag of its name, ``_`` written ``-`` (``--epochs``, ``--seeds``, ``--name``,
``--resolution-scale``), applied by the one override path :func:`scaling.config.override`; its help
is the field's comment (:func:`scaling.config.field_help`). Bad input prints one line on stderr and
exits with status 2; nothing here holds logic a notebook would have to copy.

Building the parser imports no JAX, Optuna or TensorFlow (the configs are :mod:`scaling.schema`), so
every ``--help`` answers at once; a subcommand imports what it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import signal
import sys
import types
import typing

from scaling import arch, config, cost, files, interrupt, runtime, scaling_math
from scaling.network import Network, grid_candidates
from scaling.schema import CalibrationConfig, SearchConfig, SweepConfig, TrainConfig

EXIT_USAGE = 2
#: A run that failed on its own (divergence), a study that ended with points failed, a full disk.
EXIT_FAILED = 1
#: Flags renamed to their field's name: the old spelling is a usage error that names the new one
#: (scripts written for it fail at once instead of running with a default).
RETIRED_FLAGS = {"--study": "--name", "--resolution": "--resolution-scale"}
#: How flags override an experiment file (the top-level --help says it).
OVERRIDES = """Overrides: every field of a command's config is a flag of its name with - for _, applied on top of
its experiment file (--config): --epochs 20, --seeds 3, --name my_study (the study's), --depth 0.5
and --resolution-scale 1.15 (the baseline's multipliers; --base-resolution: the pixels r multiplies),
--dataset tfds:cifar10. Lists are comma-separated (--values 1,1.4,2), ranges start:stop:step
(--alpha 1:1.4:0.05), pairs d/r (--baselines 1/1,2/1.3). Flags are never abbreviated.
--print-config prints the config a command line resolves to (experiment file, then flags) and
exits. `scaling COMMAND --help` lists each command's flags with their defaults."""


class UsageError(Exception):
    """A bad command line; printed as one line, exit status 2."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, unless the help says it (a default of None: the help says
    in words what happens without the flag)."""

    def _get_help_string(self, action):
        if action.default is None or "default" in action.help:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, formatter_class=_HelpFormatter, **kwargs)

    def error(self, message):  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message}")


class _Retired(argparse.Action):
    """A flag of :data:`RETIRED_FLAGS`, hidden: giving it is a usage error naming its new spelling."""

    def __init__(self, option_strings, dest, new: str):
        super().__init__(option_strings, argparse.SUPPRESS, nargs="?", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        raise UsageError(f"{parser.prog}: {option_string} is now {self.new} (every flag is its config field's name)")


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
# Flags from config fields
# --------------------------------------------------------------------------------------------
def _shown(value) -> str:
    """A field's default as its flag would take it: lists comma-separated, groups d/r, ``unset`` for None."""
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return ",".join(_shown(v) if not isinstance(v, tuple) else "/".join(map(_shown, v)) for v in value) or "''"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _add_fields(p: argparse.ArgumentParser, config_cls, skip=()) -> None:
    """One --flag per leaf field of the config tree ``config_cls``, typed from its annotation; its help
    is the field's comment and its default the field's value in ``config_cls()`` (argparse's default
    stays None: :func:`_given` tells the flags given from those left out)."""
    defaults = config.leaf_defaults(config_cls)
    p = p.add_argument_group(f"{config_cls.__name__} fields")
    for leaf, (_, annotation) in config.leaves(config_cls).items():
        if leaf in skip:
            continue
        flag = "--" + leaf.replace("_", "-")
        default, description = defaults[leaf]
        text = description if "default" in description else f"{description} (default: {_shown(default)})"
        text = text.lstrip().replace("%", "%%")
        kinds = set(typing.get_args(annotation)) - {type(None)} if isinstance(annotation, types.UnionType) \
            else {annotation}
        if kinds == {bool}:
            p.add_argument(flag, dest=leaf, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            kind = int if kinds == {int} else _float if kinds == {float} else str
            p.add_argument(flag, dest=leaf, type=kind, default=None, metavar=leaf.upper(), help=text)
        for old in (old for old, new in RETIRED_FLAGS.items() if new == flag):
            p.add_argument(old, action=_Retired, new=flag)


def _given(args: argparse.Namespace, config_cls, skip=()) -> dict:
    """The leaf fields of ``config_cls`` the user gave on the command line."""
    names = set(config.leaves(config_cls)) - set(skip)
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _add_compound_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compound scaling instead of --depth/--width/--resolution-scale")
    for name, text in COMPOUND_HELP.items():
        g.add_argument(f"--{name}", dest=f"compound_{name}", type=_float, help=text + " (default: unset)")


COMPOUND_HELP = {"alpha": "the depth coefficient: d = alpha^phi", "beta": "the width coefficient: w = beta^phi",
                 "gamma": "the resolution coefficient: r = gamma^phi", "phi": "the compound exponent"}


def _add_print_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--print-config", action="store_true",
                   help="print the config this command line resolves to, as JSON, and exit without training")


def _print_config(cfg) -> int:
    print(json.dumps(config.to_dict(cfg), indent=1))
    return 0


def _with_compound(args: argparse.Namespace, network: Network) -> Network:
    """``network`` with (depth, width, resolution_scale) = (alpha, beta, gamma)^phi when those flags are given."""
    values = [getattr(args, f"compound_{k}") for k in ("alpha", "beta", "gamma", "phi")]
    if all(v is None for v in values):
        return network
    if any(v is None for v in values):
        raise UsageError("--alpha, --beta, --gamma and --phi go together")
    if any(getattr(args, k, None) is not None for k in ("depth", "width", "resolution_scale", "variant")):
        raise UsageError("give either --depth/--width/--resolution-scale (or --variant) or "
                         "--alpha/--beta/--gamma/--phi")
    return Network.compound(*values, baseline=network.baseline, base_resolution=network.base_resolution,
                                  output_stride=network.output_stride)


# --------------------------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------------------------
def _with_strategy(args: argparse.Namespace, network: Network) -> tuple[Network, dict]:
    """``network`` (the baseline) scaled by ``--strategy NAME --s S``: the strategy's (d, w, r) for cost
    multiplier s, and the row's extra columns (``mac_ratio``: the real MACs over the baseline's, after
    rounding); ``network`` unchanged when no strategy is given."""
    from scaling import strategies

    if args.strategy is None:
        if args.s is not None:
            raise UsageError("--s is the cost multiplier of a --strategy")
        return network, {}
    if args.s is None:
        raise UsageError("--strategy needs --s, the cost multiplier (of the baseline's MACs)")
    if network.variant is not None or args.compound_phi is not None:
        raise UsageError("--strategy scales the baseline (and its --depth/--width/--resolution-scale), not a --variant "
                         "or a --phi")
    strategy = strategies.get(args.strategy)
    params = {k: getattr(args, f"compound_{k}") for k in ("alpha", "beta", "gamma")
              if getattr(args, f"compound_{k}") is not None}
    d, w, r = strategy(args.s, **params)
    scaled = network.scaled(d, w, r)
    base = cost.count(network.spec(), args.num_classes).macs
    real = cost.count(scaled.spec(), args.num_classes).macs
    return scaled, {"strategy": strategy.name, "s": args.s, "d": round(d, 4), "w": round(w, 4), "r": round(r, 4),
                    "mac_ratio": round(real / base, 3)}


def cmd_models(args: argparse.Namespace) -> None:
    given = _given(args, Network)
    network, extra = _with_strategy(args, config.override(Network(), **given))
    if not extra:
        network = _with_compound(args, network)
    if network != Network() or given or extra:
        _print_table([extra | cost.describe(network.spec(), args.num_classes)], args.json)
        return
    names = list(arch.PRESETS) if args.variants == "all" else [v.strip() for v in args.variants.split(",")]
    rows = []
    for name in names:
        row = cost.describe(arch.preset_spec(name), args.num_classes)
        paper_params, paper_flops, paper_top1 = arch.PAPER_TABLE2[row["network"]]
        row |= {"paper_params_M": paper_params, "params_diff_M": round(row["params"] / 1e6 - paper_params, 2),
                "paper_flops_B": paper_flops, "gmacs_diff": round(row["gmacs"] - paper_flops, 3),
                "paper_top1": paper_top1}
        rows.append(row)
    _print_table(rows, args.json)


def cmd_strategies(args: argparse.Namespace) -> None:
    from scaling import strategies

    rows = []
    for st in strategies.STRATEGIES.values():
        row = {"strategy": st.name, "params": ", ".join(f"{k}={v:g}" for k, v in st.defaults.items()) or "-"}
        for s in (2, 4):
            row[f"d,w,r at s={s}"] = "/".join(f"{x:.3f}" for x in st(s))
        rows.append(row | {"rule": st.summary})
    _print_table(rows, args.json)


def cmd_grid(args: argparse.Namespace) -> None:
    points = scaling_math.feasible_grid(scaling_math.parse_range(args.alpha), scaling_math.parse_range(args.beta),
                                        scaling_math.parse_range(args.gamma), args.target, args.tol)
    baseline = Network(base_resolution=args.base_resolution, output_stride=args.output_stride)
    candidates = grid_candidates(points, baseline, args.target)
    _print_table(cost.candidate_rows(candidates, baseline.spec(), args.num_classes), args.json)
    if not args.json:
        print(f"{len(points)} feasible points, {len(candidates)} distinct networks "
              f"(|alpha*beta^2*gamma^2 - {args.target:g}| <= {args.tol:g}, base resolution {args.base_resolution} px, "
              f"output stride {args.output_stride})")


def cmd_train(args: argparse.Namespace) -> int | None:
    cfg = config.override(TrainConfig(), **_given(args, TrainConfig))
    cfg = dataclasses.replace(cfg, network=_with_compound(args, cfg.network))
    if args.print_config:
        return _print_config(cfg)
    from scaling import train

    n = cfg.network
    name = n.variant or f"{n.baseline}-d{n.depth:.4g}-w{n.width:.4g}-r{n.resolution_scale:.4g}"
    dataset = cfg.dataset.replace(":", "_").replace("/", "_")
    workdir = args.workdir or f"runs/{name}-{n.base_resolution}px-{dataset}-s{cfg.seed}"
    result = train.train_and_evaluate(cfg, workdir, tensorboard=args.tensorboard)
    keys = ("status", "epochs", "loss", "train_top1", "minival_top1", "test_top1", "images_per_sec", "timed_steps",
            "first_step_seconds", "wall_time", "params", "macs", "resolution", "seconds")
    print(json.dumps({k: result[k] for k in keys} | {"workdir": str(workdir)}))


#: Fields a search or sweep sets per point, never by flag.
POINT_FIELDS = ("seed", "variant")
GRID_FIELDS = ("alpha", "beta", "gamma", "target", "tol")


def search_config(args: argparse.Namespace):
    """The SearchConfig a ``scaling search`` command line means: the experiment file, then the flags."""
    from scaling import search

    cfg = search.load_config(args.config or search.DEFAULT_EXPERIMENT)
    return config.override(cfg, **_given(args, SearchConfig, POINT_FIELDS))


def _finished(summary: dict, directory) -> int:
    """Draw an ended study's figures, print what it lacks (its last lines); the exit status: 1 when a
    point failed."""
    from scaling import plots, results

    for stem in plots.redraw(directory):
        print(f"figure {stem}.png/.pdf", flush=True)
    lines = results.describe_incomplete(summary)
    if lines:
        print(lines, flush=True)
    return EXIT_FAILED if results.failed(summary) else 0


def cmd_search(args: argparse.Namespace) -> int:
    from scaling import search

    cfg = search_config(args)
    if args.print_config:
        return _print_config(cfg)
    if not args.dry_run:
        return _finished(search.search(cfg, workers=args.workers), cfg.study.dir)
    cands, points, num_classes = search.prepare(cfg, check_storage=False)
    _print_table(search.candidate_table(cfg, cands, num_classes), args.json)
    if not args.json:
        print(f"{sum(len(c.merged) for c in cands)} feasible points, {len(cands)} distinct networks, "
              f"{len(points)} runs ({cfg.study.seeds} seed(s)) on {cfg.study.train.dataset}; study {cfg.study.name!r}")


def cmd_scale_up(args: argparse.Namespace) -> int:
    from scaling import search

    given = _given(args, SearchConfig, POINT_FIELDS + GRID_FIELDS + ("name",))
    coefficients = (args.compound_alpha, args.compound_beta, args.compound_gamma)
    if args.from_study:
        if any(c is not None for c in coefficients):
            raise UsageError("give either --alpha/--beta/--gamma or --from-study, not both")
        cfg, coefficients = search.from_study(args.from_study, args.results_dir, args.storage)
    elif any(c is None for c in coefficients):
        raise UsageError("scale-up needs --alpha, --beta and --gamma, or --from-study NAME")
    else:
        cfg = search.load_config(args.config or search.DEFAULT_EXPERIMENT)
    cfg = config.override(cfg, **given)
    cfg = config.override(cfg, name=args.name or search.scale_up_name(cfg, *coefficients))
    if args.print_config:
        return _print_config(cfg)
    phis = scaling_math.parse_phis(args.phi)
    points = search.scale_up_points(cfg, *coefficients, phis)
    dataset = search.validate(cfg, points, check_storage=args.train)
    _print_table(search.scale_up_table(cfg, *coefficients, phis, dataset.num_classes), args.json)
    if args.train:
        return _finished(search.scale_up(cfg, *coefficients, phis, workers=args.workers), cfg.study.dir)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from scaling import sweeps

    given = _given(args, SweepConfig, POINT_FIELDS + ("sweep",))
    cfg = sweeps.load_config(args.sweep_name, args.config)
    if "baseline" in given and "name" not in given:
        cfg = sweeps.with_baseline(cfg, given.pop("baseline"))
    cfg = config.override(cfg, **given)
    if args.print_config:
        return _print_config(cfg)
    if not args.dry_run:
        return _finished(sweeps.sweep(cfg, workers=args.workers), cfg.study.dir)
    cfg, points, num_classes = sweeps.prepare(cfg, check_storage=False)
    _print_table(sweeps.point_table(cfg, points, num_classes), args.json)
    if not args.json:
        print(f"{len(points) // cfg.study.seeds} networks, {len(points)} runs ({cfg.study.seeds} seed(s)) of "
              f"{cfg.study.train.network.baseline} on {cfg.study.train.dataset}; study {cfg.study.name!r}")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from scaling import calibration, study

    cfg = calibration.load_config(args.config)
    cfg = config.override(cfg, **_given(args, CalibrationConfig, POINT_FIELDS))
    if args.print_config:
        return _print_config(cfg)
    if not args.dry_run:
        return _finished(calibration.calibrate(cfg, workers=args.workers), cfg.study.dir)
    points = calibration.points(cfg)
    dataset = study.validate(cfg.study, points, check_storage=False)
    rows = [{"candidate": p.name, **p.params, "lr": p.changes["lr"],
             **{k: v for k, v in cost.describe(p.network.spec(), dataset.num_classes).items() if k != "network"}}
            for p in points if p.seed == 0]
    _print_table(rows, args.json)
    if not args.json:
        print(f"{len(points)} runs ({cfg.study.seeds} seed(s)) on {cfg.study.train.dataset}; study {cfg.study.name!r}")


def _load_study(args: argparse.Namespace):
    """(trials table, summary) of ``args.study`` in ``args.results_dir``, noting an incomplete study on stderr."""
    from scaling import results

    known = results.studies(args.results_dir)
    if args.study not in known:
        raise UsageError(f"no study {args.study!r} with a trials table in {results.where(args.results_dir)}")
    df, summary = results.load(known[args.study])
    _note_incomplete(summary)
    return df, summary


def cmd_compare(args: argparse.Namespace) -> None:
    from scaling import results, verdicts

    df, summary = _load_study(args)
    names, kind = args.names, summary["kind"]
    if len(names) % 2:
        raise UsageError("name candidates in pairs (A B, or A B A2 B2 ... for a family)")
    if args.margin is not None and not args.margin > 0:
        raise UsageError(f"--margin must be > 0 points, got {args.margin}")
    if args.at_macs is not None and not kind.startswith("sweep:"):
        raise UsageError(f"--at-macs compares lines of a sweep; {args.study!r} is a {kind} study")
    if args.at_macs is not None and not args.at_macs > 0:
        raise UsageError(f"--at-macs must be > 0, got {args.at_macs}")
    pooled = ""
    if args.rerun is not None:
        theirs = results.studies(args.rerun)
        if args.study not in theirs:
            raise UsageError(f"no study {args.study!r} with a trials table in {args.rerun}")
        rerun = results.load(theirs[args.study])[0]
        if not names and args.at_macs is None and not args.lines:
            print("\n".join(verdicts.rerun(df, rerun, args.metric, kind, args.study)))
            return
        df, pooled = results.pool(df, rerun), f", each seed's runs in the study and in {args.rerun} averaged"
    if args.lines:
        if not kind.startswith("sweep:"):
            raise UsageError(f"--lines fits the lines of a sweep; {args.study!r} is a {kind} study")
        print("\n".join(verdicts.lines(df, args.metric, pooled)))
        return
    if len(names) < 2:
        raise UsageError("name two candidates of the study to compare, or a rerun of it with --rerun DIR")
    if len(names) > 2:
        print("\n".join(verdicts.family(df, list(zip(names[::2], names[1::2], strict=True)), args.metric,
                                        args.margin, pooled, args.at_macs)))
        return
    print("\n".join(verdicts.pair(df, *names, args.metric, at_macs=args.at_macs, margin=args.margin, pooled=pooled)))


def cmd_status(args: argparse.Namespace) -> None:
    from scaling import results, study

    where = study.StudyConfig(name=args.study, results_dir=results.study_root(args.study, args.results_dir),
                              storage=args.storage)
    st = study.queue.status(study.load(where))
    eta = "unknown until a run finishes" if math.isnan(st["eta_seconds"]) else f"{st['eta_seconds'] / 60:.0f} min"
    mean = "" if math.isnan(st["mean_run_seconds"]) else f"; {st['mean_run_seconds']:.0f} s a finished run"
    print(f"{args.study}: {st['done']} of {st['points']} runs done, {st['running']} running, {st['failed']} failed, "
          f"{st['queued']} queued{mean}; ETA {eta} at the running workers' pace")


def cmd_fidelity(args: argparse.Namespace) -> None:
    from scaling import fidelity

    df, _ = _load_study(args)
    print(fidelity.describe(df, args.baseline, args.metric))


def _note_incomplete(summary: dict) -> None:
    from scaling import results

    note = results.incomplete_note(summary)
    if note:
        print(note, file=sys.stderr, flush=True)


def cmd_plot(args: argparse.Namespace) -> None:
    from scaling import plots, results

    if not args.threshold > 0:
        raise UsageError(f"--threshold must be > 0, got {args.threshold}")
    known = results.studies(args.results_dir)
    names = list(known) if args.studies == ["all"] else args.studies
    missing = [name for name in names if name not in known] or ([] if names else ["all"])
    if missing:
        raise UsageError(f"no study {missing[0]!r} with a trials table in {results.where(args.results_dir)}; "
                         f"found: {', '.join(known) or 'none'}")
    for name in names:
        _note_incomplete(results.load(known[name])[1])
    kwargs = dict(metric=args.metric, threshold=args.threshold)
    if args.rerun is None:  # each study beside its first rerun (plots.redraw)
        rerun = lambda name: "first"  # noqa: E731
    elif args.rerun == "none":
        rerun = lambda name: None  # noqa: E731
    else:
        reruns = results.studies(args.rerun)
        if not set(names) & set(reruns):
            raise UsageError(f"no study of {', '.join(names)} with a trials table in {args.rerun}")
        rerun = reruns.get
    stems = [stem for name in names for stem in plots.redraw(known[name], rerun(name), **kwargs)]
    stems += plots.redraw_figure3([known[name] for name in names], **kwargs)
    for stem in stems:
        print(f"{stem}.png {stem}.pdf")


def cmd_cam(args: argparse.Namespace) -> None:
    from scaling import cam, plots

    if args.images < 1:
        raise UsageError(f"--images must be >= 1, got {args.images}")
    for entry in cam.missing_checkpoints(args.results_dir, args.studies):
        if not args.train_missing or entry["command"] is None:
            raise cam.CamError(cam.describe_missing(entry))
        print(f"training {entry['runs']} run(s) of {entry['study']} again: scaling {' '.join(entry['command'])}",
              flush=True)
        code = main(entry["command"])
        if code:
            return code
    fig, picked = cam.cam_grid(args.results_dir, args.studies, args.images, args.gmacs)
    stem = pathlib.Path(args.out) if args.out else cam.default_path(args.results_dir, args.studies)
    stem.parent.mkdir(parents=True, exist_ok=True)
    plots.save(fig, stem, dpi=100)  # 2.3-inch panels of 64-128 px images: 100 dpi shows every pixel
    for name, run in picked.items():
        print(f"{name:>17}: {run['study']} {run['candidate']} seed {run['seed']}, {run['macs'] / 1e6:.2f} MMACs")
    print(f"{stem}.png {stem}.pdf")


# --------------------------------------------------------------------------------------------
def _sweep_names() -> list[str]:
    """The sweeps, as ``scaling sweep NAME`` takes them: one packaged experiment ``sweep_<name>`` each
    (:func:`scaling.sweeps.load_config`), listed without importing the sweeps."""
    return [n.removeprefix("sweep_").replace("_", "-") for n in config.packaged_experiments() if n.startswith("sweep_")]


#: What a flag's default means where an experiment file sets the config (search, sweep, scale-up, calibrate).
EXPERIMENT_DEFAULTS = ("A field flag's default is the config class's; the experiment file may set another "
                       "(--print-config shows the result).")


#: --results-dir of the commands that read studies: unset, they look in runs/ (the user's) then results/.
READ_DIR_HELP = "where {} (default: runs/, then the committed results/)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scaling", description=__doc__.splitlines()[0], epilog=OVERRIDES)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="params and MACs of B0-B7 or of any network",
                       description="Without network flags: the B0-B7 table beside the paper's. With them "
                                   "(--depth/--width/--resolution-scale, --alpha/--beta/--gamma/--phi, --variant, "
                                   "--baseline, --output-stride): that network.")
    p.add_argument("--variants", default="all", help="comma-separated presets (b0..b7) or 'all'")
    p.add_argument("--num-classes", type=int, default=1000, help="classes of the classifier")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_fields(p, Network)
    _add_compound_flags(p)
    g = p.add_argument_group("a scaling strategy instead (scaling strategies lists them)")
    g.add_argument("--strategy", help="scale the baseline by this strategy's (d, w, r) for --s (default: none); "
                                      "compound reads --alpha/--beta/--gamma")
    g.add_argument("--s", type=_float, help="the cost multiplier (of the baseline's MACs) for --strategy "
                                            "(default: unset)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("strategies", help="the registered scaling strategies and their (d, w, r) at s = 2 and 4",
                       description="Each strategy spends a cost multiplier s on depth, width and resolution "
                                   "(d w^2 r^2 = s before rounding); scaling/strategies.py registers them.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_strategies)

    p = sub.add_parser("grid", help="merged (alpha, beta, gamma) candidates with their real cost")
    p.add_argument("--alpha", default="1:1.4:0.05", help="value, list a,b,c or range start:stop:step")
    p.add_argument("--beta", default="1:1.4:0.05", help="as --alpha")
    p.add_argument("--gamma", default="1:1.4:0.05", help="as --alpha")
    p.add_argument("--target", type=_float, default=2.0, help="alpha*beta^2*gamma^2 target")
    p.add_argument("--tol", type=_float, default=0.1, help="allowed |product - target|")
    p.add_argument("--base-resolution", type=int, default=arch.B0_RESOLUTION, help="the baseline's pixels")
    p.add_argument("--output-stride", type=int, default=32, help="32 (B0), 16 or 8: the small-image layout")
    p.add_argument("--num-classes", type=int, default=1000, help="classes of the classifier")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("train", help="train and evaluate one network (rerun to resume)",
                       description="Every TrainConfig field is a flag (the network's too); a recipe knob left "
                                   "unset takes its recipe's value (scaling/recipes.py).")
    p.add_argument("--workdir", help="run directory (default runs/<network>-<px>px-<dataset>-s<seed>)")
    p.add_argument("--tensorboard", metavar="DIR", help="write each epoch's scalars (loss, top-1, lr, img/s) "
                                                        "to DIR for TensorBoard (default: none)")
    _add_print_config(p)
    _add_fields(p, TrainConfig)
    _add_compound_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("search", help="step 1: the (alpha, beta, gamma) grid search at phi = 1 (rerun to resume)",
                       description="Every SearchConfig field is a flag that overrides the experiment file "
                                   "(default: the packaged search_digits); --depth/--width/--resolution-scale/"
                                   "--base-resolution/--baseline set the baseline that the grid scales. "
                                   + EXPERIMENT_DEFAULTS)
    p.add_argument("--config", help="experiment: a packaged name or a Python file with get_config() "
                                    "(default: search_digits)")
    p.add_argument("--dry-run", action="store_true", help="print the candidate table and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    _add_print_config(p)
    _add_fields(p, SearchConfig, skip=POINT_FIELDS)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("scale-up", help="step 2: scale the baseline by (alpha, beta, gamma)^phi",
                       description="Prints the phi networks beside B0-B7; --train trains them as one study. "
                                   "The study's name (--name) defaults to one from the coefficients. "
                                   + EXPERIMENT_DEFAULTS)
    for name in ("alpha", "beta", "gamma"):
        p.add_argument(f"--{name}", dest=f"compound_{name}", type=_float,
                       help=COMPOUND_HELP[name] + " (default: unset; or --from-study)")
    p.add_argument("--from-study", help="take alpha, beta, gamma and the recipe from this finished search "
                                        "(default: none)")
    p.add_argument("--phi", default="0:7", help="start:stop (integers), start:stop:step or a list")
    p.add_argument("--train", action="store_true", help="train every phi (a resumable study)")
    p.add_argument("--config", help="experiment (default: the packaged search_digits)")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="with --train: local worker processes")
    _add_print_config(p)
    _add_fields(p, SearchConfig, skip=POINT_FIELDS + GRID_FIELDS)
    p.set_defaults(func=cmd_scale_up)

    p = sub.add_parser("sweep", help="Figs. 3, 4, 8: scale the baseline along one or more dimensions (rerun to resume)",
                       description="NAME is one of " + ", ".join(_sweep_names()) + "; its experiment is the "
                                   "packaged sweep_<name>. Every SweepConfig field is a flag that overrides it "
                                   "(--values 1,2,4 --baseline resnet50 --seeds 3 ...). " + EXPERIMENT_DEFAULTS)
    p.add_argument("sweep_name", metavar="NAME", help="the sweep: " + ", ".join(_sweep_names()))
    p.add_argument("--config", help="experiment: a packaged name or a Python file (default: sweep_<NAME>)")
    p.add_argument("--dry-run", action="store_true", help="print the networks and their MACs and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    _add_print_config(p)
    _add_fields(p, SweepConfig, skip=POINT_FIELDS + ("sweep",))
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("calibrate", help="train networks at the recipe's learning rate x factors (rerun to resume)",
                       description="Every CalibrationConfig field is a flag that overrides the experiment file. "
                                   + EXPERIMENT_DEFAULTS)
    p.add_argument("--config", required=True, help="experiment: a Python file whose get_config() returns a "
                                                   "CalibrationConfig (required)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: JSON instead of a table")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    _add_print_config(p)
    _add_fields(p, CalibrationConfig, skip=POINT_FIELDS)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("compare", help="the difference of two networks' mean top-1 in one study, with its CI")
    p.add_argument("study", help="a study with a trials table in --results-dir")
    p.add_argument("names", nargs="*", metavar="A B", help="two candidates of the study (its trials table's "
                   "candidate column; the difference is B - A), or with --at-macs two sweep lines (\"d=1, r=1\"); "
                   "more pairs (A B A2 B2 ...): the study's family of seed-paired tests, Holm-adjusted "
                   "(default: none, with --rerun or --lines)")
    p.add_argument("--lines", action="store_true", help="every line of a sweep: its gain per doubling of MACs "
                   "fitted on the runs, on the point means, and paired by seed (with --rerun: both draws)")
    p.add_argument("--margin", type=float, default=None, metavar="PTS",
                   help="a difference that matters, in points (e.g. a paper's claimed gain): what each interval "
                   "excludes, the paired test's power to find it and the seeds 80%% power needs (default: none)")
    p.add_argument("--metric", default="test_top1", choices=("test_top1", "minival_top1", "train_top1"),
                   help="the score compared")
    p.add_argument("--at-macs", type=float, default=None,
                   help="compare sweep lines at this many MACs (Fig. 4), each seed's own line of each fitted in "
                   "log MACs and paired by seed (and, for one pair, each line fitted on all its runs) (default: unset)")
    p.add_argument("--rerun", metavar="DIR", default=None,
                   help="every candidate against the same one in DIR's rerun of the study (and a search's "
                   "winner in each draw and over both); with two candidates (or lines): their difference over "
                   "both, each seed's runs averaged (default: none)")
    p.add_argument("--results-dir", default=None, help=READ_DIR_HELP.format("the study is"))
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("status", help="where a study stands: runs done, running, failed and queued, and the ETA",
                       description="Read-only: reads the study's storage (its journal, or --storage URL) while "
                                   "its workers run. To watch it live: optuna-dashboard runs/STUDY/journal.log.")
    p.add_argument("study", help="the study's name (--name of the command that runs it)")
    p.add_argument("--results-dir", default=None, help=READ_DIR_HELP.format("its journal is"))
    p.add_argument("--storage", default=None, help="the study's RDB URL, if it has one (default: the journal file)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("fidelity", help="does the small budget's answer hold at a bigger one? a study trained "
                       "at several --budgets, compared budget by budget")
    p.add_argument("study", help="a study with budgets and a trials table in --results-dir")
    p.add_argument("--baseline", default=None, help="the network the interactions are taken against (its "
                   "trials table's network column; default the study's first)")
    p.add_argument("--metric", default="test_top1", choices=("test_top1", "minival_top1", "train_top1"),
                   help="the score compared")
    p.add_argument("--results-dir", default=None, help=READ_DIR_HELP.format("the study is"))
    p.set_defaults(func=cmd_fidelity)

    p = sub.add_parser("plot", help="redraw a study's figures from its results table (no training)")
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study names in --results-dir, or 'all'")
    p.add_argument("--results-dir", default=None, help=READ_DIR_HELP.format("the studies are"))
    p.add_argument("--metric", default="test_top1", choices=("test_top1", "minival_top1"), help="the score drawn")
    p.add_argument("--threshold", type=_float, default=0.5,
                   help="saturation: gain per doubling of MACs in points")
    p.add_argument("--rerun", metavar="DIR", default=None,
                   help="draw the point means of each sweep's rerun in DIR (a study of the same name) beside its own; "
                        "'none': no rerun (default: the study's first rerun, rerun-*/ beside it, oldest first)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("cam", help="Fig. 7: class activation maps of baseline, deeper, wider, higher-resolution "
                                   "and compound runs")
    p.add_argument("--studies", nargs="+", required=True, help="finished studies to pick the runs from (required)")
    p.add_argument("--images", type=int, default=4, help="test images, one row each")
    p.add_argument("--gmacs", type=_float, help="pick the scaled runs closest to this many GMACs "
                                                "(default: the largest compound run)")
    p.add_argument("--results-dir", default=None, help=READ_DIR_HELP.format("the studies are"))
    p.add_argument("--out", help="figure path without extension (default: cams in the first study's directory)")
    p.add_argument("--train-missing", action="store_true",
                   help="first run the study command of each study whose finished runs have no checkpoint "
                   "(not committed: a clone has none); it rewrites the study's tables with the new runs")
    p.set_defaults(func=cmd_cam)
    return parser


def exit_code(error: BaseException) -> int | None:
    """2 for bad input, 1 for a run that failed on its own (divergence); None: a bug, re-raise."""
    if isinstance(error, (UsageError, scaling_math.ScalingError, config.ConfigError)):
        return EXIT_USAGE
    if isinstance(error, files.DiskFull):
        return EXIT_FAILED
    from scaling.data import DatasetError  # only a run that got that far raises these: imported then
    from scaling.train import TrainingDiverged

    if isinstance(error, DatasetError):
        return EXIT_USAGE
    if isinstance(error, TrainingDiverged):
        return EXIT_FAILED
    return None


def main(argv: list[str] | None = None) -> int:
    """The ``scaling`` command; ``argv`` None: this process's command line, whose Ctrl-C and SIGTERM
    end the process at once (:mod:`scaling.interrupt`)."""
    runtime.tune()  # before JAX starts its backend (scaling.runtime)
    if argv is None:
        interrupt.install()
    try:
        args = build_parser().parse_args(argv)
        runtime.share_device(getattr(args, "workers", 1))  # --workers N on one GPU
        code = args.func(args)
    except KeyboardInterrupt:  # called in-process (a test, a notebook): the interrupt as an exception
        print(interrupt.MESSAGE, file=sys.stderr)
        return interrupt.exit_code(signal.SIGINT)
    except Exception as e:
        e = files.disk_full(e) or e
        code = exit_code(e)
        if code is None:
            raise
        print(f"scaling: error: {config.one_line(e)}", file=sys.stderr)
        return code
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
