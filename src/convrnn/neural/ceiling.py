"""Split-half reliability of trial-averaged responses (the noise ceiling).

Brain-Score ``InternalConsistency``: 10 random halves of the repetition indices
(``ShuffleSplit(train_size=0.5, random_state=1)``), average each half, Pearson r per site across
stimuli, Spearman-Brown with n=2, mean over splits. The raw half-vs-half r is kept as well
because the Nayebi convention applies Spearman-Brown itself inside its denominator.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import ShuffleSplit

from .stats import pearson, spearman_brown


@dataclass
class SplitHalf:
    r: np.ndarray  # (n_splits, S[, B]) raw Pearson r between the two half-averages

    @property
    def corrected(self) -> np.ndarray:
        """(n_splits, S[, B]) Spearman-Brown corrected r per split."""
        return spearman_brown(self.r)

    @property
    def ceiling(self) -> np.ndarray:
        """(S[, B]) Brain-Score ceiling per site: mean over splits of SB(r)."""
        return np.nanmean(self.corrected, axis=0)

    @property
    def r_half(self) -> np.ndarray:
        """(S[, B]) mean raw half-vs-half r."""
        return np.nanmean(self.r, axis=0)


def half_indices(n_reps: int, n_splits: int = 10, seed: int = 1):
    """Pairs of repetition-index halves, as Brain-Score draws them."""
    if n_reps < 2:
        raise ValueError(f"split-half reliability needs >= 2 repetitions, got {n_reps}")
    splitter = ShuffleSplit(n_splits=n_splits, train_size=0.5, test_size=None, random_state=seed)
    return list(splitter.split(np.zeros(n_reps)))


def half_means(trials: np.ndarray, halves):
    """Yield (mean over half 1, mean over half 2) of ``trials`` (R, ...) for each pair of halves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # stimuli with no trial in a half -> NaN
        for a, b in halves:
            yield np.nanmean(trials[a], axis=0), np.nanmean(trials[b], axis=0)


def split_half_reliability(trials: np.ndarray, n_splits: int = 10, seed: int = 1) -> SplitHalf:
    """Reliability per site (and bin) of ``trials`` (R, N, S[, B]); NaN trials are ignored."""
    trials = np.asarray(trials)
    if trials.ndim not in (3, 4):
        raise ValueError(f"trials must be (R, N, S[, B]), got shape {trials.shape}")
    rs = [pearson(h1, h2, axis=0) for h1, h2 in half_means(trials, half_indices(trials.shape[0], n_splits, seed))]
    return SplitHalf(np.stack(rs))
