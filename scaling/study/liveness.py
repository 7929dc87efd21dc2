"""Which processes of a study still run: this machine's by pid (psutil), others' by their heartbeats.

Every trial records its *worker* (host, pid, start time: with the pid, one process for good) and
the worker's *session*, the study process that started it.
"""

from __future__ import annotations

import os
import secrets
import socket

import psutil

HOST = socket.gethostname()


def _started(process: psutil.Process) -> str:
    return f"{process.create_time():.2f}"


def this_process() -> dict:
    """This process as a study records it: host, pid and start."""
    return {"host": HOST, "pid": os.getpid(), "started": _started(psutil.Process())}


def new_session() -> dict:
    """A session: this process, and a token that tells this start of it from an earlier one in-process."""
    return {**this_process(), "run": secrets.token_hex(4)}


def session_key(session: dict) -> str:
    """The study user attribute that holds a session's heartbeat."""
    return f"session {session['host']}:{session['pid']}:{session['started']}:{session.get('run')}"


def gone(pid: int, started: str | None) -> str | None:
    """Why process ``pid`` of this machine no longer runs ("" or a parenthesised reason), or None if it runs.

    A zombie is gone: a study's child worker killed by the kernel (out of memory) stays one until
    the study waits for it. So is a later process given the worker's pid (it ``started`` at another
    time).
    """
    try:
        process = psutil.Process(pid)
        status, start = process.status(), _started(process)
    except psutil.NoSuchProcess:
        return ""
    except psutil.AccessDenied:  # another user's process: it runs
        return None
    if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return " (it ended; its parent has not waited for it yet)"
    if started is not None and start != started:
        return " (its pid now names another process)"
    return None
