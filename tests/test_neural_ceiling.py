import numpy as np

from convrnn.neural import split_half_reliability, spearman_brown
from convrnn.neural.ceiling import half_indices


def test_ceiling_recovers_planted_reliability():
    rng = np.random.default_rng(0)
    n_rep, n, s = 20, 2000, 12
    noise_sd = np.linspace(0.5, 4.0, s)                       # signal variance 1, trial noise variance sd^2
    signal = rng.normal(size=(n, s))
    trials = signal[None] + rng.normal(size=(n_rep, n, s)) * noise_sd
    rel = split_half_reliability(trials, n_splits=10, seed=1)
    expect_half = 1 / (1 + noise_sd**2 / (n_rep / 2))        # r between two means of R/2 trials
    expect_full = 1 / (1 + noise_sd**2 / n_rep)               # reliability of the R-trial mean
    np.testing.assert_allclose(rel.r_half, expect_half, atol=0.05)
    np.testing.assert_allclose(rel.ceiling, expect_full, atol=0.05)
    np.testing.assert_allclose(spearman_brown(expect_half), expect_full, rtol=1e-12)
    assert rel.r.shape == (10, s)


def test_ceiling_with_time_bins_and_missing_trials():
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(300, 4, 3)) * np.array([1.0, 0.0, 1.0])   # bin 1 carries no signal
    trials = signal[None] + rng.normal(size=(10, 300, 4, 3))
    trials[6:, :50] = np.nan                                  # unequal repetition counts
    rel = split_half_reliability(trials)
    assert rel.ceiling.shape == (4, 3)
    assert np.all(np.abs(rel.ceiling[:, 1]) < 0.25) and np.all(rel.ceiling[:, [0, 2]] > 0.8)


def test_halves_match_brainscore_splitter():
    halves = half_indices(10, n_splits=3, seed=1)
    assert len(halves) == 3 and all(len(a) == 5 and len(b) == 5 and not set(a) & set(b) for a, b in halves)
