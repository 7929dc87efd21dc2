"""A worker: takes a study's queued trials one at a time, trains each point, records its result.

A point whose run (the same training config and device count) already finished in another study of
the same results directory is copied from there instead of trained again (``reuse``; the trial
records ``reused_from``): the baseline of every sweep, for one, is trained once.
"""

from __future__ import annotations

import collections
import functools
import math
import pathlib
import sys
import time
import traceback

import optuna
from optuna.trial import TrialState

from scaling import cost, files, results, runs, runtime, train
from scaling.config import one_line
from scaling.study import liveness
from scaling.study.definition import train_config
from scaling.study.heartbeat import Heartbeat, attempt
from scaling.study.queue import Study, fail_kind, live, settled, since_retry


class Failed(Exception):
    """Raised by the objective once its trial records why it failed; ``Study.optimize`` catches it."""


def failure(trial: optuna.Trial, kind: str, reason: str) -> Failed:
    """Record on ``trial`` why it failed; the objective raises what this returns."""
    trial.set_user_attr("fail_kind", kind)
    trial.set_user_attr("fail_reason", reason)
    return Failed(reason)


def work(study: Study) -> collections.Counter:
    """The worker loop: take, train, record, until no queued trial is left.

    Returns how many runs this worker ``trained`` and how many it ``copied`` from other studies.
    """
    done = collections.Counter()
    while True:
        study.requeue()
        if not study.waiting():
            return done
        outcome: dict = {}
        start = time.time()
        study.optuna.optimize(functools.partial(objective, study, outcome=outcome), n_trials=1, catch=(Failed,),
                              gc_after_trial=False)
        runtime.release_memory()  # the run's scratch memory, for this worker's next run and its siblings
        if "number" in outcome:
            done["copied" if "copied" in outcome else "trained"] += 1
            print(progress(study, outcome["number"], time.time() - start), flush=True)


def objective(study: Study, trial: optuna.Trial, outcome: dict) -> float:
    """Train (or copy) the point queued on ``trial``; its minival top-1."""
    key = trial.user_attrs.get("point")
    if key not in study.points:  # the queue ran dry between our look and Optuna's ask
        trial.set_user_attr("fail_kind", "spare")
        raise Failed("spare")
    point = study.points[key]
    for name in point.optuna_params():  # records the queued params on the trial
        trial.suggest_categorical(name, study.choices[name].choices)
    trial.set_user_attr("worker", {**liveness.this_process(), "trial": trial.number, "session": study.session})
    trial.set_user_attr("heartbeat", time.time())
    mine = since_retry([t for t in study.trials() if t.user_attrs.get("point") == key])
    first = [t for t in mine if t.number != trial.number
             and (settled(t) or (t.number < trial.number and live(t)))]
    if first:
        raise failure(trial, "duplicate", f"point already handled by trial {first[0].number}")
    outcome["number"] = trial.number
    workdir = study.dir / "trials" / key
    cfg = train_config(study.config, point)
    if study.config.reuse and not workdir.exists():
        source = runs.finished_run(cfg, _other_runs(study))
        if source is not None:
            runs.copy_run(source, workdir)
            trial.set_user_attr("reused_from", str(source))
            outcome["copied"] = True
    try:
        with Heartbeat(lambda: trial.set_user_attr("heartbeat", time.time()), study.config.heartbeat):
            result = train.train_and_evaluate(cfg, workdir)
    except train.TrainingDiverged as e:
        raise failure(trial, "diverged", str(e)) from None
    except KeyboardInterrupt:  # in a notebook: the command ends at once instead (scaling.interrupt)
        trial.set_user_attr("fail_kind", "interrupted")
        trial.set_user_attr("fail_reason", "interrupted (Ctrl-C)")
        raise
    except Exception as e:
        full = files.disk_full(e, workdir)
        if full is not None:  # not the run's fault: stop the study, redo the run when there is room
            attempt(trial.set_user_attr, "fail_kind", "interrupted")
            attempt(trial.set_user_attr, "fail_reason", str(full))
            raise full from None
        if _out_of_memory(e):
            raise failure(trial, "out_of_memory", one_line(e)[:500]) from None
        # Counted against max_retries; the study goes on, and its last lines name the point.
        print(f"[{study.config.name} #{trial.number}] {key} raised:\n{traceback.format_exc()}", file=sys.stderr,
              flush=True)
        raise failure(trial, "error", one_line(f"{type(e).__name__}: {e}")[:500]) from None
    base = cost.count(study.config.train.network.spec(), result["num_classes"]).macs
    for k in results.RESULT_KEYS:
        if k in result:  # a run copied from before a key was recorded (``cpu``) lacks it
            trial.set_user_attr(k, result[k])
    for phase in results.PHASES:
        trial.set_user_attr(f"{phase}_seconds", result["seconds"][phase])
    trial.set_user_attr("mac_ratio", result["macs"] / base)
    trial.set_user_attr("workdir", str(workdir))
    return result["minival_top1"]


def _other_runs(study: Study) -> list[pathlib.Path]:
    """Run directories of the other studies in this study's results directory."""
    return sorted(p for p in pathlib.Path(study.config.results_dir).glob("*/trials/*")
                  if p.parent.parent != study.dir and not p.name.startswith("."))


def _out_of_memory(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def progress(study: Study, number: int, seconds: float) -> str:
    """One line per finished trial: point, score, compile and train time, and the study's ETA."""
    trials = study.trials()
    done = trials[number]
    left = study.left()
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
        score = f"FAILED ({fail_kind(done)}: {done.user_attrs.get('fail_reason')})"
    return (f"[{study.config.name} #{number}] {done.user_attrs['point']}: {score}  {seconds:.0f} s | "
            f"{len(study.points) - left}/{len(study.points)} done, ETA {_duration(eta)}")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
