"""Optuna study on a shared filesystem: one append-only journal file, safe for many cluster jobs.

JournalFileBackend appends each operation as one JSON line under an O_EXCL lock file, so it works on
NFS where SQLite's fcntl locks do not. A second lock (``<journal>.budget.lock``) serialises trial
*creation* across workers: under it a worker counts the trials and creates the next one, so the trial
numbers are 0, 1, 2, ... with no gaps or duplicates and a global budget can never be overshot.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from .space import SearchSpace

SPACE_ATTR = "search_space"   # study user attribute holding the space config (JSON)
# The budget lock is held while TPE samples the next trial, which can take seconds for big studies;
# only a lock older than this (a killed worker) is broken.
BUDGET_LOCK_GRACE_S = 300


def journal_storage(path: str | os.PathLike) -> JournalStorage:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


@contextlib.contextmanager
def budget_lock(path: str | os.PathLike) -> Iterator[None]:
    lock = JournalFileOpenLock(f"{path}.budget", grace_period=BUDGET_LOCK_GRACE_S)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def create_or_load_study(storage: JournalStorage, path, study_name: str, space: SearchSpace) -> optuna.Study:
    """Open ``study_name`` (maximise), creating it with ``space`` recorded; a different space is an error."""
    with budget_lock(path):
        study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                                    load_if_exists=True)
        recorded = study.user_attrs.get(SPACE_ATTR)
        if recorded is None:
            study.set_user_attr(SPACE_ATTR, json.dumps(space.to_config()))  # a string keeps key order
        elif json.loads(recorded) != space.to_config():
            raise ValueError(f"{path}: study {study_name!r} was created with a different search space; "
                             "use a new study name (or journal file) for a changed space")
    return study


def load_study(path: str | os.PathLike, study_name: str) -> optuna.Study:
    """Open an existing study; a missing file or study is an error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such optuna journal file")
    storage = journal_storage(path)
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        raise ValueError(f"{path}: no study named {study_name!r}; has {names}")
    return optuna.load_study(study_name=study_name, storage=storage)


def load_space(path: str | os.PathLike, study_name: str) -> SearchSpace:
    """The search space a study was created with (recorded by the first worker)."""
    study = load_study(path, study_name)
    raw = study.user_attrs.get(SPACE_ATTR)
    if raw is None:
        raise ValueError(f"{path}: study {study_name!r} has no recorded search space")
    return SearchSpace.from_config(json.loads(raw))
