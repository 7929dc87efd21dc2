"""Wall time of ``scaling --help`` and of every subcommand's ``--help``: median and max seconds.

    python benchmarks/cli_help.py                        # 5 runs of each, this checkout
    python benchmarks/cli_help.py --vs /tmp/old          # beside another checkout's package, and the ratio
    python benchmarks/cli_help.py --tiny                 # one run of each (CI smoke run)

Each run is a fresh ``python -m scaling.cli [COMMAND] --help`` process, as a user types it, with
this process's environment (``PYTHONDONTWRITEBYTECODE=1`` compiles the package's modules on every
run); the first row is a bare ``python -c pass``, the interpreter's own start-up. Interleaved: run
i of every command (and checkout) before run i + 1 of any, so a busy spell of a shared machine
spreads over all of them; read the ratio, measured side by side, over the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scaling import cli  # noqa: E402


def subcommands() -> list[str]:
    (sub,) = (a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def seconds(argv: list[str], checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="one run of each command (CI smoke run)")
    p.add_argument("--runs", type=int, default=None, help="runs of each command (default 5; tiny 1)")
    p.add_argument("--vs", default=None, metavar="CHECKOUT",
                   help="also time another checkout's scaling package (default: none)")
    args = p.parse_args(argv)
    runs = args.runs or (1 if args.tiny else 5)
    checkouts = [ROOT] + ([Path(args.vs).resolve()] if args.vs else [])
    commands = {"python -c pass": ["-c", "pass"], "scaling --help": ["-m", "scaling.cli", "--help"]}
    commands |= {f"scaling {c} --help": ["-m", "scaling.cli", c, "--help"] for c in subcommands()}
    times = {(name, checkout): [] for name in commands for checkout in checkouts}
    for _ in range(runs):
        for name, command in commands.items():
            for checkout in checkouts:
                times[name, checkout].append(seconds(command, checkout))
    print(f"{runs} run(s) of each, {os.cpu_count()} CPU(s); median (max) seconds")
    print(f"{'command':<28} {'this checkout':>14}" + (f" {'--vs':>14} {'ratio':>6}" if args.vs else ""))
    for name in commands:
        cells = [times[name, checkout] for checkout in checkouts]
        line = f"{name:<28}" + "".join(f" {statistics.median(t):>7.2f} ({max(t):.2f})" for t in cells)
        if args.vs:
            line += f" {statistics.median(cells[0]) / statistics.median(cells[1]):>6.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
