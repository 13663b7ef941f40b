"""Object solution times: agreement with Brain-Score's own OSTCorrelation and TF classifier, and the NC 2022 form.

tests/golden/make_golden.py ran brainscore_vision 2.4.2 (with tensorflow-cpu 2.21) on tests/golden/ost_inputs.npz and
stored what it computed in ost_brainscore.npz: once with its classifier replaced by one returning given
probabilities, once with its real TFProbabilitiesClassifier.
"""
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import ShuffleSplit

from convrnn.neural.behavior import solution_times
from convrnn.neural.ost import OSTResult, object_solution_times
from convrnn.neural.ost_classifier import (LinearSVMClassifier, LogisticClassifier, TFSoftmaxClassifier,
                                           make_classifier)
from convrnn.neural.splits import ost_splits
from convrnn.neural.tf_random import variance_scaling_kernel

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def golden():
    return dict(np.load(GOLDEN / "ost_inputs.npz")), dict(np.load(GOLDEN / "ost_brainscore.npz"))


def _targets(inp):
    return inp["labels"], inp["stimulus_id"], inp["target_i1"], inp["target_ost"], inp["time_bin_start_ms"]


def test_brainscore_convention_matches_ostcorrelation_after_the_classifier(golden):
    inp, gold = golden
    given = inp["probabilities"]
    t, n = given.shape[:2]
    # The features only say which (bin, image) a row is; the decoder answers with the given probabilities,
    # as the stub the golden script put in place of Brain-Score's classifier did.
    encoded = np.stack(np.broadcast_arrays(np.arange(t)[:, None], np.arange(n)[None]), -1).astype(float)

    def given_probabilities(train_x, train_y, test_x):
        return given[test_x[..., 0].astype(int), test_x[..., 1].astype(int)]

    res = object_solution_times(encoded, *_targets(inp), convention="brainscore", classifier=given_probabilities)
    np.testing.assert_allclose(res.rho_split, gold["given/rho_split"], rtol=0, atol=1e-9)
    assert res.rho == pytest.approx(gold["given/score"], abs=1e-9)
    assert res.rho_sem == pytest.approx(gold["given/error"], abs=1e-9)
    np.testing.assert_allclose(res.ost_split, gold["given/ost_split"], rtol=0, atol=1e-9)   # NaN where NaN
    # Brain-Score stops fitting once a split's test images are all solved: its I1 is NaN for later bins.
    computed = np.isfinite(gold["given/i1_split"])
    np.testing.assert_allclose(res.i1_split[computed], gold["given/i1_split"][computed], rtol=0, atol=1e-9)
    # The golden exercises the edge cases: an early stop, NaN thresholds, d' clipped at 5, an all-zero image.
    assert (np.broadcast_to(res.test[:, None], computed.shape) & ~computed).any()
    assert np.isnan(inp["target_i1"]).any() and np.isclose(res.i1_split, 5.0).any()
    assert np.isclose(res.i1_split[:, :, 1][res.test[:, 1]], -5.0).all()
    assert res.test.sum(1).tolist() == [24] * 10 and 0.2 < res.rho < 0.6


def test_brainscore_interpolation_is_the_closed_form_of_interp1d_fsolve():
    from scipy.interpolate import interp1d
    from scipy.optimize import fsolve

    rng = np.random.default_rng(3)
    times = np.arange(70.0, 250.0, 10.0)
    i1 = np.cumsum(rng.normal(0.1, 0.6, size=(len(times), 400)), axis=0)     # non-monotone paths
    i1[rng.random(i1.shape) < 0.05] = np.nan
    threshold = rng.uniform(0.0, 2.5, 400)
    ours = solution_times(i1, threshold, times, rule="best_below")
    # Reference: the sequential rule written out, solved numerically as Brain-Score does.
    ref = np.full(400, np.nan)
    for n in range(400):
        best = None
        for t, value in zip(times, i1[:, n]):
            if value >= threshold[n]:
                if best is None:
                    ref[n] = t
                else:
                    line = interp1d([best[0], t], [best[1], value], fill_value="extrapolate")
                    ref[n] = fsolve(lambda x: line(x) - threshold[n], x0=t)[0]
                break
            if value < threshold[n] and (best is None or best[1] < value):
                best = (t, value)
    assert np.isfinite(ref).sum() > 300 and (np.diff(i1, axis=0) < 0).any()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_tf_initial_kernel_reproduced_to_float32_rounding(golden):
    _, gold = golden
    differ = []
    for key in [k for k in gold if k.startswith("tf/kernel_")]:
        tf_kernel = gold[key]
        ours = variance_scaling_kernel(*tf_kernel.shape)
        # One float32 ulp (1.2e-7 relative) in the standard draw, rounded again once scaled; a different
        # accept/reject decision would shift every later value of its group instead.
        np.testing.assert_allclose(ours, tf_kernel, rtol=4e-7, atol=0)
        differ.append(ours != tf_kernel)
    assert np.mean(np.concatenate([d.ravel() for d in differ])) < 0.03


def test_torch_port_reproduces_brainscore_tf_classifier(golden):
    """Same probabilities as TensorFlow to 2e-6 (measured 3e-7: float32 sums in another order over 160 Adam steps;
    a different initial draw, batch order or Adam form moves them by 1e-3 or more), hence the same OSTs to 1e-3 ms
    (measured 1.2e-5) and the same per-split rho."""
    inp, gold = golden
    seen = []
    port = TFSoftmaxClassifier()

    def recording(train_x, train_y, test_x):
        seen.append(port(train_x, train_y, test_x))
        return seen[-1]

    res = object_solution_times(inp["features"], *_targets(inp), classifier=recording)
    for s, (_, test) in enumerate(ost_splits(inp["stimulus_id"])):
        np.testing.assert_allclose(seen[s], gold["tf/probabilities"][s][:, test], rtol=0, atol=2e-6)
    np.testing.assert_allclose(res.ost_split, gold["tf/ost_split"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(res.rho_split, gold["tf/rho_split"], rtol=0, atol=1e-9)
    assert res.rho == pytest.approx(gold["tf/score"], abs=1e-9)
    # A converged logistic decoder (the sklearn option) is a different decoder: its probabilities differ.
    other = LogisticClassifier()(inp["features"][:, :200], inp["labels"][:200], inp["features"][:, 200:])
    assert np.abs(other - TFSoftmaxClassifier()(inp["features"][:, :200], inp["labels"][:200],
                                                inp["features"][:, 200:])).max() > 0.05


def test_torch_port_stops_each_problem_on_its_own():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    x = rng.normal(size=(2, 90, 5)).astype(np.float32)
    x[1] += 20.0 * np.eye(3)[y][:, [0, 1, 2, 0, 1]]        # separable: without decay its loss reaches tol
    fit = dict(lr=0.5, tol=1e-3, weight_decay=0.0)
    both = TFSoftmaxClassifier(**fit)(x[:, :80], y[:80], x[:, 80:])
    alone = [TFSoftmaxClassifier(**fit)(x[b:b + 1, :80], y[:80], x[b:b + 1, 80:])[0] for b in (0, 1)]
    longer = TFSoftmaxClassifier(**{**fit, "tol": 0.0})(x[1:, :80], y[:80], x[1:, 80:])[0]
    np.testing.assert_allclose(both[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(both[1], alone[1], atol=1e-6)
    assert np.abs(np.log(both[1]) - np.log(longer)).max() > 1.0      # problem 1 did stop early
    np.testing.assert_allclose(both.sum(-1), 1.0, atol=1e-6)


def test_ost_splits_are_brainscores_shufflesplit_over_sorted_ids():
    rng = np.random.default_rng(1)
    ids = np.array([f"{v:06x}" for v in rng.choice(16 ** 6, 30, replace=False)])
    splits = ost_splits(ids)
    order = np.argsort(ids)
    ref = list(ShuffleSplit(10, test_size=0.1, random_state=1).split(np.zeros(30)))
    for (tr, te), (rtr, rte) in zip(splits, ref):
        assert set(ids[te]) == set(ids[order[rte]]) and set(ids[tr]) == set(ids[order[rtr]])
        assert list(ids[tr]) == sorted(ids[tr]) and list(ids[te]) == sorted(ids[te])   # classifier order
    assert [len(te) for _, te in splits] == [3] * 10
    with pytest.raises(ValueError, match="unique"):
        ost_splits(np.array(["a", "a", "b"]))


def _planted(n=160, k=4, t=6, d=30, seed=0):
    """Features whose object information grows over bins, faster for easier images; IT OST follows difficulty."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % k)
    ease = rng.uniform(0.1, 2.0, n)
    gain = np.linspace(0.0, 2.0, t)[:, None, None]
    feats = gain * ease[None, :, None] * rng.normal(size=(k, d))[labels][None] + 0.5 * rng.normal(size=(t, n, d))
    ids = np.array([f"im{v:04d}" for v in rng.permutation(n)])
    target_ost = 220.0 - 90.0 * ease + rng.normal(scale=10.0, size=n)
    target_ost[:6] = np.nan
    return feats.astype(np.float32), labels, ids, np.full(n, 1.0), target_ost, 70.0 + 10.0 * np.arange(t)


def test_nayebi2022_convention_averages_each_image_over_its_test_splits():
    feats, labels, ids, target_i1, target_ost, bins = _planted()
    res = object_solution_times(feats, labels, ids, target_i1, target_ost, bins, convention="nayebi2022",
                                classifier=LinearSVMClassifier())
    assert res.convention == "nayebi2022" and res.rho_kind.startswith("pooled")
    # Per split: interpolation from the bin before the hit, on the I1 of the split's test images.
    for s in range(10):
        tested = res.test[s]
        expect = solution_times(res.i1_split[s][:, tested], target_i1[tested], bins, rule="previous")
        np.testing.assert_array_equal(res.ost_split[s, tested], expect)
    # Per image: mean and s.e.m. over the splits where it was a test image and got solved.
    twice = np.flatnonzero(np.isfinite(res.ost_split).sum(0) >= 2)[0]
    values = res.ost_split[:, twice][np.isfinite(res.ost_split[:, twice])]
    assert res.ost_mean[twice] == pytest.approx(values.mean())
    assert res.ost_sem[twice] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)))
    assert np.array_equal(res.n_test, res.test.sum(0)) and (res.n_test == 0).any()
    assert np.isnan(res.ost_mean[res.n_test == 0]).all()
    # Headline: rho over the images solved by both, and the share of IT-solved (tested) images the model solves.
    both = np.isfinite(res.ost_mean) & np.isfinite(target_ost)
    assert res.n_both == both.sum() and res.n_target_solved == (np.isfinite(target_ost) & (res.n_test > 0)).sum()
    assert res.fraction_it_solved == pytest.approx(res.n_both / res.n_target_solved)
    assert res.rho == res.rho_pooled and res.rho > 0.3       # harder images are solved later by both
    table = res.per_image()
    assert list(table.columns[:3]) == ["stimulus_id", "n_test", "n_solved"] and len(table) == len(ids)
    assert len(res.per_split()) == res.test.sum()


def test_result_from_splits_by_hand():
    test = np.array([[True, True, False], [True, False, True]])
    ost = np.array([[100.0, np.nan, np.nan], [120.0, np.nan, 90.0]])
    res = OSTResult.from_splits("brainscore", np.array(["a", "b", "c"]), np.array([70.0]),
                                np.array([150.0, 80.0, np.nan]), test, np.zeros((2, 1, 3)), ost,
                                np.array([0.5, np.nan]))
    assert res.rho == 0.5 and res.rho_sem == pytest.approx(0.0)       # NaN split skipped, as xarray does
    np.testing.assert_allclose(res.ost_mean, [110.0, np.nan, 90.0])
    np.testing.assert_allclose(res.ost_sem, [10.0, np.nan, np.nan])   # std(ddof=1) / sqrt(2) of 100, 120
    assert res.n_test.tolist() == [2, 1, 1] and res.n_solved.tolist() == [2, 0, 1]
    assert (res.n_target_solved, res.n_both, res.fraction_it_solved) == (2, 1, 0.5)


def test_errors_name_the_problem():
    feats, labels, ids, target_i1, target_ost, bins = _planted(n=40, t=2)
    with pytest.raises(ValueError, match="behavior.convention"):
        object_solution_times(feats, labels, ids, target_i1, target_ost, bins, convention="kar")
    with pytest.raises(ValueError, match="features must be"):
        object_solution_times(feats[:1], labels, ids, target_i1, target_ost, bins)
    with pytest.raises(ValueError, match="every class"):
        TFSoftmaxClassifier()(feats[:, labels != 2], labels[labels != 2], feats[:, :3])
    with pytest.raises(ValueError, match="behavior.classifier"):
        make_classifier("lda")
    assert isinstance(make_classifier("sklearn", weight_decay=1.0), LogisticClassifier)
