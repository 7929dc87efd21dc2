"""The train step of every network of a sweep's experiment file: compile seconds, ms per step, img/s, GMACs/s.

    python benchmarks/study_step.py experiments/cifar10/table3_resnet50.py
    python benchmarks/study_step.py experiments/cifar10/table3_resnet50.py --only d14 --unroll
    python benchmarks/study_step.py experiments/cifar10/sweep_depth.py --only d1_,d8_ --steps 3 --json out.json

What a study's runs will cost before they are trained, and which network is slow for its MACs
(a low GMACs/s is a layout or a kernel XLA runs badly, not a bigger network; GMACs/s counts a
step as 3x the forward MACs). One process, the networks one after another, each at the study's
batch size and resolution on synthetic batches (the step computes the same on any values), after 2
untimed steps; no persistent compilation cache, so ``first step s`` is what a new network costs
(model construction to the first step's result). For an A/B between two commits, run the script
in a checkout of each (``farm-bench --vs``, or alternately by hand): machines here are noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from scaling import runtime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a sweep's experiment file")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per network (default 5)")
    parser.add_argument("--only", default=None,
                        help="only the networks whose name contains one of these (comma-separated)")
    parser.add_argument("--unroll", action="store_true", help="each stage's scanned blocks unrolled")
    parser.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    runtime.tune()

    import jax
    import numpy as np

    from scaling import config, cost, study, sweeps, train

    try:
        cfg, points, num_classes = sweeps.prepare(config.load_experiment(args.config, sweeps.SweepConfig),
                                                  check_storage=False)
    except config.ConfigError as e:
        raise SystemExit(f"study_step.py: {e}") from None
    rows = []
    for point in points:
        if point.seed != 0 or (args.only and not any(part in point.name for part in args.only.split(","))):
            continue
        tcfg, spec, devices = train.prepare(dataclasses.replace(study.train_config(cfg.study, point),
                                                                unroll=args.unroll, compilation_cache=None))
        mesh = jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
        start = time.perf_counter()
        trainer = train.Trainer(tcfg, spec, num_classes, 100, 100 * tcfg.epochs, mesh)
        rng = np.random.default_rng(0)
        r, b = spec.resolution, tcfg.batch_size
        images = jax.device_put(rng.standard_normal((b, r, r, 3), np.float32), trainer.batch_sharding)
        labels = jax.device_put(rng.integers(0, num_classes, b).astype(np.int32), trainer.batch_sharding)
        jax.block_until_ready(trainer.train_step(images, labels)["loss"])
        compile_s = time.perf_counter() - start
        for _ in range(2):
            trainer.train_step(images, labels)
        jax.block_until_ready(trainer.state.params)
        start = time.perf_counter()
        for _ in range(args.steps):
            metrics = trainer.train_step(images, labels)
        jax.block_until_ready(metrics["loss"])
        step_s = (time.perf_counter() - start) / args.steps
        macs = cost.count(spec, num_classes).macs
        rows.append({"network": point.name, "blocks": spec.num_blocks, "px": r, "MMACs": round(macs / 1e6, 2),
                     "first step s": round(compile_s, 1), "ms/step": round(step_s * 1e3, 1),
                     "img/s": round(b / step_s, 1), "GMACs/s": round(3 * macs * b / step_s / 1e9, 2)})
        print(" | ".join(f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    if not rows:
        raise SystemExit(f"study_step.py: no network of {args.config} matches --only {args.only!r}")
    print(f"\nbatch {tcfg.batch_size}, {args.steps} timed steps, unroll {args.unroll}, "
          f"jax {jax.__version__}, {jax.devices()[0].device_kind} x {len(jax.devices())}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
