"""The compound-scaling search on Optuna: step 1 (alpha, beta, gamma at phi = 1) and step 2 (phi).

A study is a fixed list of *points*, one training run each: a candidate network and a seed. The
worker that creates the study adds every point as a WAITING trial; every worker (local processes
on one journal file, or machines sharing a PostgreSQL database) then claims WAITING trials one at a
time, so each point is trained once however many workers run. A claimed trial sends a heartbeat;
a RUNNING trial whose worker died (its process is gone, or its heartbeat is older than ``grace``
seconds) is marked FAIL and its point queued again, and the retry resumes from the point's
workdir (per-epoch checkpoints). A run that diverges or runs out of memory is recorded as FAIL
with its reason and is not retried. Rerunning the same command resumes the study.

``results/<study>/`` holds the journal (default storage), ``trials/<point>/`` workdirs, the trials
table (CSV + Parquet), ``summary.json`` and the figures.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import multiprocessing
import os
import pathlib
import random
import re
import socket
import threading
import time

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from scaling import cost, data, plots, results, rules, train

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_EXPERIMENT = REPO / "experiments" / "search_digits.py"
PAPER_POINT = (1.2, 1.1, 1.15)

#: Failure kinds recorded on FAIL trials. Terminal ones settle their point; retryable ones are
#: retried up to ``max_retries`` times; interruptions (Ctrl-C) and duplicates are simply redone.
TERMINAL = ("diverged", "out_of_memory")
RETRYABLE = ("worker_lost", "error")

#: Fields that say how a run executes, not what it computes: they may differ between workers
#: and between reruns of one study.
EXECUTION_FIELDS = {"storage", "results_dir", "heartbeat", "grace", "max_retries", "quiet",
                    "compilation_cache", "num_devices", "data_dir", "depthwise_impl"}
#: TrainConfig fields a point sets; an experiment file cannot set them (use the grid fields).
NETWORK_FIELDS = ("variant", "depth", "width", "resolution", "alpha", "beta", "gamma", "phi", "seed")


class SearchError(train.ConfigError):
    """A search that cannot start (bad experiment file, storage, study name); one line, exit 2."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SearchConfig:
    """One study. The grid scales a baseline: d = depth0 * alpha^phi, w = width0 * beta^phi,
    r = resolution0 * gamma^phi at ``train.base_resolution`` px; every trial trains with ``train``."""

    study: str = "search"
    results_dir: str = "results"
    storage: str | None = None  # None: a journal file in results/<study>/; or an RDB URL (postgresql://...)
    alpha: str = "1:1.4:0.05"  # a value, a list a,b,c or a range start:stop:step
    beta: str = "1:1.4:0.05"
    gamma: str = "1:1.4:0.05"
    target: float = 2.0  # alpha * beta^2 * gamma^2
    tol: float = 0.1
    seeds: int = 1
    depth0: float = 1.0
    width0: float = 1.0
    resolution0: float = 1.0
    max_retries: int = 2  # retries of a point whose worker died or raised
    heartbeat: float = 10.0  # seconds between heartbeats of a running trial
    grace: float = 120.0  # a heartbeat older than this marks the trial's worker as lost
    train: train.TrainConfig = dataclasses.field(default_factory=train.TrainConfig)


def config_fields() -> tuple[set[str], set[str]]:
    """Names a CLI flag may override: (SearchConfig fields, TrainConfig fields)."""
    search_names = {f.name for f in dataclasses.fields(SearchConfig)} - {"train"}
    train_names = {f.name for f in dataclasses.fields(train.TrainConfig)} - set(NETWORK_FIELDS)
    return search_names, train_names


def with_overrides(config: SearchConfig, **changes) -> SearchConfig:
    """``config`` with fields replaced; TrainConfig fields go to ``config.train``."""
    search_names, train_names = config_fields()
    unknown = set(changes) - search_names - train_names
    if unknown:
        raise SearchError(f"unknown search or training field(s): {', '.join(sorted(unknown))}")
    new_train = dataclasses.replace(config.train, **{k: v for k, v in changes.items() if k in train_names})
    return dataclasses.replace(config, train=new_train, **{k: v for k, v in changes.items() if k in search_names})


def load_config(path: str | os.PathLike) -> SearchConfig:
    """The ``SearchConfig`` returned by ``get_config()`` of the experiment file ``path``."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise SearchError(f"no experiment file {path}")
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config = module.get_config()
    except Exception as e:  # anything a broken file raises
        raise SearchError(f"{path}: {_one_line(f'{type(e).__name__}: {e}')}") from None
    if not isinstance(config, SearchConfig):
        raise SearchError(f"{path}: get_config() must return a SearchConfig, not {type(config).__name__}")
    return config


def config_dict(config: SearchConfig) -> dict:
    """JSON-ready config, without the storage URL (it may hold a password)."""
    out = dataclasses.asdict(config)
    out.pop("storage")
    return out


def config_from_dict(d: dict) -> SearchConfig:
    return SearchConfig(**{**d, "train": train.TrainConfig(**d["train"])})


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# Networks, candidates and points
# --------------------------------------------------------------------------------------------
def network(config: SearchConfig, alpha: float, beta: float, gamma: float, phi: float = 1.0):
    """The baseline scaled by alpha^phi, beta^phi, gamma^phi (each coefficient >= 1)."""
    for label, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not value >= 1:
            raise rules.ScalingError(f"{label} must be >= 1, got {value}")
    d, w, r = rules.compound_coefficients(alpha, beta, gamma, phi)
    return rules.baseline_spec(config.train.baseline, config.depth0 * d, config.width0 * w, config.resolution0 * r,
                               base_resolution=config.train.base_resolution)


def baseline(config: SearchConfig):
    """The unscaled baseline: ``train.baseline`` (B0 by default) at (depth0, width0, resolution0)."""
    return network(config, 1.0, 1.0, 1.0)


def candidates(config: SearchConfig) -> list[rules.Candidate]:
    """The feasible grid at phi = 1, merged when points round to the same network.

    As ``rules.merge_identical`` (the member closest to the target represents its group), but
    on the config's baseline rather than on B0.
    """
    grid = rules.feasible_grid(rules.parse_range(config.alpha), rules.parse_range(config.beta),
                               rules.parse_range(config.gamma), config.target, config.tol)
    groups: dict[tuple, list[tuple[float, float, float]]] = {}
    for point in grid:
        groups.setdefault(network(config, *point).architecture, []).append(point)
    out = []
    for members in groups.values():
        rep = min(members, key=lambda p: abs(rules.constraint_value(*p) - config.target))
        out.append(rules.Candidate(*rep, spec=network(config, *rep), merged=tuple(members)))
    return out


def candidate_table(config: SearchConfig, cands: list[rules.Candidate], num_classes: int) -> list[dict]:
    """The dry-run table: coefficients, rounded network, params, MACs, MAC ratio to the baseline."""
    rows = cost.candidate_rows(cands, baseline(config), num_classes)
    for row, cand in zip(rows, cands, strict=True):
        row["paper"] = PAPER_POINT in cand.merged
    return rows


@dataclasses.dataclass(frozen=True)
class Point:
    """One training run of a study: a network (named ``name``) and a seed."""

    name: str
    seed: int
    spec: rules.NetworkSpec | rules.ResNetSpec
    params: dict  # what the trial records as Optuna params besides name and seed
    attrs: dict = dataclasses.field(default_factory=dict)  # extra user attrs (merged members, ...)

    @property
    def key(self) -> str:
        return f"{self.name}-s{self.seed}"

    def train_config(self, config: SearchConfig) -> train.TrainConfig:
        s = self.spec
        return dataclasses.replace(config.train, variant=None, depth=s.depth, width=s.width,
                                   resolution=s.resolution_scale, alpha=None, beta=None, gamma=None, phi=None,
                                   seed=self.seed)


def search_points(config: SearchConfig, cands: list[rules.Candidate]) -> list[Point]:
    """Step 1: every merged candidate times ``config.seeds`` seeds."""
    return [Point(c.key, seed, c.spec, {"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma, "phi": 1.0},
                  {"merged": " ".join(f"{a:g}/{b:g}/{g:g}" for a, b, g in c.merged),
                   "paper": PAPER_POINT in c.merged})
            for c in cands for seed in range(config.seeds)]


def scale_up_points(config: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float]) -> list[Point]:
    """Step 2: the baseline scaled by (alpha, beta, gamma)^phi for every phi, times the seeds."""
    return [Point(f"phi{phi:g}", seed, network(config, alpha, beta, gamma, phi),
                  {"alpha": alpha, "beta": beta, "gamma": gamma, "phi": float(phi)})
            for phi in phis for seed in range(config.seeds)]


def scale_up_table(config: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float],
                   num_classes: int) -> list[dict]:
    """The phi networks beside the nominal 2^phi and the published B0-B7 (paper Table 2)."""
    base = cost.count(network(config, alpha, beta, gamma, 0), num_classes).macs
    b0_flops = rules.PAPER_TABLE2["b0"][1]
    rows = []
    for phi in phis:
        row = {"phi": phi} | cost.describe(network(config, alpha, beta, gamma, phi), num_classes)
        del row["network"]
        row["mac_ratio"] = round(row["macs"] / base, 3)
        row["nominal_2^phi"] = round(2.0**phi, 3)
        at_b0 = cost.count(rules.compound_spec(alpha, beta, gamma, phi), 1000)
        row |= {"b0_scale_params_M": round(at_b0.params / 1e6, 2), "b0_scale_gmacs": round(at_b0.gmacs, 3)}
        variant = f"b{phi:g}"
        if variant in rules.PAPER_TABLE2:
            params_m, flops_b, _ = rules.PAPER_TABLE2[variant]
            width, depth, res, _ = rules.PRESETS[variant]
            row |= {"published": f"{variant} (d {depth}, w {width}, {res} px)", "published_params_M": params_m,
                    "published_flops_B": flops_b, "published_ratio": round(flops_b / b0_flops, 2)}
        rows.append(row)
    return rows


def parse_phis(text: str) -> list[float]:
    """``"0:7"`` -> 0..7; ``"0:3:0.5"`` -> a range; ``"0,1,3"`` -> a list."""
    parts = text.split(":")
    if len(parts) == 2:
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise rules.ScalingError(f"not a phi range start:stop: {text!r}") from None
        return rules.frange(lo, hi, 1.0)
    return rules.parse_range(text)


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


def study_dir(config: SearchConfig) -> pathlib.Path:
    return pathlib.Path(config.results_dir) / config.study


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
        reason = _one_line(getattr(e, "orig", None) or e)
        password = _password(url)
        if password:
            reason = reason.replace(password, "***")
        raise SearchError(f"cannot reach storage {mask_url(url)}: {reason}") from None


def _password(url: str) -> str | None:
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).password
    except Exception:
        return None


def open_storage(config: SearchConfig) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file (default ``results/<study>/journal.log``) or an RDB."""
    url = config.storage
    if url and "://" in url:
        return _rdb_storage(url)
    path = pathlib.Path(url) if url else study_dir(config) / "journal.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def _rdb_storage(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``. Workers that start together on a fresh database race to create
    Optuna's schema, and all but one fail with a duplicate-object error: they simply try again."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())


# --------------------------------------------------------------------------------------------
# Validation: everything that can be checked before a study exists
# --------------------------------------------------------------------------------------------
def validate(config: SearchConfig, points: list[Point], storage: bool = True) -> data.Dataset:
    """Raise a one-line error for any bad input (storage reachability too, unless ``storage`` is
    False); create nothing. Returns the dataset (cached in-process for the trials)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", config.study):
        raise SearchError(f"study name must be letters, digits, '.', '_' or '-', got {config.study!r}")
    if config.seeds < 1:
        raise SearchError(f"seeds must be >= 1, got {config.seeds}")
    if config.max_retries < 0 or not config.heartbeat > 0 or not config.grace > config.heartbeat:
        raise SearchError("need max_retries >= 0 and 0 < heartbeat < grace")
    if not config.train.minival_fraction > 0:
        raise SearchError("the search scores minival top-1: minival_fraction must be > 0")
    for point in points:
        train.prepare(point.train_config(config))
    t = config.train
    dataset = data.load(t.dataset, data_dir=t.data_dir, minival_fraction=t.minival_fraction,
                        split_seed=t.split_seed, limit_train=t.limit_train, limit_test=t.limit_test)
    if storage and config.storage and "://" in config.storage:
        check_storage(config.storage)
    return dataset


# --------------------------------------------------------------------------------------------
# The study: creation, claiming, heartbeats, failures
# --------------------------------------------------------------------------------------------
HOST = socket.gethostname()


@dataclasses.dataclass
class _Run:
    """What a worker needs: the study, its storage and the points by key."""

    config: SearchConfig
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    points: dict[str, Point]

    @property
    def dir(self) -> pathlib.Path:
        return study_dir(self.config)

    def trial_id(self, number: int) -> int:
        """The storage's id of trial ``number`` (what the storage-level calls take)."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)


def _definition(kind: str, config: SearchConfig, points: list[Point]) -> dict:
    """What makes a study: rerunning with another definition under the same name is an error."""
    cfg = config_dict(config)
    cfg = {k: v for k, v in cfg.items() if k not in EXECUTION_FIELDS}
    cfg["train"] = {k: v for k, v in cfg["train"].items() if k not in EXECUTION_FIELDS}
    return {"kind": kind, "config": cfg, "points": [p.key for p in points]}


def open_study(kind: str, config: SearchConfig, points: list[Point], wait: float = 60.0) -> _Run:
    """Create the study and queue every point, or load it (the same definition) to resume."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(config)
    definition = _definition(kind, config, points)
    try:
        study = optuna.create_study(study_name=config.study, storage=storage, direction="maximize")
        created = True
    except DuplicatedStudyError:
        study = optuna.load_study(study_name=config.study, storage=storage)
        created = False
    run = _Run(config, study, storage, {p.key: p for p in points})
    if created:
        study.set_user_attr("definition", definition)
        study.set_user_attr("config", config_dict(config))
    else:
        deadline = time.time() + wait  # the creator may still be queueing points
        while "ready" not in study.user_attrs and time.time() < deadline:
            time.sleep(0.5)
        theirs = study.user_attrs.get("definition")
        if theirs is not None and theirs != definition:
            raise SearchError(f"study {config.study!r} exists with another definition ({_diff(theirs, definition)}); "
                              "rerun with its own settings or choose another --study")
    _requeue(run)
    if not study.user_attrs.get("ready"):
        study.set_user_attr("ready", True)
    return run


def _diff(a: dict, b: dict) -> str:
    keys = [f"train.{k}" for k in a["config"]["train"] if a["config"]["train"][k] != b["config"]["train"].get(k)]
    keys += [k for k in a["config"] if k != "train" and a["config"][k] != b["config"].get(k)]
    keys += ["kind"] * (a["kind"] != b["kind"]) + ["points"] * (a["points"] != b["points"])
    return "differs in " + ", ".join(keys or ["its definition"])


def _point_trials(trials: list[FrozenTrial], key: str) -> list[FrozenTrial]:
    return [t for t in trials if t.user_attrs.get("point") == key]


def _settled(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and t.user_attrs.get("fail_kind") in TERMINAL)


def _given_up(trials: list[FrozenTrial], max_retries: int) -> bool:
    failures = [t for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("fail_kind") in RETRYABLE]
    return len(failures) > max_retries


def _requeue(run: _Run) -> None:
    """Fail the trials of lost workers, then queue every point with no trial that is live or settled."""
    for t in run.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        lost = _lost(t, run.config.grace)
        if lost:
            _fail(run, t.number, "worker_lost", lost)
    trials = run.study.get_trials(deepcopy=False)
    for key, point in run.points.items():
        mine = _point_trials(trials, key)
        active = any(t.state in (TrialState.WAITING, TrialState.RUNNING) or _settled(t) for t in mine)
        if not active and not _given_up(mine, run.config.max_retries):
            _enqueue(run, point)


def _enqueue(run: _Run, point: Point) -> None:
    params = {"candidate": point.name, "seed": point.seed, **point.params}
    choices: dict[str, set] = {}
    for p in run.points.values():
        for k, v in {"candidate": p.name, "seed": p.seed, **p.params}.items():
            choices.setdefault(k, set()).add(v)
    dists = {k: CategoricalDistribution(sorted(v)) for k, v in choices.items()}
    run.study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=params, distributions=dists,
                                                  user_attrs={"point": point.key, **point.attrs}))


def _lost(t: FrozenTrial, grace: float) -> str | None:
    """Why the RUNNING trial ``t`` has no live worker any more, or None."""
    worker = t.system_attrs.get("worker") or {}
    if worker.get("host") == HOST and worker.get("pid") != os.getpid() and not _alive(worker.get("pid")):
        return f"worker {HOST}:{worker.get('pid')} is gone"
    beat = t.system_attrs.get("heartbeat") or t.datetime_start.timestamp()
    if time.time() - beat > grace:
        return f"no heartbeat for {time.time() - beat:.0f} s from {worker.get('host')}:{worker.get('pid')}"
    return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fail(run: _Run, number: int, kind: str, reason: str) -> None:
    """Mark trial ``number`` FAIL with its reason; a no-op if another worker finished it first."""
    tid = run.trial_id(number)
    try:
        run.storage.set_trial_user_attr(tid, "fail_kind", kind)
        run.storage.set_trial_user_attr(tid, "fail_reason", reason)
        run.storage.set_trial_state_values(tid, TrialState.FAIL)
    except UpdateFinishedTrialError:
        pass


def _claim(run: _Run) -> FrozenTrial | None:
    """Take one WAITING trial (atomically); drop it if its point is done or queued earlier."""
    for t in run.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        tid = run.trial_id(t.number)
        try:
            if not run.storage.set_trial_state_values(tid, TrialState.RUNNING):
                continue
        except UpdateFinishedTrialError:
            continue
        run.storage.set_trial_system_attr(tid, "worker", {"host": HOST, "pid": os.getpid()})
        run.storage.set_trial_system_attr(tid, "heartbeat", time.time())
        others = [o for o in _point_trials(run.study.get_trials(deepcopy=False), t.user_attrs["point"])
                  if o.number != t.number]
        first = [o for o in others if _settled(o) or (o.number < t.number and o.state in (TrialState.WAITING,
                                                                                              TrialState.RUNNING))]
        if first:
            _fail(run, t.number, "duplicate", f"point already handled by trial {first[0].number}")
            continue
        return t
    return None


class _Heartbeat:
    """Records ``time.time()`` on a running trial every ``interval`` seconds from a thread."""

    def __init__(self, run: _Run, trial_id: int, interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(run.storage, trial_id, interval), daemon=True)

    def _beat(self, storage, trial_id, interval):
        while not self._stop.wait(interval):
            try:
                storage.set_trial_system_attr(trial_id, "heartbeat", time.time())
            except Exception:  # the trial was finished meanwhile, or the storage blipped: try again later
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _out_of_memory(e: BaseException) -> bool:
    text = str(e)
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def _run_trial(run: _Run, t: FrozenTrial) -> None:
    """Train the point of trial ``t`` and record its result or its failure."""
    point = run.points[t.user_attrs["point"]]
    tid = run.trial_id(t.number)
    workdir = run.dir / "trials" / point.key
    try:
        with _Heartbeat(run, tid, run.config.heartbeat):
            result = train.train_and_evaluate(point.train_config(run.config), workdir)
    except train.TrainingDiverged as e:
        _fail(run, t.number, "diverged", str(e))
        return
    except KeyboardInterrupt:
        _fail(run, t.number, "interrupted", "interrupted (Ctrl-C)")
        raise
    except Exception as e:
        if _out_of_memory(e):
            _fail(run, t.number, "out_of_memory", _one_line(e)[:500])
            return
        _fail(run, t.number, "error", _one_line(f"{type(e).__name__}: {e}")[:500])
        raise
    base_macs = cost.count(baseline(run.config), result["num_classes"]).macs
    attrs = {k: result[k] for k in results.RESULT_KEYS} | {"mac_ratio": result["macs"] / base_macs,
                                                           "workdir": str(workdir)}
    try:
        for k, v in attrs.items():
            run.storage.set_trial_user_attr(tid, k, v)
        run.storage.set_trial_state_values(tid, TrialState.COMPLETE, [result["minival_top1"]])
    except UpdateFinishedTrialError:  # another worker took this trial for lost; its retry reuses result.json
        print(f"trial {t.number} was marked lost meanwhile; its retry will record {workdir}/result.json", flush=True)


def _progress(run: _Run, t: FrozenTrial, seconds: float) -> str:
    """One line per finished trial: point, score, time and the study's ETA."""
    trials = run.study.get_trials(deepcopy=False)
    done = trials[t.number]
    left = sum(not any(_settled(o) for o in _point_trials(trials, k)) and
               not _given_up(_point_trials(trials, k), run.config.max_retries) for k in run.points)
    times = [o.user_attrs["wall_time"] for o in trials if o.state == TrialState.COMPLETE]
    workers = max(1, sum(o.state == TrialState.RUNNING for o in trials))
    eta = math.ceil(left / workers) * (sum(times) / len(times)) if times else float("nan")
    if done.state == TrialState.COMPLETE:
        a = done.user_attrs
        score = (f"minival {a['minival_top1']:.2%}  test {a['test_top1']:.2%}  "
                 f"{a['macs'] / 1e6:.2f} MMACs (x{a['mac_ratio']:.2f})")
    else:
        score = f"FAILED ({done.user_attrs.get('fail_kind')}: {done.user_attrs.get('fail_reason')})"
    return (f"[{run.config.study} #{t.number}] {t.user_attrs['point']}: {score}  {seconds:.0f} s | "
            f"{len(run.points) - left}/{len(run.points)} done, ETA {_duration(eta)}")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def work(run: _Run) -> int:
    """The worker loop: claim, train, record, until no WAITING trial is left. Returns trials trained."""
    trained = 0
    while True:
        _requeue(run)
        t = _claim(run)
        if t is None:
            return trained
        start = time.time()
        _run_trial(run, t)
        trained += 1
        print(_progress(run, t, time.time() - start), flush=True)


def _child(kind: str, config: SearchConfig, points: list[Point]) -> None:
    """Entry point of a ``workers > 1`` process (spawned, so JAX starts fresh)."""
    work(open_study(kind, config, points))


def run_study(kind: str, config: SearchConfig, points: list[Point], workers: int = 1) -> dict:
    """Open (or resume) the study, work it with ``workers`` local processes, write the outputs."""
    if workers < 1:
        raise SearchError(f"workers must be >= 1, got {workers}")
    run = open_study(kind, config, points)
    print(f"study {config.study!r}: {len(points)} runs, storage {mask_url(config.storage) or run.dir / 'journal.log'}",
          flush=True)
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_child, args=(kind, config, points)) for _ in range(workers - 1)]
    for child in children:
        child.start()
    try:
        trained = work(run)
    finally:
        for child in children:
            child.join()
    running = len(run.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    summary = write_outputs(run, kind)
    print(f"trained {trained} run(s) here" + (f"; {running} still running in other workers" if running else ""),
          flush=True)
    return summary


def write_outputs(run: _Run, kind: str) -> dict:
    """Trials table, summary.json and figures of the study, in ``results/<study>/``."""
    df = results.trials_table(run.study)
    summary = results.summarize(df, study=run.config.study, kind=kind, config=config_dict(run.config),
                                storage=mask_url(run.config.storage) or str(run.dir / "journal.log"),
                                points=len(run.points))
    results.write(df, summary, run.dir)
    plots.save_figures(df, run.dir, kind)
    return summary


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------
def search(config: SearchConfig, workers: int = 1) -> dict:
    """Step 1: train every merged candidate (x seeds) at phi = 1; returns the summary."""
    points = search_points(config, candidates(config))
    validate(config, points)
    summary = run_study("search", config, points, workers)
    print(results.describe_winner(summary), flush=True)
    return summary


def scale_up(config: SearchConfig, alpha: float, beta: float, gamma: float, phis: list[float],
             workers: int = 1) -> dict:
    """Step 2: train the baseline scaled by (alpha, beta, gamma)^phi for every phi; returns the summary."""
    points = scale_up_points(config, alpha, beta, gamma, phis)
    validate(config, points)
    summary = run_study("scale-up", config, points, workers)
    print(results.describe_curve(summary), flush=True)
    return summary


def from_study(config: SearchConfig) -> tuple[SearchConfig, tuple[float, float, float]]:
    """The stored config and best (alpha, beta, gamma) of the finished search ``config.study``."""
    if config.storage and "://" in config.storage:
        check_storage(config.storage)
    elif not config.storage and not (study_dir(config) / "journal.log").exists():
        raise SearchError(f"no study {config.study!r} in {study_dir(config)}")
    storage = open_storage(config)
    try:
        study = optuna.load_study(study_name=config.study, storage=storage)
    except KeyError:
        raise SearchError(f"no study {config.study!r} in storage {mask_url(config.storage)}") from None
    if study.user_attrs.get("definition", {}).get("kind") != "search":
        raise SearchError(f"study {config.study!r} is not a step-1 search")
    stored = config_from_dict(study.user_attrs["config"])
    summary = results.summarize(results.trials_table(study), study=config.study, kind="search",
                                config=study.user_attrs["config"], storage="", points=0)
    if not summary.get("best"):
        raise SearchError(f"study {config.study!r} has no completed trial yet")
    best = summary["best"]
    stored = dataclasses.replace(stored, storage=config.storage, results_dir=config.results_dir)
    return stored, (best["alpha"], best["beta"], best["gamma"])


def scale_up_name(config: SearchConfig, alpha: float, beta: float, gamma: float) -> str:
    return f"{config.study}-scaleup-a{alpha:.2f}_b{beta:.2f}_g{gamma:.2f}"

