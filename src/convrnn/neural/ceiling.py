"""Split-half reliability of trial-averaged responses: Brain-Score's ceiling and Nayebi's trial halves.

Brain-Score ``internal_consistency``: random halves of the repetition labels (``ShuffleSplit(train_size=0.5,
random_state=1)`` over the sorted unique repetitions), average each half (NaN trials skipped), Pearson r per site
across stimuli (NaN for a site with a NaN half mean), Spearman-Brown with n=2. Per site: mean over the half splits;
per region: mean over the splits of the median over sites (see ``scoring.brainscore_aggregate``).

brainmodel_utils ``get_splithalves``: for seed 1234, 1235, ... shuffle the repetition indices with the legacy
``RandomState(seed)``; the first R // 2 form half 1, the rest half 2.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import ShuffleSplit

from .splits import BRAINSCORE_RANDOM_STATE
from .stats import pearson, spearman_brown

NAYEBI_HALF_SEED = 1234     # brainmodel_utils get_linregress_consistency(start_seed=1234)


@dataclass
class SplitHalf:
    r: np.ndarray  # (n_splits, S[, B]) raw Pearson r between the two half-averages

    @property
    def corrected(self) -> np.ndarray:
        """(n_splits, S[, B]) Spearman-Brown corrected r per split."""
        return spearman_brown(self.r)

    @property
    def ceiling(self) -> np.ndarray:
        """(S[, B]) ceiling per site: mean over splits of SB(r)."""
        return np.nanmean(self.corrected, axis=0)

    @property
    def r_half(self) -> np.ndarray:
        """(S[, B]) mean raw half-vs-half r."""
        return np.nanmean(self.r, axis=0)


def half_indices(n_reps: int, n_splits: int = 10, seed: int = BRAINSCORE_RANDOM_STATE):
    """Pairs of repetition-index halves, as Brain-Score draws them."""
    if n_reps < 2:
        raise ValueError(f"split-half reliability needs >= 2 repetitions, got {n_reps}")
    splitter = ShuffleSplit(n_splits=n_splits, train_size=0.5, test_size=None, random_state=seed)
    return list(splitter.split(np.zeros(n_reps)))


def nayebi_half_indices(n_reps: int, n_splits: int = 10, start_seed: int = NAYEBI_HALF_SEED):
    """Pairs of repetition-index halves, as brainmodel_utils draws them (one legacy RandomState per seed)."""
    if n_reps < 2:
        raise ValueError(f"split-half reliability needs >= 2 repetitions, got {n_reps}")
    out = []
    for seed in range(start_seed, start_seed + n_splits):
        idx = list(range(n_reps))
        np.random.RandomState(seed).shuffle(idx)
        out.append((np.array(idx[:n_reps // 2]), np.array(idx[n_reps // 2:])))
    return out


def half_means(trials: np.ndarray, halves):
    """Yield (mean over half 1, mean over half 2) of ``trials`` (R, ...) for each pair of halves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # stimuli with no trial in a half -> NaN
        for a, b in halves:
            yield np.nanmean(trials[a], axis=0), np.nanmean(trials[b], axis=0)


def split_half_reliability(trials: np.ndarray, n_splits: int = 10, seed: int = BRAINSCORE_RANDOM_STATE) -> SplitHalf:
    """Reliability per site (and bin) of ``trials`` (R, N, S[, B]); NaN trials are ignored.

    As in Brain-Score (scipy's pearsonr on the half means), a site whose half mean is NaN for some stimulus (no
    trial of it in that half) gets NaN for that split; per site the mean and per region the median skip it.
    """
    trials = np.asarray(trials)
    if trials.ndim not in (3, 4):
        raise ValueError(f"trials must be (R, N, S[, B]), got shape {trials.shape}")
    rs = [np.where(np.isfinite(h1).all(0) & np.isfinite(h2).all(0), pearson(h1, h2, axis=0), np.nan)
          for h1, h2 in half_means(trials, half_indices(trials.shape[0], n_splits, seed))]
    return SplitHalf(np.stack(rs))
