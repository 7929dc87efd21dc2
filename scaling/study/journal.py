"""Repair of a journal file whose last record a kill or a full disk cut short."""

from __future__ import annotations

import json
import pathlib
import shutil
import sys
import time

from scaling import files
from scaling.study.definition import StudyError


def repair(path: pathlib.Path, lock=None) -> None:
    """Set aside a torn last line of the journal file (a write cut short by a full disk or a kill).

    Optuna appends one JSON line per operation; a torn tail makes every later read fail. Every
    complete line is kept, so no finished trial is lost; the original is kept beside it as
    ``journal.log.torn-<time>``. A damaged line *before* the last one cannot be an interrupted
    append: StudyError names it and the file is left alone.
    """
    if not path.exists() or path.stat().st_size == 0:
        return
    if lock is not None:
        lock.acquire()
    try:
        lines = path.read_bytes().split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: after the last newline ("" when none)
        for number, line in enumerate(complete, 1):
            if line.strip() and not _json_line(line):
                if number == len(complete) and not tail:  # the last line, newline included
                    tail, complete = line, complete[:-1]
                    break
                raise StudyError(f"{path}: line {number} of {len(complete)} is not a journal record; "
                                 "restore the file from a backup or start a new --name")
        if not tail.strip():
            return
        backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(path, backup)
        good = b"".join(line + b"\n" for line in complete)
        files.atomic_write(path, lambda tmp: tmp.write_bytes(good))
        print(f"scaling: {path}: set aside a torn last record ({len(tail)} bytes; original kept as {backup.name})",
              file=sys.stderr, flush=True)
    finally:
        if lock is not None:
            lock.release()


def _json_line(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False
