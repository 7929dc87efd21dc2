"""Experiment files shipped with the package, found by name (``scaling search``, ``scaling sweep width``).

Each module has a ``get_config()`` returning a SearchConfig or SweepConfig; its docstring gives the
exact commands and cites where its measured wall time is (benchmarks/RESULTS.md, "Packaged
experiments: wall times"). Research studies live in the repository's ``experiments/`` and run by
path (``--config experiments/cifar10/sweep_width.py``).
"""
