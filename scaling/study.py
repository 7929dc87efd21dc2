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

``results/<study>/`` holds the journal (default storage), ``trials/<point>/`` workdirs, the trials
table (CSV + Parquet), ``summary.json`` and the figures.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import multiprocessing
import os
import pathlib
import random
import re
import secrets
import shutil
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from scaling import config, cost, files, interrupt, memory_estimate, plots, recipes, results, runs, runtime, train
from scaling.config import ConfigError, one_line
from scaling.rules import Network

#: Failure kinds (scaling.results): terminal ones settle their point; retryable ones are retried up to
#: ``max_retries`` times; interruptions (the study stopped: a kill of the whole study, Ctrl-C, a full
#: disk) are redone without counting; duplicates and spares are bookkeeping.
TERMINAL, RETRYABLE = results.TERMINAL, results.RETRYABLE
HOST = socket.gethostname()


class StudyError(ConfigError):
    """A study that cannot start (bad storage, study name, definition); one line, exit 2."""


@dataclasses.dataclass
class StudyConfig:
    """Where a study lives, how its runs are shared, and the training config every run starts from.

    ``train.network`` is the study's baseline; each point scales it.
    """

    name: str = "study"
    results_dir: str = "results"
    storage: str | None = None  # None: a journal file in results/<name>/; or an RDB URL (postgresql://...)
    seeds: int = 1
    max_retries: int = 2  # retries of a point whose worker died or raised
    heartbeat: float = 10.0  # seconds between heartbeats of a running trial
    grace: float = 120.0  # a heartbeat older than this marks the trial's worker as lost
    reuse: bool = True  # copy a finished run of the same config from another study in results_dir
    retry_failed: bool = False  # queue again the points that failed (diverged, out of memory, retries used up)
    budgets: str = ""  # every point at each budget: "1,2,4" x the epochs, "1@all" on every image (scaling.budgets)
    train: train.TrainConfig = dataclasses.field(default_factory=train.TrainConfig)

    @property
    def dir(self) -> pathlib.Path:
        return pathlib.Path(self.results_dir) / self.name


#: StudyConfig fields that say how a study runs, not what it computes: they may differ between
#: workers and between reruns.
EXECUTION_FIELDS = ("storage", "results_dir", "heartbeat", "grace", "max_retries", "reuse", "retry_failed")


#: Fields added after studies were committed, with the value that leaves a study as it was: a study's
#: definition omits them at that value, so an older study resumes under the newer code.
ADDED_FIELDS = {"budgets": "", "match_macs": 0.0}


@dataclasses.dataclass(frozen=True)
class Point:
    """One training run of a study: a network (named ``name`` in the study's tables) and a seed."""

    name: str
    seed: int
    network: Network
    params: dict  # recorded as Optuna params, besides candidate and seed (alpha..phi, or d, w, r)
    attrs: dict = dataclasses.field(default_factory=dict)  # extra user attrs (merged members, ...)
    changes: dict = dataclasses.field(default_factory=dict)  # TrainConfig fields this point sets (lr, ...)

    @property
    def key(self) -> str:
        return f"{self.name}-s{self.seed}"

    def optuna_params(self) -> dict:
        return {"candidate": self.name, "seed": self.seed, **self.params}


def train_config(study: StudyConfig, point: Point) -> train.TrainConfig:
    return dataclasses.replace(study.train, network=point.network, seed=point.seed, **point.changes)


# --------------------------------------------------------------------------------------------
# Validation: everything that can be checked before a study exists
# --------------------------------------------------------------------------------------------
def validate(study: StudyConfig, points: list[Point], storage: bool = True):
    """Raise a one-line error for any bad input (the storage's reachability too, unless ``storage``
    is False); create nothing. Returns the dataset (kept in the process for the trials)."""
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
    if storage:
        journal = [] if "://" in (study.storage or "") else [journal_path(study).parent]
        for where in dict.fromkeys([study.dir, *journal]):
            why = files.unwritable(where)
            if why:
                raise StudyError(f"cannot write the study's results to {where}: {why}")
    prepared = [train.prepare(train_config(study, p)) for p in points]
    dataset = train.load_dataset(study.train)
    for cfg, spec, devices in prepared:
        memory_estimate.check_fits(cfg, spec, dataset.num_classes, devices, train.compute_dtype(cfg))
    if storage and study.storage and "://" in study.storage:
        check_storage(study.storage)
    return dataset


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------
def mask_url(url: str | None) -> str | None:
    """``url`` with its password replaced by ``***``; a journal path as it is."""
    if not url or "://" not in url:
        return url
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparsable: show only the scheme
        return url.split("://", 1)[0] + "://***"


def password(url: str) -> str | None:
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).password
    except Exception:
        return None


def check_storage(url: str) -> None:
    """Connect once to an RDB ``url`` (5 s timeout) and fail with one masked line if it cannot."""
    import sqlalchemy

    try:
        kwargs = {"connect_args": {"connect_timeout": 5}} if url.startswith("postgresql") else {}
        engine = sqlalchemy.create_engine(url, **kwargs)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except Exception as e:
        reason = one_line(getattr(e, "orig", None) or e)
        secret = password(url)
        if secret:
            reason = reason.replace(secret, "***")
        raise StudyError(f"cannot reach storage {mask_url(url)}: {reason}") from None


def journal_path(study: StudyConfig) -> pathlib.Path:
    return pathlib.Path(study.storage) if study.storage else study.dir / "journal.log"


def open_storage(study: StudyConfig) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file (default ``results/<study>/journal.log``) or an RDB."""
    if study.storage and "://" in study.storage:
        return _rdb_storage(study)
    path = journal_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = optuna.storages.journal.JournalFileOpenLock(str(path))
    repair_journal(path, lock)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path), lock_obj=lock))


def repair_journal(path: pathlib.Path, lock=None) -> None:
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
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: after the last newline ("" when none)
        for number, line in enumerate(complete, 1):
            if line.strip() and not _json_line(line):
                if number == len(complete) and not tail:  # the last line, newline included
                    tail, complete = line, complete[:-1]
                    break
                raise StudyError(f"{path}: line {number} of {len(complete)} is not a journal record; "
                                 "restore the file from a backup or start a new --study")
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


def _rdb_storage(study: StudyConfig, attempts: int = 5) -> optuna.storages.RDBStorage:
    """``RDBStorage``. Workers that start together on a fresh database race to create Optuna's schema,
    and all but one fail with a duplicate-object error: they try again.

    Optuna's own heartbeat (``heartbeat_interval``) is not used: it fails a stale trial without saying
    whether its study process died with it, so an interrupted study could not be told from a failed
    run; the trial and session heartbeats of this module serve every storage alike.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(study.storage, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())


# --------------------------------------------------------------------------------------------
# The study
# --------------------------------------------------------------------------------------------
def definition(kind: str, config_dict: dict, points: list[Point]) -> dict:
    """What makes a study: rerunning with another definition under the same name is an error."""
    cfg = json.loads(json.dumps(config_dict))
    for holder in _dicts(cfg):
        for name in (*EXECUTION_FIELDS, *train.EXECUTION_FIELDS):
            holder.pop(name, None)
        for name, off in ADDED_FIELDS.items():  # a study that does not use them reads as before they existed
            if name in holder and holder[name] == off:
                holder.pop(name)
    return {"kind": kind, "config": cfg, "points": [p.key for p in points]}


def _dicts(tree):
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _dicts(value)


def _differs(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in dict.fromkeys([*a, *b]) for k in _differs(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [prefix.rstrip(".")] if a != b else []


def _fail_kind(t: FrozenTrial) -> str | None:
    """Why a FAIL trial failed. A study written before interruptions were told apart failed stale
    trials by Optuna's heartbeat, without our attribute: a lost worker."""
    return t.user_attrs.get("fail_kind", "worker_lost") if t.state == TrialState.FAIL else None


def _settled(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE or _fail_kind(t) in TERMINAL


def _since_retry(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """A point's trials from its last ``retry_failed`` requeue on: failures before it no longer count."""
    marks = [i for i, t in enumerate(trials) if t.user_attrs.get("retry_failed")]
    return trials[marks[-1]:] if marks else trials


def this_process() -> dict:
    """This process as a study records it: host, pid and start (with the pid, one process for good)."""
    me = _process(os.getpid())
    return {"host": HOST, "pid": os.getpid(), "started": me and me[1]}


def new_session() -> dict:
    """A session: this process, and a token that tells this start of it from an earlier one in-process."""
    return {**this_process(), "run": secrets.token_hex(4)}


def _session_key(session: dict) -> str:
    """The study user attribute that holds a session's heartbeat."""
    return f"session {session['host']}:{session['pid']}:{session['started']}:{session.get('run')}"


def _live(t: FrozenTrial) -> bool:
    return t.state in (TrialState.WAITING, TrialState.RUNNING)


class _Failed(Exception):
    """Raised by the objective after recording why its trial failed; ``Study.optimize`` catches it."""


class Study:
    """An open study: the Optuna study, its storage and the points by key. Create with :meth:`open`."""

    def __init__(self, config: StudyConfig, kind: str, study: optuna.Study, storage, points: list[Point],
                 session: dict | None = None):
        self.config, self.kind, self.optuna, self.storage = config, kind, study, storage
        self.session = session or new_session()  # the study process this worker belongs to
        self.points = {p.key: p for p in points}
        self._choices = {k: CategoricalDistribution(sorted(set(v), key=repr))
                         for k, v in _params_by_name(points).items()}

    @classmethod
    def open(cls, config: StudyConfig, kind: str, points: list[Point], config_dict: dict,
             wait: float = 60.0, session: dict | None = None) -> Study:
        """Create the study and queue every point, or load it (the same definition) to resume.

        ``session``: the study process whose worker this is (default: this process).
        """
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = open_storage(config)
        mine = definition(kind, config_dict, points)
        try:
            study = optuna.create_study(study_name=config.name, storage=storage, direction="maximize")
            created = True
        except DuplicatedStudyError:
            study = optuna.load_study(study_name=config.name, storage=storage)
            created = False
        if created:
            study.set_user_attr("definition", mine)
            study.set_user_attr("config", config_dict)
        else:
            deadline = time.time() + wait  # the creator may still be queueing points
            while "ready" not in study.user_attrs and time.time() < deadline:
                time.sleep(0.5)
            theirs = study.user_attrs.get("definition")
            if theirs is not None and theirs != mine:
                raise StudyError(f"study {config.name!r} exists with another definition (differs in "
                                 f"{', '.join(k.removeprefix('config.') for k in _differs(theirs, mine))}); "
                                 "rerun with its own settings or choose another --study")
        self = cls(config, kind, study, storage, points, session)
        if config.retry_failed:
            self._retry_failed()
        self.requeue()
        if not study.user_attrs.get("ready"):
            study.set_user_attr("ready", True)
        return self

    @property
    def dir(self) -> pathlib.Path:
        return self.config.dir

    def trials(self) -> list[FrozenTrial]:
        return self.optuna.get_trials(deepcopy=False)

    def _trial_id(self, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(self.optuna.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    # -- the queue --------------------------------------------------------------------------
    def requeue(self) -> None:
        """Fail the trials of lost workers, then queue every point with no trial that is live or settled."""
        for t in self.optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            lost = self._lost(t)
            if lost:
                self.fail(t.number, *lost)
        for key, mine in self._by_point().items():
            if not any(_live(t) for t in _since_retry(mine)) and self._needs_run(mine):
                self._enqueue(key)

    def _by_point(self) -> dict[str, list[FrozenTrial]]:
        trials = self.trials()
        return {k: [t for t in trials if t.user_attrs.get("point") == k] for k in self.points}

    def _enqueue(self, key: str, **attrs) -> None:
        point = self.points[key]
        self.optuna.enqueue_trial(point.optuna_params(), user_attrs={"point": key, **point.attrs, **attrs})

    def _needs_run(self, trials: list[FrozenTrial]) -> bool:
        """Whether a point (its trials) is neither settled nor given up."""
        recent = _since_retry(trials)
        return not any(_settled(t) for t in recent) and not self._given_up(recent)

    def _given_up(self, trials: list[FrozenTrial]) -> bool:
        return sum(_fail_kind(t) in RETRYABLE for t in _since_retry(trials)) > self.config.max_retries

    def _retry_failed(self) -> None:
        """Queue once more each point that failed or used up its retries (``retry_failed``)."""
        for key, mine in self._by_point().items():
            if mine and not any(_live(t) for t in mine) and not self._needs_run(mine) \
                    and not any(t.state == TrialState.COMPLETE for t in mine):
                self._enqueue(key, retry_failed=True)

    def _lost(self, t: FrozenTrial) -> tuple[str, str] | None:
        """(failure kind, reason) when the RUNNING trial ``t`` has no live worker any more, else None.

        ``worker_lost`` when the worker's study process (its session) lives on, else ``interrupted``.
        ``worker`` names the process that took *this* trial (the trial number guards against the
        attributes of a trial it was copied from).
        """
        worker = t.user_attrs.get("worker") or {}
        if worker.get("trial") != t.number:
            worker = {}
        session = worker.get("session") or worker  # before sessions: each worker was its own
        if worker.get("host") == HOST and worker.get("pid") not in (None, os.getpid()):
            why = _gone(worker["pid"], worker.get("started"))
            if why is not None:
                lost = f"worker {HOST}:{worker['pid']} is gone{why}"
                return ("worker_lost", lost) if self._session_lives(session, worker) else \
                    ("interrupted", f"{lost}, and so is its study process: an interruption")
        beat = max(t.user_attrs.get("heartbeat", 0) if worker else 0, t.datetime_start.timestamp())
        age = time.time() - beat
        if age > self.config.grace:
            lost = f"no heartbeat for {age:.0f} s from {worker.get('host')}:{worker.get('pid')}"
            return ("worker_lost", lost) if self._session_lives(session, worker) else \
                ("interrupted", f"{lost} nor from its study process: an interruption")
        return None

    def _session_lives(self, session: dict, worker: dict) -> bool:
        """Whether the study process ``session`` of a dead ``worker`` still runs (it is not the worker itself)."""
        if session.get("pid") is None or (session.get("host"), session["pid"]) == (worker.get("host"), worker["pid"]):
            return False
        if session["host"] == HOST:
            return session["pid"] == os.getpid() or _gone(session["pid"], session.get("started")) is None
        beat = self.optuna.user_attrs.get(_session_key(session))
        return beat is not None and time.time() - beat <= self.config.grace

    def beat(self) -> None:
        """Record this worker's session heartbeat on the study (the study process does, every ``heartbeat`` s)."""
        self.optuna.set_user_attr(_session_key(self.session), time.time())

    def counts(self) -> collections.Counter:
        """Runs this session's workers ``trained`` and ``copied`` (from other studies), read from the storage."""
        done = collections.Counter()
        for t in self.optuna.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            worker = t.user_attrs.get("worker") or {}
            if worker.get("trial") == t.number and worker.get("session") == self.session:
                done["copied" if "reused_from" in t.user_attrs else "trained"] += 1
        return done

    def fail(self, number: int, kind: str, reason: str) -> None:
        """Mark trial ``number`` FAIL with its reason; a no-op if its worker finished it meanwhile."""
        tid = self._trial_id(number)
        try:
            self.storage.set_trial_user_attr(tid, "fail_kind", kind)
            self.storage.set_trial_user_attr(tid, "fail_reason", reason)
        except UpdateFinishedTrialError:
            return
        self.optuna.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    # -- working ----------------------------------------------------------------------------
    def work(self) -> collections.Counter:
        """The worker loop: take, train, record, until no queued trial is left.

        Returns how many runs this worker ``trained`` and how many it ``copied`` from other studies.
        """
        done = collections.Counter()
        while True:
            self.requeue()
            if not self.optuna.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                return done
            outcome: dict = {}
            start = time.time()
            self.optuna.optimize(functools.partial(self._objective, outcome=outcome), n_trials=1, catch=(_Failed,),
                                 gc_after_trial=False)
            runtime.release_memory()  # the run's scratch memory, for this worker's next run and its siblings
            if "number" in outcome:
                done["copied" if "copied" in outcome else "trained"] += 1
                print(self.progress(outcome["number"], time.time() - start), flush=True)

    def _objective(self, trial: optuna.Trial, outcome: dict) -> float:
        key = trial.user_attrs.get("point")
        if key not in self.points:  # the queue ran dry between our look and Optuna's ask
            trial.set_user_attr("fail_kind", "spare")
            raise _Failed
        point = self.points[key]
        for name in point.optuna_params():  # records the queued params on the trial
            trial.suggest_categorical(name, self._choices[name].choices)
        trial.set_user_attr("worker", {**this_process(), "trial": trial.number, "session": self.session})
        trial.set_user_attr("heartbeat", time.time())
        mine = _since_retry([t for t in self.trials() if t.user_attrs.get("point") == key])
        first = [t for t in mine if t.number != trial.number
                 and (_settled(t) or (t.number < trial.number and _live(t)))]
        if first:
            self._record_failure(trial, "duplicate", f"point already handled by trial {first[0].number}")
        outcome["number"] = trial.number
        workdir = self.dir / "trials" / key
        cfg = train_config(self.config, point)
        if self.config.reuse and not workdir.exists():
            source = runs.finished_run(cfg, self._other_runs())
            if source is not None:
                runs.copy_run(source, workdir)
                trial.set_user_attr("reused_from", str(source))
                outcome["copied"] = True
        try:
            with _Heartbeat(lambda: trial.set_user_attr("heartbeat", time.time()), self.config.heartbeat):
                result = train.train_and_evaluate(cfg, workdir)
        except train.TrainingDiverged as e:
            self._record_failure(trial, "diverged", str(e))
        except KeyboardInterrupt:  # in a notebook: the command ends at once instead (scaling.interrupt)
            trial.set_user_attr("fail_kind", "interrupted")
            trial.set_user_attr("fail_reason", "interrupted (Ctrl-C)")
            raise
        except Exception as e:
            full = files.disk_full(e, workdir)
            if full is not None:  # not the run's fault: stop the study, redo the run when there is room
                _try(trial.set_user_attr, "fail_kind", "interrupted")
                _try(trial.set_user_attr, "fail_reason", str(full))
                raise full from None
            if _out_of_memory(e):
                self._record_failure(trial, "out_of_memory", one_line(e)[:500])
            # Counted against max_retries; the study goes on, and its last lines name the point.
            print(f"[{self.config.name} #{trial.number}] {key} raised:\n{traceback.format_exc()}", file=sys.stderr,
                  flush=True)
            self._record_failure(trial, "error", one_line(f"{type(e).__name__}: {e}")[:500])
        base = cost.count(self.config.train.network.spec(), result["num_classes"]).macs
        for k in results.RESULT_KEYS:
            if k in result:  # a run copied from before a key was recorded (``cpu``) lacks it
                trial.set_user_attr(k, result[k])
        for phase in results.PHASES:
            trial.set_user_attr(f"{phase}_seconds", result["seconds"][phase])
        trial.set_user_attr("mac_ratio", result["macs"] / base)
        trial.set_user_attr("workdir", str(workdir))
        return result["minival_top1"]

    def _other_runs(self) -> list[pathlib.Path]:
        """Run directories of the other studies in this study's results directory."""
        return sorted(p for p in pathlib.Path(self.config.results_dir).glob("*/trials/*")
                      if p.parent.parent != self.dir and not p.name.startswith("."))

    @staticmethod
    def _record_failure(trial: optuna.Trial, kind: str, reason: str):
        trial.set_user_attr("fail_kind", kind)
        trial.set_user_attr("fail_reason", reason)
        raise _Failed

    def progress(self, number: int, seconds: float) -> str:
        """One line per finished trial: point, score, compile and train time, and the study's ETA."""
        trials = self.trials()
        done = trials[number]
        left = sum(self._needs_run(mine) for mine in self._by_point().values())
        times = [t.user_attrs["wall_time"] for t in trials if t.state == TrialState.COMPLETE]
        workers = max(1, sum(t.state == TrialState.RUNNING for t in trials))
        eta = math.ceil(left / workers) * (sum(times) / len(times)) if times else float("nan")
        if done.state == TrialState.COMPLETE:
            a = done.user_attrs
            score = (f"minival {a['minival_top1']:.2%}  test {a['test_top1']:.2%}  "
                     f"{a['macs'] / 1e6:.2f} MMACs (x{a['mac_ratio']:.2f})  " +
                     (f"copied from {a['reused_from']};" if "reused_from" in a else
                      f"compile {a['compile_seconds']:.0f} s, train {a['train_seconds']:.0f} s, "
                      f"eval {a['eval_seconds']:.0f} s;"))
        else:
            score = f"FAILED ({_fail_kind(done)}: {done.user_attrs.get('fail_reason')})"
        return (f"[{self.config.name} #{number}] {done.user_attrs['point']}: {score}  {seconds:.0f} s | "
                f"{len(self.points) - left}/{len(self.points)} done, ETA {_duration(eta)}")

    # -- outputs ----------------------------------------------------------------------------
    def write_outputs(self) -> dict:
        """Trials table, summary.json and figures of the study, in ``results/<study>/``."""
        df = results.trials_table(self.optuna)
        summary = results.summarize(df, study=self.config.name, kind=self.kind,
                                    config=self.optuna.user_attrs.get("config", {}),
                                    storage=mask_url(self.config.storage) or str(journal_path(self.config)),
                                    points=list(self.points), max_retries=self.config.max_retries)
        summary["recipe"] = recipes.knobs(self.config.train)
        results.write(df, summary, self.dir)
        for stem in plots.redraw(self.dir):
            print(f"figure {stem}.png/.pdf", flush=True)
        return summary


def _params_by_name(points: list[Point]) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in points:
        for k, v in p.optuna_params().items():
            out.setdefault(k, []).append(v)
    return out


def _gone(pid: int, started: str | None) -> str | None:
    """Why process ``pid`` of this machine no longer runs (what is known of its end, else ""), or None.

    A zombie is gone: a study's child worker killed by the kernel (out of memory: signal 9) stays
    one until the study ends and waits for it. So is a later process given the worker's pid (it
    ``started`` at another time).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass
    proc = _process(pid)
    if proc is None:
        return None
    state, start, status = proc
    if state in "ZX":
        return "" if status is None else (f" (killed by signal {os.WTERMSIG(status)})" if os.WIFSIGNALED(status)
                                          else f" (exit status {os.WEXITSTATUS(status)})")
    if started is not None and start != started:
        return " (its pid now names another process)"
    return None


def _process(pid: int) -> tuple[str, str, int | None] | None:
    """Process ``pid``'s state letter (``Z``: a zombie), start as ``<boot id>:<clock ticks since
    boot>`` (with the pid, it names one process for good) and, once it has ended, its wait status;
    from Linux's ``/proc`` (proc(5)), None where there is none or the process is gone."""
    try:
        boot = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: field 3 (state) is fields[0], 22 (starttime) fields[19], 52 (exit_code) fields[49].
    return fields[0], f"{boot}:{fields[19]}", int(fields[49]) if len(fields) > 49 else None


def _out_of_memory(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _Heartbeat:
    """Calls ``beat()`` every ``interval`` seconds from a thread (a trial's or a session's heartbeat)."""

    def __init__(self, beat: Callable[[], object], interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(beat, interval), daemon=True)

    def _beat(self, beat, interval):
        while not self._stop.wait(interval):
            _try(beat)  # the trial was finished meanwhile, or the storage blipped: try again later

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _try(call, *args) -> None:
    """``call(*args)``, where a failure changes nothing worth stopping for (a heartbeat, a last attribute)."""
    try:
        call(*args)
    except Exception:
        pass


# --------------------------------------------------------------------------------------------
# Running a study with local worker processes
# --------------------------------------------------------------------------------------------
def _child(config: StudyConfig, kind: str, points: list[Point], config_dict: dict, session: dict) -> None:
    """Entry point of a ``workers > 1`` process (spawned, so JAX starts fresh); it ends with its study process."""
    runtime.tune()
    interrupt.install(say=False)
    interrupt.end_with_parent(session["pid"])
    try:
        Study.open(config, kind, points, config_dict, session=session).work()
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


def run(config: StudyConfig, kind: str, points: list[Point], config_dict: dict, workers: int = 1) -> dict:
    """Open (or resume) the study, work it with ``workers`` local processes, write its outputs.

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
    print(f"study {config.name!r}: {len(points)} runs, storage {mask_url(config.storage) or journal_path(config)}",
          flush=True)
    study.beat()
    with _Heartbeat(study.beat, config.heartbeat):
        ctx = multiprocessing.get_context("spawn")
        mine = dataclasses.replace(config, retry_failed=False)  # this process queued the retries already
        children = [ctx.Process(target=_child, args=(mine, kind, points, config_dict, study.session))
                    for _ in range(workers - 1)]
        remove = interrupt.on_exit(lambda signum: _stop(children))
        try:
            for child in children:
                child.start()
            study.work()
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
    summary = study.write_outputs()
    line = f"trained {done['trained']} run(s) here"
    if done["copied"]:
        line += f", copied {done['copied']} finished in other studies"
    if running:
        line += f"; {running} still running in other workers"
    print(line, flush=True)
    return summary


def load(config: StudyConfig) -> optuna.Study:
    """The existing Optuna study ``config.name`` (StudyError, one line, when there is none)."""
    if config.storage and "://" in config.storage:
        check_storage(config.storage)
    elif not journal_path(config).exists():
        raise StudyError(f"no study {config.name!r} in {config.dir}")
    try:
        return optuna.load_study(study_name=config.name, storage=open_storage(config))
    except KeyError:
        raise StudyError(f"no study {config.name!r} in storage {mask_url(config.storage)}") from None


def config_dict(cfg) -> dict:
    """A search's or sweep's config as JSON, without the storage URL (it may hold a password)."""
    out = config.to_dict(cfg)
    out["study"].pop("storage", None)
    return out
