"""Compound model scaling (Tan & Le, 2019) on JAX.

Importing the package has no side effects. The entry points (the ``scaling`` command, study
worker processes, the benchmarks) tune glibc's allocator and XLA:CPU before JAX starts; in a
notebook, run ``from scaling import runtime; runtime.tune()`` first (:mod:`scaling.runtime`).
"""
