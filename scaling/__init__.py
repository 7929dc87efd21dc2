"""Compound model scaling (Tan & Le, 2019) on JAX.

Importing the package tunes glibc's allocator for XLA:CPU before JAX starts: see
:mod:`scaling.runtime` (``SCALING_MALLOC=system`` opts out).
"""

from scaling import runtime as _runtime

_runtime.tune_malloc()
