"""Process-wide settings: glibc's allocator and XLA:CPU's emitters, XLA's compilation cache, a GPU's
memory shared by a study's workers, library versions.

:func:`tune` makes both settings; they must be made before JAX starts its backend, so the entry
points call it first (the ``scaling`` command, study worker processes, the benchmarks; a notebook:
``from scaling import runtime; runtime.tune()`` in its first cell). Importing :mod:`scaling`
changes nothing.

**XLA:CPU's emitters.** XLA's newer MLIR "fusion emitters" compile our networks' fusions more
slowly and into slower loops than its classic LLVM IR emitters, most of all inside the scanned stage
bodies: with the classic ones the deep CIFAR proxy (d 2.0, 32 blocks) compiles its train step faster
and trains faster, and the shallow one (d 0.25) compiles faster and trains at the same speed; B0 at
64 px trains faster with the new ones, but the proxies are what sweeps train (benchmarks/RESULTS.md,
"Proxy networks: first step and train img/s against timm eager"). :func:`tune_xla` adds
``--xla_cpu_use_fusion_emitters=false`` to ``XLA_FLAGS`` unless the user set that flag; it only
touches the CPU backend. ``SCALING_XLA=default`` opts out.

**glibc's allocator.** XLA:CPU allocates each execution's scratch memory as one block (341 MiB for a B0 train step at
64 px, batch 32) and frees it afterwards. glibc serves a block that large with a fresh ``mmap``
(always, from a worker thread's arena, whose heaps are capped at 64 MiB), so every step
page-faults its whole scratch space in again, a large part of each step spent in the kernel. Keeping
every thread on the main arena, which grows with ``brk``, and never trimming it lets the block be
reused: no faults once warm, and a faster step (benchmarks/RESULTS.md, "How the step went from 0.50x
to 1.2x timm").
"Never" is ``M_TRIM_THRESHOLD = -1`` (mallopt(3)): the largest threshold an ``int`` can state,
2 GiB, still gave back every larger block, and the Imagenette proxy at 96-128 px needs 2.5-4.4 GB of
scratch a step (batch 128), which it then faulted in again each step: the committed 128-px run
d1_w1_r2-s2 trained much slower with that threshold than without it (benchmarks/RESULTS.md,
"Scratch blocks over 2 GiB").

The settings must be made before XLA's threads first allocate (a process that already ran JAX
code gets them only for threads created later). The cost: memory the process frees stays reserved
for its own reuse (its resident size stays at its peak), as with the caching allocators of PyTorch
or TensorFlow; :func:`release_memory` gives it back, and a study's workers call it after each run, so
a worker that trained a large network does not hold that memory through its next, smaller runs.
``SCALING_MALLOC=system`` keeps glibc's defaults; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc's <malloc.h>
_NEVER = -1  # as M_TRIM_THRESHOLD: never give the free top of the heap back (glibc reads -1 as SIZE_MAX)

_state = {"tuned": False}


def has_glibc() -> bool:
    """Whether this process runs on glibc (asked of the loaded C library, not read from the binary)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or no such name here
        return False


def tune_malloc() -> bool:
    """One arena, no ``mmap`` blocks, never trimming (glibc only; ``SCALING_MALLOC=system`` opts out).

    Returns whether the settings are in force. Idempotent.
    """
    if _state["tuned"]:
        return True
    if os.environ.get("SCALING_MALLOC", "").lower() == "system" or not has_glibc():
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    ok = all(mallopt(param, value) == 1 for param, value in
             ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER)))
    _state["tuned"] = ok
    return ok


def release_memory(collect: bool = True) -> bool:
    """Give the memory this process has freed back to the OS (glibc's ``malloc_trim``).

    For the points where a process changes what it runs (a study worker between runs; ``collect``:
    after a garbage collection) and for :class:`HeapGuard`: while :func:`tune_malloc` is in force
    nothing else returns it. Returns whether anything was given back.
    """
    if not _state["tuned"]:
        return False
    if collect:
        gc.collect()  # the finished run's arrays, where a reference cycle still holds them
    return ctypes.CDLL("libc.so.6").malloc_trim(0) == 1


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc/self/statm``), or None where there is none."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class HeapGuard:
    """Gives stranded heap memory back when a training loop has grown past where it settled.

    With trimming off, each step reuses the scratch block the last one freed. Not always: a step can
    start before the previous one's block is freed (two blocks then take turns), and a small
    allocation can be carved out of a free block, after which the next step needs a new one. A 128-px
    Imagenette run grew from 10.4 to 14.6 GB that way in its third epoch, and two such workers do not
    fit a 23-GiB host (benchmarks/RESULTS.md, "Scratch blocks over 2 GiB"). :meth:`check`, called
    where the loop waits for its steps anyway, trims once the process holds ``slack`` bytes more than
    at its first check: one step's scratch is faulted in again, and a loop that holds still never
    trims.
    """

    def __init__(self, slack: int = 2**30):
        self.slack, self.settled = slack, None

    def check(self) -> bool:
        """Trim if the process grew by more than ``slack`` since the first check; returns whether it trimmed."""
        now = resident_bytes() if _state["tuned"] else None
        if now is None:
            return False
        if self.settled is None:
            self.settled = now
            return False
        return now > self.settled + self.slack and release_memory(collect=False)


#: XLA:CPU flags :func:`tune_xla` adds (see the module docstring).
XLA_CPU_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)


def tune_xla() -> bool:
    """Add :data:`XLA_CPU_FLAGS` to ``XLA_FLAGS`` (each unless the user set it); ``SCALING_XLA=default`` opts out.

    Takes effect only before JAX starts its backend. Returns whether the flags are in ``XLA_FLAGS``.
    """
    if os.environ.get("SCALING_XLA", "").lower() == "default":
        return False
    flags = os.environ.get("XLA_FLAGS", "").split()
    for flag in XLA_CPU_FLAGS:
        if not any(f.split("=")[0] == flag.split("=")[0] for f in flags):
            flags.append(flag)
    os.environ["XLA_FLAGS"] = " ".join(flags)
    return True


def tune() -> None:
    """Everything the entry points set before JAX starts: :func:`tune_malloc` and :func:`tune_xla`."""
    tune_malloc()
    tune_xla()


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` is in force in this process (recorded in result.json)."""
    return _state["tuned"]


#: JAX's settings for the GPU memory its process takes; a user's own setting of any of them wins.
_GPU_MEMORY_ENV = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_ALLOCATOR")


def share_device(workers: int) -> bool:
    """Let ``workers`` local processes share one GPU: each preallocates 0.9 / workers of its memory.

    JAX preallocates 75% of a GPU's memory per process, so a study's second worker on the same GPU
    would fail at start. Sets ``XLA_PYTHON_CLIENT_MEM_FRACTION`` (before JAX starts its backend;
    children inherit it) unless the user set any of :data:`_GPU_MEMORY_ENV`; a CPU ignores it.
    Returns whether it was set.
    """
    if workers <= 1 or any(name in os.environ for name in _GPU_MEMORY_ENV):
        return False
    os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / workers:.3f}"
    return True


def enable_compilation_cache(path: str | None) -> None:
    """XLA's persistent compilation cache in ``path`` ("default": ``~/.cache/scaling/jax``; None: off).

    Every program that took over half a second to compile is stored (JAX's own
    ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` overrides the threshold), so a rerun, another seed
    of the same network or another worker on the same machine loads it instead of compiling it again.
    """
    if path is None:
        return
    import jax

    if path == "default":
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "scaling", "jax")
    if jax.config.jax_compilation_cache_dir != path:
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()  # else a cache already in use keeps its old directory
        jax.config.update("jax_compilation_cache_dir", path)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


#: The libraries whose versions every result records.
VERSIONED = ("scaling", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "optuna", "numpy", "pandas",
             "tensorflow-datasets")


def cpu() -> str:
    """The host CPU as Linux's ``/proc/cpuinfo`` names it (model, family and model numbers, widest
    vector ISA), else Python's guess: XLA:CPU's arithmetic, and so a run's last digits, depend on it."""
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0]  # the first processor's block
    except OSError:
        return platform.processor() or platform.machine()
    info = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    flags = set(info.get("flags", "").split())
    isa = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "")
    return (f"{info.get('model name', '?')} (family {info.get('cpu family', '?')}, model {info.get('model', '?')}"
            f"{', ' + isa if isa else ''})")


def versions() -> dict[str, str]:
    """Python's and every installed :data:`VERSIONED` library's version (result.json, summary.json)."""
    import importlib.metadata  # here, not at the top: the `scaling` command's --help has no use for it

    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out
