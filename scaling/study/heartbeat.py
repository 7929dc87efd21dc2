"""A thread that records a heartbeat every few seconds: a running trial's, or its study process's."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Heartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a thread, while the ``with`` block runs."""

    def __init__(self, beat: Callable[[], object], interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(beat, interval), daemon=True)

    def _beat(self, beat, interval):
        while not self._stop.wait(interval):
            attempt(beat)  # the trial was finished meanwhile, or the storage blipped: try again later

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def attempt(call, *args) -> None:
    """``call(*args)``, where a failure changes nothing worth stopping for (a heartbeat, a last attribute)."""
    try:
        call(*args)
    except Exception:
        pass
