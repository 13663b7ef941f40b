"""Train/test image splits for the two conventions.

Both return ``list[(train_idx, test_idx)]`` of integer index arrays into the stimulus axis.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit


def stratified_splits(groups, n_splits: int = 10, train_size: float = 0.9, seed: int = 1):
    """Brain-Score's split: ``StratifiedShuffleSplit`` stratified by object, ``random_state=1``.

    ``groups`` is one label per stimulus (the object name). ``groups=None`` is not allowed
    here; use :func:`shuffle_splits` for unstratified Brain-Score splits.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be 1-D (one object label per stimulus), got shape {groups.shape}")
    _check(n_splits, train_size)
    splitter = StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(groups)), groups)]


def shuffle_splits(n: int, n_splits: int = 10, train_size: float = 0.9, seed: int = 1):
    """Brain-Score's unstratified split (``ShuffleSplit``), used e.g. by the OST metric."""
    _check(n_splits, train_size)
    splitter = ShuffleSplit(n_splits=n_splits, train_size=train_size, test_size=None, random_state=seed)
    return list(splitter.split(np.zeros(n)))


def random_splits(n: int, n_splits: int = 5, train_size: float = 0.8, seed: int = 0):
    """brainmodel_utils style: an independent random permutation per split, seeds ``seed + i``.

    Same scheme as ``generate_train_test_splits(num_stim, num_splits=5, train_frac=0.8, start_seed=0)``;
    the exact permutations differ (numpy Generator, not the legacy RandomState).
    """
    _check(n_splits, train_size)
    n_train = int(round(train_size * n))
    out = []
    for i in range(n_splits):
        perm = np.random.default_rng(seed + i).permutation(n)
        out.append((np.sort(perm[:n_train]), np.sort(perm[n_train:])))
    return out


def _check(n_splits, train_size):
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    if not 0.0 < train_size < 1.0:
        raise ValueError(f"train_size must be in (0, 1), got {train_size}")
