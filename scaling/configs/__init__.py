"""Experiment files shipped with the package, found by name (``scaling search``, ``scaling sweep width``).

Each module has a ``get_config()`` returning a SearchConfig or SweepConfig; its docstring gives the
exact command and the expected wall time. Research studies live in the repository's
``experiments/`` and run by path (``--config experiments/cifar10/sweep_width.py``).
"""
