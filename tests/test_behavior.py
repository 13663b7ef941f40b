import numpy as np
import pytest
from scipy.stats import norm

from convrnn.neural import decode_over_time, i1_dprime, ost_consistency, solution_times


def test_solution_times_recover_planted_crossings():
    rng = np.random.default_rng(0)
    times = np.arange(70, 250, 10.0)
    n = 200
    planted = rng.uniform(72, 238, n)
    target = rng.uniform(0.5, 3.0, n)
    slope = rng.uniform(0.02, 0.1, n)
    i1 = target + slope * (times[:, None] - planted) + 0.02 * rng.normal(size=(len(times), n))
    i1[:, :10] = target[:10] - 1.0                            # never reached
    ost = solution_times(i1, target, times)
    assert np.isnan(ost[:10]).all() and np.isfinite(ost[10:]).all()
    assert np.all(np.abs(ost[10:] - planted[10:]) <= 10.0)
    assert np.median(np.abs(ost[10:] - planted[10:])) < 3.0   # interpolation beats the 10 ms grid


def test_solution_times_edge_cases():
    times = np.array([0.0, 10.0, 20.0])
    i1 = np.array([[0.0, 2.0, 0.0], [1.0, 3.0, np.nan], [3.0, 4.0, 5.0]])
    ost = solution_times(i1, np.array([2.0, 1.0, 4.0]), times)
    np.testing.assert_allclose(ost, [15.0, 0.0, 20.0])      # interpolated; first step; NaN step before hit
    with pytest.raises(ValueError, match="i1_model"):
        solution_times(i1[:2], np.zeros(3), times)


def test_solution_times_interpolation_rules():
    # The example of issue 22: I1 1.0, 0.5, 2.0 at 50/60/70 ms, threshold 1.5.
    i1, times = np.array([[1.0], [0.5], [2.0]]), np.array([50.0, 60.0, 70.0])
    assert solution_times(i1, np.array([1.5]), times, rule="previous")[0] == pytest.approx(200 / 3)
    assert solution_times(i1, np.array([1.5]), times, rule="best_below")[0] == pytest.approx(60.0)
    # best_below: the first of equal maxima; NaN bins are skipped; a hit with nothing below keeps its time.
    i1 = np.array([[0.5, np.nan, 2.0], [0.2, 1.0, 3.0], [0.5, 3.0, 1.0], [2.0, 3.0, 1.0]])
    ost = solution_times(i1, np.array([1.5, 2.0, 1.5]), np.array([0.0, 10.0, 20.0, 30.0]), rule="best_below")
    np.testing.assert_allclose(ost, [0.0 + 1.0 / 1.5 * 30.0, 10.0 + 1.0 / 2.0 * 10.0, 0.0])
    with pytest.raises(ValueError, match="rule"):
        solution_times(i1, np.zeros(3), np.arange(4.0), rule="last")


def test_i1_dprime_matches_hand_computation():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.3, 0.6, 0.1], [0.2, 0.2, 0.6]])
    labels = np.array([0, 0, 1, 2])
    d = i1_dprime(p, labels)
    fa = lambda i, c: p[i, c] / (p[i, c] + p[i, labels[i]])
    # image 0 (object 0): distractor 1 -> FA of pair (truth 1, choice 0) = mean over object-1 images
    d01 = norm.ppf(1 - fa(0, 1)) - norm.ppf(fa(2, 0))
    d02 = norm.ppf(1 - fa(0, 2)) - norm.ppf(fa(3, 0))
    assert d[0] == pytest.approx((d01 + d02) / 2)
    d20 = norm.ppf(1 - fa(2, 0)) - norm.ppf((fa(0, 1) + fa(1, 1)) / 2)
    d21 = norm.ppf(1 - fa(2, 2)) - norm.ppf(fa(3, 1))
    assert d[2] == pytest.approx((d20 + d21) / 2)
    assert np.all(np.abs(i1_dprime(np.eye(3)[[0, 1, 2]], np.arange(3))) <= 5)   # clipped, not inf


def test_decoder_information_grows_over_time():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 30)
    means = rng.normal(size=(4, 20))
    gain = np.array([0.0, 0.5, 3.0])                          # class information per step
    feats = gain[:, None, None] * means[labels][None] + rng.normal(size=(3, 120, 20))
    probs = decode_over_time(feats, labels, n_folds=5, C=1.0)
    assert probs.shape == (3, 120, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-9)
    i1 = np.array([np.mean(i1_dprime(p, labels)) for p in probs])
    assert i1[0] < 0.5 and i1[0] < i1[1] < i1[2]


def test_ost_consistency_reports_nans_and_ceiling():
    rng = np.random.default_rng(2)
    target = rng.uniform(80, 200, 300)
    model = target + rng.normal(scale=10, size=300)
    model[:25] = np.nan
    out = ost_consistency(model, target, ceiling=0.79)
    assert out["n_model_nan"] == 25 and out["n_used"] == 275 and out["rho"] > 0.9
    assert out["score"] == pytest.approx(out["rho"] / 0.79)
    halves = (target + rng.normal(scale=20, size=300), target + rng.normal(scale=20, size=300))
    assert 0.8 < ost_consistency(model, target, target_halves=halves)["ceiling"] < 1.0
    null = ost_consistency(rng.permutation(target), target)
    assert abs(null["rho"]) < 0.15


def test_first_informative_step_skips_steps_before_the_image_arrives():
    from convrnn.neural.behavior import first_informative_step

    rng = np.random.default_rng(0)
    feats = np.zeros((6, 20, 4))
    feats[:2] = 0.3                      # blank-driven, identical for every image
    feats[2:] = rng.normal(size=(4, 20, 4))
    assert first_informative_step(feats) == 2
    with pytest.raises(ValueError, match="never differ"):
        first_informative_step(np.ones((3, 5, 2)))
