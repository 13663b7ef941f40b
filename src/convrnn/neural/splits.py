"""Train/test image splits for the two conventions.

All return ``list[(train_idx, test_idx)]`` of integer index arrays into the stimulus axis.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

BRAINSCORE_RANDOM_STATE = 1     # Brain-Score's Split.Defaults.random_state: fixed, whatever the pipeline seed
NAYEBI_START_SEED = 0           # brainmodel_utils generate_train_test_splits(start_seed=0)


def stratified_splits(groups, n_splits: int = 10, train_size: float = 0.9, seed: int = BRAINSCORE_RANDOM_STATE):
    """``StratifiedShuffleSplit`` stratified by ``groups`` (one object label per stimulus), in the given order."""
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be 1-D (one object label per stimulus), got shape {groups.shape}")
    _check(n_splits, train_size)
    splitter = StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(groups)), groups)]


def brainscore_splits(stimulus_ids, groups, n_splits: int = 10, train_size: float = 0.9):
    """Brain-Score's ``pls`` splits: StratifiedShuffleSplit by object, ``random_state=1``, drawn over the stimuli
    in the order of its trial-averaged target assembly (``average_repetition`` sorts presentations by
    stimulus_id); returned as indices into the given order."""
    stimulus_ids, groups = np.asarray(stimulus_ids), np.asarray(groups)
    order = np.argsort(stimulus_ids, kind="stable")
    return [(np.sort(order[tr]), np.sort(order[te]))
            for tr, te in stratified_splits(groups[order], n_splits, train_size)]


def shuffle_splits(n: int, n_splits: int = 10, train_size: float = 0.9, seed: int = BRAINSCORE_RANDOM_STATE):
    """Brain-Score's unstratified split (``ShuffleSplit``), used e.g. by the OST metric."""
    _check(n_splits, train_size)
    splitter = ShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
    return list(splitter.split(np.zeros(n)))


def ost_splits(stimulus_ids, n_splits: int = 10, test_size: float = 0.1, seed: int = BRAINSCORE_RANDOM_STATE):
    """Brain-Score's OST splits: ``ShuffleSplit(test_size=0.1, random_state=1)`` with no stratification, drawn over
    the stimuli sorted by stimulus_id (the Kar2019 benchmark keeps its assembly in ``np.unique`` order). Indices
    point into the given order but each array is listed in stimulus_id order, the order in which Brain-Score
    hands images to its classifier (its batches depend on it)."""
    stimulus_ids = np.asarray(stimulus_ids)
    if stimulus_ids.ndim != 1 or len(np.unique(stimulus_ids)) != len(stimulus_ids):
        raise ValueError(f"stimulus_ids must be 1-D and unique, got shape {stimulus_ids.shape}")
    if n_splits < 1 or not 0.0 < test_size < 1.0:
        raise ValueError(f"need n_splits >= 1 and test_size in (0, 1), got {n_splits}, {test_size}")
    order = np.argsort(stimulus_ids, kind="stable")
    splitter = ShuffleSplit(n_splits=n_splits, test_size=test_size, train_size=None, random_state=seed)
    return [(order[np.sort(tr)], order[np.sort(te)]) for tr, te in splitter.split(np.zeros(len(order)))]


def random_splits(n: int, n_splits: int = 5, train_size: float = 0.8, seed: int = NAYEBI_START_SEED):
    """brainmodel_utils ``generate_train_test_splits``: split i permutes the stimuli with the legacy
    ``RandomState(seed + i)`` and trains on the first ceil(train_size * n)."""
    _check(n_splits, train_size)
    n_train = int(np.ceil(train_size * n))
    out = []
    for i in range(n_splits):
        perm = np.random.RandomState(seed + i).permutation(n)
        out.append((np.sort(perm[:n_train]), np.sort(perm[n_train:])))
    return out


def _check(n_splits, train_size):
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    if not 0.0 < train_size < 1.0:
        raise ValueError(f"train_size must be in (0, 1), got {train_size}")
