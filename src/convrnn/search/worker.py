"""One search worker: a loop of ask -> sample -> objective -> tell against the shared journal.

Start as many workers as you like (separate cluster jobs); they share nothing but the journal file.
The objective is injected: ``objective({"number": n, "cell": {...}, "edges": [[src, dst], ...]}) -> float``
(the pipeline's is ``convrnn.search.objective.training_objective``; tests use cheap planted functions).

Outcomes, recorded in the trial's user attrs (``worker``, ``overrides``, ``fail_reason``):
- a finite value: COMPLETE;
- a non-finite value (diverged training): PRUNED. TPE ranks pruned trials without reports below every
  complete trial, so divergence teaches it to avoid that region (a FAIL would simply be ignored);
- an exception: FAIL with ``"<Type>: <message>"``; the worker moves on to the next trial;
- KeyboardInterrupt / SystemExit: FAIL ("interrupted"), then re-raised.
"""
from __future__ import annotations

import math
import os
import socket
import traceback
import warnings
from typing import Callable, Mapping

import numpy as np
import optuna
from optuna.trial import TrialState

from .space import SearchSpace
from .storage import budget_lock, create_or_load_study, journal_storage

Objective = Callable[[Mapping], float]
SAMPLERS = ("tpe", "random")


def make_sampler(kind: str, seed: int, n_startup_trials: int) -> optuna.samplers.BaseSampler:
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":
        # constant_liar: running trials of other workers count as bad points, so parallel workers
        # do not all sample next to the same current optimum.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials,
                                              multivariate=True, constant_liar=True)
    raise ValueError(f"sampler must be one of {SAMPLERS}, got {kind!r}")


def trial_seed(seed: int, number: int) -> int:
    """Sampler seed for trial ``number``: depends on the trial, not on which worker happens to run it."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def run_worker(space: SearchSpace, objective: Objective, storage_path, study_name: str, n_trials: int,
               seed: int, sampler: str = "tpe", n_startup_trials: int = 20,
               total_trials: int | None = None) -> list[int]:
    """Run up to ``n_trials`` trials in this process; returns the numbers of the trials it ran.

    ``total_trials`` caps the study as a whole: a worker stops once the study holds that many trials
    (counted in any state, at creation, under the budget lock), so N workers x n_trials cannot overshoot.
    """
    if n_trials < 0:
        raise ValueError(f"n_trials must be >= 0, got {n_trials}")
    if total_trials is not None and total_trials < 0:
        raise ValueError(f"total_trials must be >= 0, got {total_trials}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    storage = journal_storage(storage_path)
    study = create_or_load_study(storage, storage_path, study_name, space)
    ran = []
    for _ in range(n_trials):
        with budget_lock(storage_path):
            n = len(study.get_trials(deepcopy=False))
            if total_trials is not None and n >= total_trials:
                break
            # A fresh sampler per trial, seeded by the trial number: reproducible for a sequential run
            # and no two workers replay the same random stream.
            study.sampler = make_sampler(sampler, trial_seed(seed, n), n_startup_trials)
            trial = study.ask()   # the relative (multivariate) TPE sample is drawn here, under the lock
        _run_trial(study, trial, space, objective)
        ran.append(trial.number)
    return ran


def _run_trial(study: optuna.Study, trial: optuna.Trial, space: SearchSpace, objective: Objective) -> None:
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    try:
        cell, edges = space.sample(trial)
        trial.set_user_attr("overrides", {"cell": cell, "edges": edges})
        value = float(objective({"number": trial.number, "cell": cell, "edges": edges}))
    except (KeyboardInterrupt, SystemExit):
        _finish(study, trial, TrialState.FAIL, "interrupted")
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one architecture is data, not fatal
        trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
        _finish(study, trial, TrialState.FAIL, f"{type(e).__name__}: {e}")
        return
    if not math.isfinite(value):
        _finish(study, trial, TrialState.PRUNED, f"non-finite objective: {value}")
        return
    study.tell(trial, value)


def _finish(study, trial, state: TrialState, reason: str) -> None:
    trial.set_user_attr("fail_reason", reason[:1000])
    study.tell(trial, state=state)
