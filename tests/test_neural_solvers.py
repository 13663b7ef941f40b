import warnings

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge

from convrnn.neural import pearson, pls_cv, ridge_cv, ridge_path, solvers, stratified_splits

torch.set_num_threads(1)


def _data(n=120, p=200, q=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 3.0                        # non-zero mean: the intercept must be handled
    Y = 0.1 * X @ rng.normal(size=(p, q)) + rng.normal(size=(n, q)) + 5.0
    return X, Y


@pytest.mark.parametrize("p", [300, 40])                    # dual (p > n) and primal (p <= n) paths
def test_batched_ridge_equals_sklearn_per_alpha(p):
    X, Y = _data(p=p)
    train, test = np.arange(100), np.arange(100, 120)
    alphas = [1e-2, 1.0, 1e2, 1e4]
    pred = ridge_path(X, Y, train, test, alphas)
    for a, got in zip(alphas, pred):
        ref = Ridge(alpha=a).fit(X[train], Y[train]).predict(X[test])
        np.testing.assert_allclose(got, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("selection", ["gcv", "cv"])
def test_ridge_cv_picks_alpha_per_target_and_predicts_with_it(selection):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 80))
    signal = X @ rng.normal(size=80) / 9
    Y = np.stack([signal + 0.05 * rng.normal(size=150), 0.05 * signal + 3 * rng.normal(size=150)], 1)
    splits = stratified_splits(np.repeat(np.arange(15), 10), 3)
    alphas = np.logspace(-3, 5, 9)
    fit = ridge_cv(X, Y, splits, alphas, alpha_selection=selection)
    assert fit.alphas.shape == (3, 2)
    assert np.all(fit.alphas[:, 1] > 10 * fit.alphas[:, 0])  # the noisy target needs more shrinkage
    for (tr, te), pred, al in zip(splits, fit.predictions, fit.alphas):
        for q in range(2):
            ref = Ridge(alpha=al[q]).fit(X[tr], Y[tr, q]).predict(X[te])
            np.testing.assert_allclose(pred[:, q], ref, atol=1e-8)


@pytest.mark.parametrize("p, batch_bytes, method", [(150, 2**30, "auto"), (30, 2**30, "kernel"), (30, 1, "kernel"),
                                                    (30, 2**30, "auto"), (30, 1, "covariance"), (150, 1, "covariance")])
def test_batched_pls_equals_sklearn_plsregression(p, batch_bytes, method):
    # auto: kernel for p=150 > n_train, covariance for p=30; kernel with p=30 goes through X; batch_bytes=1: per fold
    X, Y0 = _data(n=100, p=p, q=5, seed=2)
    Y = np.stack([Y0, Y0[:, ::-1] ** 2 / 10])                # two independent target blocks (e.g. bins)
    splits = stratified_splits(np.repeat(np.arange(10), 10), 3)
    preds = pls_cv(X, Y, splits, n_components=25, max_batch_bytes=batch_bytes, method=method)
    for (tr, te), pred in zip(splits, preds):
        assert pred.shape == (2, len(te), 5)
        for g in range(2):
            ref = PLSRegression(n_components=25, scale=False).fit(X[tr], Y[g, tr]).predict(X[te])
            np.testing.assert_allclose(pred[g], ref, atol=1e-8 * np.abs(ref).max())
    single = pls_cv(X, Y0[None, :, :1], splits[:1], n_components=3, method=method)[0][0]   # PLS1 (one target)
    ref = PLSRegression(3, scale=False).fit(X[splits[0][0]], Y0[splits[0][0], :1]).predict(X[splits[0][1]])
    np.testing.assert_allclose(single, ref.reshape(single.shape), atol=1e-8 * np.abs(ref).max())


@pytest.mark.parametrize("p, batch_bytes, method", [(30, 2**30, "covariance"), (30, 1, "covariance"),
                                                    (150, 2**30, "kernel"), (30, 2**30, "kernel"), (30, 2**30, "auto")])
def test_pls_with_a_feature_matrix_per_problem_equals_sklearn_per_problem(p, batch_bytes, method):
    # (G, N, P) features, e.g. a layer's model steps each paired with its bin; batch_bytes=1: one problem per call
    G = 3
    data = [_data(n=100, p=p, q=4, seed=10 + g) for g in range(G)]
    X, Y = np.stack([d[0] for d in data]), np.stack([d[1] for d in data])
    splits = stratified_splits(np.repeat(np.arange(10), 10), 3)
    preds = pls_cv(X, Y, splits, n_components=12, max_batch_bytes=batch_bytes, method=method)
    for (tr, te), pred in zip(splits, preds):
        assert pred.shape == (G, len(te), 4)
        for g in range(G):
            ref = PLSRegression(n_components=12, scale=False).fit(X[g, tr], Y[g, tr]).predict(X[g, te])
            np.testing.assert_allclose(pred[g], ref, atol=1e-8 * np.abs(ref).max())
    with pytest.raises(ValueError, match="one feature matrix per problem"):
        pls_cv(X[:2], Y, splits, n_components=3)


@pytest.mark.parametrize("method", ["auto", "covariance", "kernel"])
def test_pls_splits_inside_a_subset_of_the_rows_equal_sklearn(method):
    """Folds nested in a training set (the layer selection) leave rows out of both train and test: the covariance
    form, which takes a split's statistics as all rows' minus its test rows', must not be used for them."""
    X, Y = _data(n=150, p=20, q=4, seed=3)
    inner = [(np.arange(0, 90), np.arange(90, 120)), (np.arange(30, 120), np.arange(0, 30))]   # rows 120+ unused
    whole = [(np.arange(30, 150), np.arange(0, 30))]                                          # a partition
    preds = pls_cv(X, Y[None], inner + whole, n_components=8, method=method)
    for (tr, te), pred in zip(inner + whole, preds):
        ref = PLSRegression(n_components=8, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        np.testing.assert_allclose(pred[0], ref, atol=1e-8 * np.abs(ref).max())


def test_constant_features_predict_the_training_mean_and_r_is_undefined_as_in_scipy():
    # e.g. conv1 once the image is off (gray input) or an upper layer before the image reaches it
    X, Y = _data(n=100, p=30, q=4, seed=4)
    Xs = np.stack([X, np.full_like(X, 0.25), X[:, ::-1]])
    Ys = np.stack([Y, Y, Y])
    splits = stratified_splits(np.repeat(np.arange(10), 10), 2)
    for (tr, te), pred in zip(splits, pls_cv(Xs, Ys, splits, n_components=5)):
        assert np.ptp(pred[1], axis=0).max() == 0                           # one value per site
        np.testing.assert_allclose(pred[1], np.broadcast_to(Y[tr].mean(0), pred[1].shape))
        for g in (0, 2):                                                    # the other problems are untouched
            want = PLSRegression(n_components=5, scale=False).fit(Xs[g, tr], Y[tr]).predict(Xs[g, te])
            np.testing.assert_allclose(pred[g], want, atol=1e-8 * np.abs(want).max())
        r = pearson(pred[1] + np.float64(0.1) * 3, Y[te], axis=0)            # the offset's rounding must not leak
        assert np.isnan(r).all()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert np.isnan(pearsonr(pred[1][:, 0], Y[te, 0])[0])


def _brainscore_like(n=400, p=60, s=12, seed=3):
    """Rectified low-rank float32 features (as extracted), responses a noisy low-rank read-out, n / 10 objects."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 15)) * np.arange(1, 16) ** -0.7
    X = np.maximum(latent @ rng.normal(size=(15, p)) + 0.5 * rng.normal(size=(n, p)), 0).astype(np.float32)
    Y = (X - X.mean(0)) @ rng.normal(size=(p, 4)) @ rng.normal(size=(4, s)) / p + rng.normal(size=(n, s))
    return X, Y, stratified_splits(np.arange(n) % (n // 10), 10, train_size=0.9, seed=1)


def test_covariance_pls_per_site_r_equals_sklearn_as_brainscore_calls_it(monkeypatch):
    """Brain-Score's pls_regression: PLSRegression(25, scale=False) per 90/10 split, r per site on the test images."""
    X, Y, splits = _brainscore_like()                        # n_train = 360 >= 60 features > 25 components, S = 12
    monkeypatch.setattr(solvers, "_kernel_pls", None)       # the covariance path alone must carry this problem
    preds = pls_cv(X, Y[None], splits, n_components=25, method="covariance")
    for (tr, te), pred in zip(splits, preds):
        ref = PLSRegression(n_components=25, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        r_ref = np.array([pearsonr(ref[:, s], Y[te, s])[0] for s in range(Y.shape[1])])
        np.testing.assert_allclose(pearson(pred[0], Y[te], axis=0), r_ref, rtol=0, atol=1e-4)
        np.testing.assert_allclose(pred[0], ref, rtol=0, atol=1e-5 * np.abs(ref).max())   # float32 test features


def test_covariance_pls_vanishing_target_falls_back_to_sklearns_column_rule(monkeypatch):
    X, Y, splits = _brainscore_like(n=200, p=40, s=4)
    Y[:, 1] = 7.0                                            # a constant site: sklearn zeroes its residual column
    Y[:, 2] = X[:, :3].astype(np.float64) @ [1.0, -2.0, 0.5]   # fitted exactly by the first components
    calls = []
    kernel = solvers._kernel_pls
    monkeypatch.setattr(solvers, "_kernel_pls", lambda *a: calls.append(1) or kernel(*a))
    preds = pls_cv(X, Y[None], splits[:3], n_components=10, method="covariance")
    assert calls                                             # these splits were re-solved in kernel form
    for (tr, te), pred in zip(splits[:3], preds):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = PLSRegression(n_components=10, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        np.testing.assert_allclose(pred[0], ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_solver_errors():
    X, Y = _data(n=30, p=10)
    with pytest.raises(ValueError, match="n_components"):
        pls_cv(X, Y, [(np.arange(20), np.arange(20, 30))], n_components=25)
    with pytest.raises(ValueError, match="method"):
        pls_cv(X, Y, [(np.arange(20), np.arange(20, 30))], n_components=2, method="svd")
    with pytest.raises(ValueError, match="alpha_selection"):
        ridge_cv(X, Y, [(np.arange(20), np.arange(20, 30))], alpha_selection="loo")
