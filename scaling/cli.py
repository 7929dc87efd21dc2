"""The ``scaling`` command: thin subcommands that map flags onto the package's functions.

Bad input prints one line on stderr and exits with status 2; nothing here holds logic a notebook
would have to copy.
"""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except (UsageError, rules.ScalingError) as e:
        print(f"scaling: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
