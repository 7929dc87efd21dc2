"""The queue of a study: which points still need a run, and the trials of workers that were lost.

Each point is trained once however many workers take from the queue. A run that diverged or ran
out of memory settles its point (FAIL, with its reason); a run that raised, or whose worker died
while its study process lives on, is failed and queued again, up to ``max_retries`` times; a run
whose worker died *with* its study process (the whole study killed, a reboot, Ctrl-C) is
``interrupted`` and redone without counting. ``retry_failed`` queues once more every point that
failed or used up its retries.
"""

from __future__ import annotations

import collections
import os
import time

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from scaling import results
from scaling.config import upgrade
from scaling.study import liveness, storage
from scaling.study.definition import Point, StudyConfig, StudyError, definition, differs

#: Failure kinds (scaling.results): terminal ones settle their point; retryable ones are retried up to
#: ``max_retries`` times; interruptions (the study stopped: a kill of the whole study, Ctrl-C, a full
#: disk) are redone without counting; duplicates and spares are bookkeeping.
TERMINAL, RETRYABLE = results.TERMINAL, results.RETRYABLE


def fail_kind(t: FrozenTrial) -> str | None:
    """Why a FAIL trial failed. A study written before interruptions were told apart failed stale
    trials by Optuna's heartbeat, without our attribute: a lost worker."""
    return t.user_attrs.get("fail_kind", "worker_lost") if t.state == TrialState.FAIL else None


def settled(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE or fail_kind(t) in TERMINAL


def since_retry(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """A point's trials from its last ``retry_failed`` requeue on: failures before it no longer count."""
    marks = [i for i, t in enumerate(trials) if t.user_attrs.get("retry_failed")]
    return trials[marks[-1]:] if marks else trials


def live(t: FrozenTrial) -> bool:
    return t.state in (TrialState.WAITING, TrialState.RUNNING)


class Study:
    """An open study: the Optuna study, its storage and the points by key. Create with :meth:`open`;
    :mod:`scaling.study.worker` takes its queued trials and trains them."""

    def __init__(self, config: StudyConfig, kind: str, study: optuna.Study, store, points: list[Point],
                 session: dict | None = None):
        self.config, self.kind, self.optuna, self.storage = config, kind, study, store
        self.session = session or liveness.new_session()  # the study process this worker belongs to
        self.points = {p.key: p for p in points}
        values: dict[str, list] = {}
        for p in points:
            for k, v in p.optuna_params().items():
                values.setdefault(k, []).append(v)
        self.choices = {k: CategoricalDistribution(sorted(set(v), key=repr)) for k, v in values.items()}

    @classmethod
    def open(cls, config: StudyConfig, kind: str, points: list[Point], config_dict: dict,
             wait: float = 60.0, session: dict | None = None) -> Study:
        """Create the study and queue every point, or load it (the same definition) to resume.

        ``session``: the study process whose worker this is (default: this process).
        """
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        store = storage.open_storage(config)
        mine = definition(kind, config_dict, points)
        try:
            study = optuna.create_study(study_name=config.name, storage=store, direction="maximize")
            created = True
        except DuplicatedStudyError:
            study = optuna.load_study(study_name=config.name, storage=store)
            created = False
        if created:
            study.set_user_attr("definition", mine)
            study.set_user_attr("config", config_dict)
        else:
            deadline = time.time() + wait  # the creator may still be queueing points
            while "ready" not in study.user_attrs and time.time() < deadline:
                time.sleep(0.5)
            theirs = upgrade(study.user_attrs.get("definition"))  # RENAMED_FIELDS applied
            if theirs is not None and theirs != mine:
                fresh = (f"optuna delete-study --study-name {config.name} --storage URL"
                         if storage.is_url(config.storage)
                         else f"rm -r {storage.journal_path(config)} {config.dir / 'trials'}")
                raise StudyError(f"study {config.name!r} exists with another definition (differs in "
                                 f"{', '.join(k.removeprefix('config.') for k in differs(theirs, mine))}); "
                                 f"rerun with its own settings, choose another --name, or start it over ({fresh})")
        self = cls(config, kind, study, store, points, session)
        if config.retry_failed:
            self._retry_failed()
        self.requeue()
        if not study.user_attrs.get("ready"):
            study.set_user_attr("ready", True)
        return self

    @property
    def dir(self):
        return self.config.dir

    def trials(self) -> list[FrozenTrial]:
        return self.optuna.get_trials(deepcopy=False)

    def waiting(self) -> bool:
        """Whether a queued trial is left to take."""
        return bool(self.optuna.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def requeue(self) -> None:
        """Fail the trials of lost workers, then queue every point with no trial that is live or settled."""
        for t in self.optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            lost = self._lost(t)
            if lost:
                self.fail(t.number, *lost)
        for key, mine in self.by_point().items():
            if not any(live(t) for t in since_retry(mine)) and self.needs_run(mine):
                self._enqueue(key)

    def by_point(self) -> dict[str, list[FrozenTrial]]:
        trials = self.trials()
        return {k: [t for t in trials if t.user_attrs.get("point") == k] for k in self.points}

    def _enqueue(self, key: str, **attrs) -> None:
        point = self.points[key]
        self.optuna.enqueue_trial(point.optuna_params(), user_attrs={"point": key, **point.attrs, **attrs})

    def needs_run(self, trials: list[FrozenTrial]) -> bool:
        """Whether a point (its trials) is neither settled nor given up."""
        recent = since_retry(trials)
        return not any(settled(t) for t in recent) and not self._given_up(recent)

    def _given_up(self, trials: list[FrozenTrial]) -> bool:
        return sum(fail_kind(t) in RETRYABLE for t in since_retry(trials)) > self.config.max_retries

    def _retry_failed(self) -> None:
        """Queue once more each point that failed or used up its retries (``retry_failed``)."""
        for key, mine in self.by_point().items():
            if mine and not any(live(t) for t in mine) and not self.needs_run(mine) \
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
        if worker.get("host") == liveness.HOST and worker.get("pid") not in (None, os.getpid()):
            why = liveness.gone(worker["pid"], worker.get("started"))
            if why is not None:
                lost = f"worker {liveness.HOST}:{worker['pid']} is gone{why}"
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
        if session["host"] == liveness.HOST:
            return session["pid"] == os.getpid() or liveness.gone(session["pid"], session.get("started")) is None
        beat = self.optuna.user_attrs.get(liveness.session_key(session))
        return beat is not None and time.time() - beat <= self.config.grace

    def beat(self) -> None:
        """Record this worker's session heartbeat on the study (the study process does, every ``heartbeat`` s)."""
        self.optuna.set_user_attr(liveness.session_key(self.session), time.time())

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
        study_id = self.storage.get_study_id_from_name(self.optuna.study_name)
        tid = self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
        try:
            self.storage.set_trial_user_attr(tid, "fail_kind", kind)
            self.storage.set_trial_user_attr(tid, "fail_reason", reason)
        except UpdateFinishedTrialError:
            return
        self.optuna.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def left(self) -> int:
        """How many points still need a run."""
        return sum(self.needs_run(mine) for mine in self.by_point().values())


def status(study: optuna.Study) -> dict:
    """Where a stored study stands, read-only: its points ``done``, ``running``, ``failed`` (settled or
    out of retries) and ``queued``, the mean wall time of a finished run, and the ETA in seconds (the
    queued and running runs at that mean, over the running workers; NaN before a run finished)."""
    definition_ = study.user_attrs.get("definition") or {}
    retries = (study.user_attrs.get("config") or {}).get("study", {}).get("max_retries", 2)
    trials = study.get_trials(deepcopy=False)
    counts = collections.Counter()
    for key in definition_.get("points", []):
        mine = since_retry([t for t in trials if t.user_attrs.get("point") == key])
        if any(t.state == TrialState.COMPLETE for t in mine):
            counts["done"] += 1
        elif any(t.state == TrialState.RUNNING for t in mine):
            counts["running"] += 1
        elif any(settled(t) for t in mine) or sum(fail_kind(t) in RETRYABLE for t in mine) > retries:
            counts["failed"] += 1
        else:
            counts["queued"] += 1
    times = [t.user_attrs["wall_time"] for t in trials
             if t.state == TrialState.COMPLETE and "wall_time" in t.user_attrs]
    mean = sum(times) / len(times) if times else float("nan")
    left = counts["queued"] + counts["running"]
    return {"points": len(definition_.get("points", [])),
            **{k: counts[k] for k in ("done", "running", "failed", "queued")},
            "mean_run_seconds": mean, "eta_seconds": mean * left / max(1, counts["running"]) if left else 0.0}
