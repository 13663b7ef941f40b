"""Planted exponents are recovered by the weight-diffusion analysis."""
import numpy as np
import pandas as pd
import pytest
import torch

from convrnn.training.dynamics import DistanceTracker, anomalous_diffusion_summary, fit_diffusion_exponent

DIM, STEPS = 2000, 2000


def _distances(path: np.ndarray) -> np.ndarray:
    return np.linalg.norm(path - path[0], axis=1)


def _random_walk(rng):
    return np.cumsum(np.vstack([np.zeros((1, DIM)), rng.normal(size=(STEPS, DIM))]), axis=0)


def _ballistic(rng):
    v = rng.normal(size=DIM)
    return np.arange(STEPS + 1)[:, None] * v + 0.01 * rng.normal(size=(STEPS + 1, DIM))


def _ornstein_uhlenbeck(rng, pull=0.1):
    x = np.empty((STEPS + 1, DIM))
    x[0] = rng.normal(size=DIM) / np.sqrt(2 * pull)  # start in the stationary distribution
    for k in range(STEPS):
        x[k + 1] = (1 - pull) * x[k] + rng.normal(size=DIM)
    return x


@pytest.mark.parametrize(
    "walk, lo, hi, regime",
    [(_random_walk, 0.45, 0.55, "diffusive"), (_ballistic, 0.95, 1.05, "ballistic"), (_ornstein_uhlenbeck, -0.05, 0.3, "sub-diffusive")],
)
def test_planted_exponent_is_recovered(walk, lo, hi, regime):
    d = _distances(walk(np.random.default_rng(0)))
    steps = np.arange(len(d))
    fit = fit_diffusion_exponent(steps, d)
    assert lo < fit["exponent"] < hi, fit
    assert fit["n_points"] == STEPS  # step 0 (distance 0) skipped
    summary = anomalous_diffusion_summary(pd.DataFrame({"step": steps + 500, "steps_since_ref": steps, "distance": d}))
    assert summary["regime"] == regime
    if regime == "sub-diffusive":  # saturation: the late half is flatter than the early half
        assert summary["exponent_late"] < summary["exponent_early"]


def test_prefactor_and_r2_of_exact_power_law():
    s = np.arange(1, 100)
    fit = fit_diffusion_exponent(s, 3.0 * s**0.7)
    assert fit["exponent"] == pytest.approx(0.7) and fit["prefactor"] == pytest.approx(3.0) and fit["r2"] == pytest.approx(1.0)


def test_too_few_points_and_missing_columns_raise():
    with pytest.raises(ValueError, match=">= 2 points"):
        fit_diffusion_exponent([0, 1], [0.0, 1.0])
    with pytest.raises(ValueError, match="distance"):
        anomalous_diffusion_summary(pd.DataFrame({"step": [1], "steps_since_ref": [1]}))


def test_tracker_matches_flattened_norm():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    tracker = DistanceTracker(net.parameters())
    tracker.set_reference()
    before = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    after = torch.nn.utils.parameters_to_vector(net.parameters()).detach()
    assert tracker.distance() == pytest.approx(float((after - before).norm()), rel=1e-6)
