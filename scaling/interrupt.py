"""Ctrl-C and SIGTERM end a ``scaling`` process at once: one line, exit 130 or 143, nothing torn.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be. Inside XLA's compiler
that is in a garbage-collection callback (which swallows it, so the run goes on), or it unwinds
while XLA's compile threads still run, and the interpreter's shutdown then crashes (exit -11). So
:func:`install` lets the signal's C handler write to a pipe (``signal.set_wakeup_fd``), which it
does even while the main thread is inside the compiler, and a thread reading that pipe ends the
process: it runs the registered hooks (a study stops its worker processes), prints the line and
calls ``os._exit``, leaving the interpreter's shutdown out.

Nothing finished is lost that way: checkpoints, tables and figures are written atomically, a
torn last journal record is set aside on the next start (:func:`scaling.journal.repair`), and the
trial that was running is recognised as interrupted, not failed, by the next start
(:mod:`scaling.study`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
MESSAGE = "scaling: interrupted; rerun the same command to resume"
_hooks: list[Callable[[int], None]] = []
_state = {"installed": False, "say": True}


def install(say: bool = True) -> bool:
    """Handle SIGINT and SIGTERM as above; from the main thread only (else a no-op). Idempotent.

    ``say``: print the line (a study's worker processes leave it to the study process).
    """
    _state["say"] = say
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return _state["installed"]
    read, write = os.pipe()
    os.set_blocking(write, False)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)  # the C handler still writes the number to the wakeup fd
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=_wait, args=(read,), name="scaling-interrupt", daemon=True).start()
    _state["installed"] = True
    return True


def on_exit(hook: Callable[[int], None]) -> Callable[[], None]:
    """Call ``hook(signum)`` before the process ends on a signal; returns the function that removes it."""
    _hooks.append(hook)
    return lambda: _hooks.remove(hook) if hook in _hooks else None


def end_with_parent(parent: int) -> bool:
    """Have the kernel send this process SIGTERM when its parent ``parent`` ends, however it ends
    (Linux's ``PR_SET_PDEATHSIG``, prctl(2)), and end now if it has already; returns whether it is set.

    A study's local workers: a study killed as a whole never leaves workers running on their own.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False
    if os.getppid() != parent:  # the parent ended before the call
        os.kill(os.getpid(), signal.SIGTERM)
    return ok


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


def _ignore(signum, frame) -> None:
    pass


def _wait(read: int) -> None:
    while True:
        data = os.read(read, 64)
        signums = [s for s in data if s in (signal.SIGINT, signal.SIGTERM)]
        if signums:
            _end(signums[0])


def _end(signum: int) -> None:
    for hook in list(_hooks):
        try:
            hook(signum)
        except Exception as e:  # a hook's failure must not keep the process alive
            print(f"scaling: while stopping: {type(e).__name__}: {e}", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        if _state["say"]:
            os.write(2, f"\n{MESSAGE}\n".encode())
    finally:
        os._exit(exit_code(signum))
