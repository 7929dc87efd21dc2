"""Proxy networks: seconds to the first train step and train img/s, ours against timm eager, same run.

    python benchmarks/proxy.py                  # the four rows below, 4 rounds of 5 timed steps each
    python benchmarks/proxy.py --tiny           # CI smoke run: the first row, ours only, a few steps
    python benchmarks/proxy.py --json out.json  # also every figure as JSON

Rows (10 classes, fp32, one process per framework and row; see benchmarks/train_step.py for how
rows are timed, interleaved in rounds so the machine's load reaches each alike):

* B0 at depth 0.25, width 0.25, 32 px, batch 64: the CIFAR proxy (proxy recipe);
* B0 at depth 0.5, width 0.5, 32 px, batch 128 (proxy recipe);
* B0 at depth 2.0, width 0.25, 32 px, batch 64: 32 blocks (proxy recipe);
* B0 at 64 px, batch 32, the paper recipe (as ``python benchmarks/train_step.py``).

``first s`` is model construction to the first step's result, XLA compilation included, with no
persistent compilation cache (what a new network costs); ``x timm`` is ours over the faster of timm's
two thread settings, the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = (
    ("B0 d 0.25 w 0.25, 32 px, batch 64 (CIFAR proxy)", dict(depth=0.25, width=0.25, resolution=32, batch=64,
                                                             recipe="proxy")),
    ("B0 d 0.5 w 0.5, 32 px, batch 128", dict(depth=0.5, width=0.5, resolution=32, batch=128, recipe="proxy")),
    ("B0 d 2.0 w 0.25, 32 px, batch 64", dict(depth=2.0, width=0.25, resolution=32, batch=64, recipe="proxy")),
    ("B0, 64 px, batch 32 (paper recipe)", dict(depth=1.0, width=1.0, resolution=64, batch=32, recipe="paper")),
)


def run_row(job: dict, args) -> dict:
    """One row through train_step.py's driver: its summary per implementation."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, str(HERE / "train_step.py"), "--json", out.name,
               *(f"--{k}={v}" for k, v in job.items())]
        cmd += ["--tiny", "--no-peers"] if args.tiny else ["--rows", "ours-auto,timm,timm-1t", "--rounds",
                                                            str(args.rounds), "--steps", str(args.steps)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        print(proc.stdout, flush=True)
        return json.loads(Path(out.name).read_text())["summary"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the first row only, ours only, tiny steps (CI)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", help="write the table as JSON here too")
    args = parser.parse_args(argv)
    rows = ROWS[:1] if args.tiny else ROWS
    table = []
    for name, job in rows:
        summary = run_row(job, args)
        ours = summary["ours-auto"]
        timm = [summary[t] for t in ("timm", "timm-1t") if "img_s" in summary.get(t, {})]
        best = max(timm, key=lambda s: s["img_s"]) if timm else None
        table.append(dict(row=name, **job, ours_first_s=ours["first_s"], ours_img_s=ours["img_s"],
                          timm_first_s=best["first_s"] if best else None, timm_img_s=best["img_s"] if best else None,
                          x_timm=ours["x_timm"], params=ours["versions"].get("params")))
    print("| network | params | ours: first step (s) | timm: first step (s) | ours img/s | timm img/s | x timm |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in table:
        timm = (f"{r['timm_first_s']:.1f} | " if r["timm_first_s"] is not None else "- | ")
        timm_rate = f"{r['timm_img_s']:,.0f}" if r["timm_img_s"] is not None else "-"
        ratio = f"{r['x_timm']:.2f}x" if r["x_timm"] is not None else "-"
        print(f"| {r['row']} | {r['params']:,} | {r['ours_first_s']:.1f} | {timm}{r['ours_img_s']:,.0f} | "
              f"{timm_rate} | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
