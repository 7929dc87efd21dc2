"""A study's storage: a journal file (the default) or an RDB URL, opened, checked and masked."""

from __future__ import annotations

import pathlib
import random
import time

import optuna

from scaling.config import one_line
from scaling.study import journal
from scaling.study.definition import StudyConfig, StudyError


def is_url(storage: str | None) -> bool:
    return bool(storage) and "://" in storage


def mask_url(url: str | None) -> str | None:
    """``url`` with its password replaced by ``***``; a journal path as it is."""
    if not is_url(url):
        return url
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparsable: show only the scheme
        return url.split("://", 1)[0] + "://***"


def _password(url: str) -> str | None:
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).password
    except Exception:
        return None


def check(url: str) -> None:
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
        secret = _password(url)
        if secret:
            reason = reason.replace(secret, "***")
        raise StudyError(f"cannot reach storage {mask_url(url)}: {reason}") from None


def journal_path(study: StudyConfig) -> pathlib.Path:
    return pathlib.Path(study.storage) if study.storage else study.dir / "journal.log"


def describe(study: StudyConfig) -> str:
    """The storage as a study's outputs name it: the masked URL, or the journal's path."""
    return mask_url(study.storage) if is_url(study.storage) else str(journal_path(study))


def open_storage(study: StudyConfig) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file (default ``<results_dir>/<study>/journal.log``) or an RDB."""
    if is_url(study.storage):
        return _rdb_storage(study)
    path = journal_path(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = optuna.storages.journal.JournalFileOpenLock(str(path))
    journal.repair(path, lock)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path), lock_obj=lock))


def _rdb_storage(study: StudyConfig, attempts: int = 5) -> optuna.storages.RDBStorage:
    """``RDBStorage``. Workers that start together on a fresh database race to create Optuna's schema,
    and all but one fail with a duplicate-object error: they try again.

    Optuna's own heartbeat (``heartbeat_interval``) is not used: it fails a stale trial without saying
    whether its study process died with it, so an interrupted study could not be told from a failed
    run; the trial and session heartbeats (:mod:`scaling.study.heartbeat`) serve every storage alike.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(study.storage, engine_kwargs={"pool_pre_ping": True})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + random.random())


def load(study: StudyConfig) -> optuna.Study:
    """The existing Optuna study ``study.name`` (StudyError, one line, when there is none)."""
    if is_url(study.storage):
        check(study.storage)
    elif not journal_path(study).exists():
        raise StudyError(f"no study {study.name!r} in {study.dir}")
    try:
        return optuna.load_study(study_name=study.name, storage=open_storage(study))
    except KeyError:
        raise StudyError(f"no study {study.name!r} in storage {mask_url(study.storage)}") from None
