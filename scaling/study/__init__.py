"""The one exactly-once study runner on Optuna: points in, results out.

A study is a fixed list of *points*, one training run each: a network and a seed. The worker that
creates the study queues every point (``Study.enqueue_trial``); every worker (local processes on
one journal file, or machines sharing a PostgreSQL database) then takes queued trials one at a time
through ``Study.optimize``, so each point is trained once however many workers run. Searches
(:mod:`scaling.search`) and sweeps (:mod:`scaling.sweeps`) only say which points a study has.

Failures and interruptions: a run that diverges or runs out of memory is recorded as FAIL with its
reason and settles its point; a run that raised, or whose worker died while the study process that
started it lives on, is failed and queued again (up to ``max_retries`` times), and the retry resumes
from the point's workdir (per-epoch checkpoints). A run whose worker died *with* its study process
(the study killed as a whole: SIGKILL, a reboot, a preempted machine, Ctrl-C) is ``interrupted``: it
is redone on the next start and never counts against ``max_retries``. To tell the two apart, every
trial records its worker and the worker's *session*, the study process that started it (``run``;
its local workers are its children, ended with it); on this machine both are checked as processes,
and from another machine by their heartbeats, which a thread of each records every ``heartbeat``
seconds (the trial's on the trial, the session's on the study) and which are stale after ``grace``
seconds. A lost worker whose session still beats counts; one whose session is gone does not.
``retry_failed`` queues once more every point that failed or used up its retries.

A point whose run (the same training config and device count) already finished in another study of
the same results directory is copied from there instead of trained again (``reuse``; the trial
records ``reused_from``): the baseline of every sweep, for one, is trained once.

``<results_dir>/<study>/`` (``runs/``, ignored by git, unless the config says ``results/``) holds the
journal (default storage), ``trials/<point>/`` workdirs, the trials table (CSV + Parquet) and
``summary.json``; the command that ran the study draws its figures
(:mod:`scaling.plots`).

The pieces: :mod:`~scaling.study.definition` (what a study is), :mod:`~scaling.study.storage` and
:mod:`~scaling.study.journal` (where it lives), :mod:`~scaling.study.queue` (which points still need
a run), :mod:`~scaling.study.worker` (training them), :mod:`~scaling.study.liveness` and
:mod:`~scaling.study.heartbeat` (which workers still run).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import re
import sys
import time

from optuna.trial import TrialState

from scaling import files, interrupt, memory_estimate, recipes, results, runtime, train
from scaling.study import storage, worker
from scaling.study.definition import (
    ADDED_FIELDS,
    EXECUTION_FIELDS,
    RENAMED_FIELDS,
    Point,
    StudyConfig,
    StudyError,
    config_dict,
    definition,
    train_config,
)
from scaling.study.heartbeat import Heartbeat
from scaling.study.liveness import HOST, new_session, this_process
from scaling.study.queue import Study
from scaling.study.storage import journal_path, load, mask_url

__all__ = ["ADDED_FIELDS", "EXECUTION_FIELDS", "HOST", "RENAMED_FIELDS", "Point", "Study", "StudyConfig", "StudyError",
           "config_dict", "definition", "journal_path", "load", "mask_url", "new_session", "run", "summarise",
           "this_process", "train_config", "validate"]


def validate(study: StudyConfig, points: list[Point], check_storage: bool = True):
    """Raise a one-line error for any bad input (the storage's reachability too, unless
    ``check_storage`` is False); create nothing. Returns the dataset (kept in the process for the trials)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", study.name):
        raise StudyError(f"study name must be letters, digits, '.', '_' or '-', got {study.name!r}")
    if study.seeds < 1:
        raise StudyError(f"seeds must be >= 1, got {study.seeds}")
    if study.max_retries < 0 or not study.heartbeat > 0 or not study.grace > study.heartbeat:
        raise StudyError("need max_retries >= 0 and 0 < heartbeat < grace")
    if not study.train.minival_fraction > 0:
        raise StudyError("a study scores minival top-1: minival_fraction must be > 0")
    if study.dir.exists() and not study.dir.is_dir():
        raise StudyError(f"{study.dir} exists and is not a directory")
    if check_storage:
        journal = [] if storage.is_url(study.storage) else [journal_path(study).parent]
        for where in dict.fromkeys([study.dir, *journal]):
            why = files.unwritable(where)
            if why:
                raise StudyError(f"cannot write the study's results to {where}: {why}")
    prepared = [train.prepare(train_config(study, p)) for p in points]
    dataset = train.load_dataset(study.train)
    for cfg, spec, devices in prepared:
        memory_estimate.check_fits(cfg, spec, dataset.num_classes, devices, train.compute_dtype(cfg))
    if check_storage and storage.is_url(study.storage):
        storage.check(study.storage)
    return dataset


def summarise(study: Study) -> dict:
    """Write the study's trials table and ``summary.json`` in ``<results_dir>/<study>/``; returns the summary."""
    df = results.trials_table(study.optuna)
    summary = results.summarize(df, study=study.config.name, kind=study.kind,
                                config=study.optuna.user_attrs.get("config", {}),
                                storage=storage.describe(study.config), points=list(study.points),
                                max_retries=study.config.max_retries)
    summary["recipe"] = recipes.knobs(study.config.train)
    results.write(df, summary, study.dir)
    return summary


def _child(config: StudyConfig, kind: str, points: list[Point], config_dict: dict, session: dict) -> None:
    """Entry point of a ``workers > 1`` process (spawned, so JAX starts fresh); it ends with its study process."""
    runtime.tune()
    interrupt.install(say=False)
    interrupt.end_with_parent(session["pid"])
    try:
        worker.work(Study.open(config, kind, points, config_dict, session=session))
    except OSError as e:
        full = files.disk_full(e)
        if full is None:
            raise
        print(f"scaling: error: {full}", file=sys.stderr, flush=True)
        sys.exit(1)


def _stop(children, timeout: float = 10.0) -> None:
    """End the local workers (SIGTERM: each ends at once, scaling.interrupt), then SIGKILL what is left."""
    for child in children:
        if child.is_alive():
            child.terminate()
    deadline = time.time() + timeout
    for child in children:
        child.join(max(0.0, deadline - time.time()))
        if child.is_alive():
            child.kill()
            child.join()


def _say_ended(children, said: set) -> None:
    """One stderr line for each local worker that was killed (the out-of-memory killer sends signal 9)."""
    for child in children:
        code = child.exitcode
        if code is not None and code < 0 and child.pid not in said:
            said.add(child.pid)
            print(f"scaling: worker {HOST}:{child.pid} was killed by signal {-code}"
                  f"{' (out of memory?)' if code == -9 else ''}; its run is queued again", file=sys.stderr, flush=True)


def run(config: StudyConfig, kind: str, points: list[Point], config_dict: dict, workers: int = 1) -> dict:
    """Open (or resume) the study, work it with ``workers`` local processes, write its table and summary.

    This process is the study's session: its heartbeat says the study lives, its workers are its
    children and end with it (Ctrl-C, SIGTERM, or any end of this process). The ``scaling`` command
    ends at once on Ctrl-C (:mod:`scaling.interrupt`); called in-process (a notebook), Ctrl-C raises
    ``KeyboardInterrupt`` here, and the workers are ended before it propagates. ``config_dict`` is the
    whole config of the search or sweep (what the study's definition and ``summary.json`` record).
    Returns the summary.
    """
    if workers < 1:
        raise StudyError(f"workers must be >= 1, got {workers}")
    study = Study.open(config, kind, points, config_dict)
    print(f"study {config.name!r}: {len(points)} runs, storage {storage.describe(config)}", flush=True)
    study.beat()
    ctx = multiprocessing.get_context("spawn")
    mine = dataclasses.replace(config, retry_failed=False)  # this process queued the retries already
    children = [ctx.Process(target=_child, args=(mine, kind, points, config_dict, study.session))
                for _ in range(workers - 1)]
    said: set = set()
    with Heartbeat(lambda: (study.beat(), _say_ended(children, said)), config.heartbeat):
        remove = interrupt.on_exit(lambda signum: _stop(children))
        try:
            for child in children:
                child.start()
            worker.work(study)
        except BaseException:
            _stop(children)
            raise
        finally:
            for child in children:
                if child.pid is not None:
                    child.join()
            remove()
    done = study.counts()
    running = len(study.optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    summary = summarise(study)
    line = f"trained {done['trained']} run(s) here"
    if done["copied"]:
        line += f", copied {done['copied']} finished in other studies"
    if running:
        line += f"; {running} still running in other workers"
    print(line, flush=True)
    return summary
