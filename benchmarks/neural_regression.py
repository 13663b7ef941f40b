"""Batched torch PLS vs sklearn PLSRegression(25, scale=False) as Brain-Score calls it, per split and time bin.

Brain-Score's ``pls_regression`` fits ``PLSRegression(n_components=25, scale=False)`` on the training images of each
of 10 stratified 90/10 splits (one fit per time bin), predicts the test images and correlates prediction and
response per site with ``scipy.stats.pearsonr``. This script times exactly that against ``pls_cv`` (default:
covariance form; ``kernel`` = the previous default, kept for reference) plus the vectorised Pearson r, on the same
synthetic arrays and splits, and reports the largest |r_ours - r_sklearn| over every split, bin and site.

Shapes (``--shape``, several allowed):
  paper   3200 images x 1000 features x 168 sites (MajajHong2015 IT), 64 objects, 1 bin per fit
  demo    320 images x 64 PCA features x 32 sites x 20 bins, 32 objects (config/config.yaml's IT region)
  custom  --n-images --n-features --n-sites --n-bins --n-objects

Synthetic features are a rectified low-rank (decaying spectrum) signal plus noise, stored as float32 like extracted
features; responses are a low-rank linear read-out of the centred features plus noise. ``--sklearn-splits k`` times
sklearn on the first k splits only (per-split time measured on those, total extrapolated; the r difference is then
over those splits): at the paper shape one sklearn split takes ~20 s on one core.

    .venv/bin/python benchmarks/neural_regression.py --shape paper demo
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from scipy.stats import pearsonr
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from convrnn.neural import pearson, pls_cv, ridge_cv, stratified_splits

SHAPES = {"paper": dict(n_images=3200, n_features=1000, n_sites=168, n_bins=1, n_objects=64),
          "demo": dict(n_images=320, n_features=64, n_sites=32, n_bins=20, n_objects=32)}


def synthetic(n_images, n_features, n_sites, n_bins, seed, rank=60):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_images, rank)) * np.arange(1, rank + 1) ** -0.7
    X = np.maximum(latent @ rng.normal(size=(rank, n_features)) + 0.5 * rng.normal(size=(n_images, n_features)), 0)
    X = X.astype(np.float32)
    Xc = X - X.mean(0)
    Y = np.stack([Xc @ (rng.normal(size=(n_features, 20)) @ rng.normal(size=(20, n_sites))) / n_features
                  + rng.normal(size=(n_images, n_sites)) for _ in range(n_bins)])              # (B, N, S)
    return X, Y


def sklearn_brainscore(X, Y, splits, k):
    """Per split (B, S) Pearson r, as Brain-Score computes it: one PLSRegression per bin, scipy pearsonr per site."""
    out = []
    for tr, te in splits:
        r = np.empty(Y.shape[::2])
        for b in range(Y.shape[0]):
            pred = PLSRegression(n_components=k, scale=False).fit(X[tr], Y[b, tr]).predict(X[te])
            r[b] = [pearsonr(pred[:, s], Y[b, te, s])[0] for s in range(Y.shape[2])]
        out.append(r)
    return np.stack(out)


def sklearn_ridgecv(X, targets, splits):
    """Per split test predictions of sklearn's RidgeCV (same alphas, one alpha per target): the usual CPU baseline
    for the Nayebi ridge. Its criterion is efficient leave-one-out, ours GCV, so r may differ slightly."""
    from sklearn.linear_model import RidgeCV

    from convrnn.neural.solvers import DEFAULT_ALPHAS

    return [RidgeCV(alphas=DEFAULT_ALPHAS, alpha_per_target=True).fit(X[tr], targets[tr]).predict(X[te])
            for tr, te in splits]


def ours(X, Y, splits, k, device, method):
    preds = pls_cv(X, Y, splits, k, device=device, method=method)
    return np.stack([pearson(p, Y[:, te], axis=1) for p, (_, te) in zip(preds, splits)])


def run_shape(name, sz, a):
    X, Y = synthetic(sz["n_images"], sz["n_features"], sz["n_sites"], sz["n_bins"], a.seed)
    objects = np.arange(sz["n_images"]) % sz["n_objects"]
    splits = stratified_splits(objects, n_splits=10, train_size=0.9, seed=1)
    F = len(splits)
    k_sk = min(a.sklearn_splits or F, F)

    def timed(f, *args, **kw):
        t0 = time.perf_counter()
        res = f(*args, **kw)
        return res, time.perf_counter() - t0

    r_cov, t_cov = timed(ours, X, Y, splits, a.n_components, a.device, "auto")
    r_ker, t_ker = timed(ours, X, Y, splits, a.n_components, a.device, "kernel")
    r_sk, t_sk = timed(sklearn_brainscore, X, Y, splits[:k_sk], a.n_components)
    targets = Y.transpose(1, 0, 2).reshape(sz["n_images"], -1)               # all bins x sites as ridge targets
    fit, t_ridge = timed(ridge_cv, X, targets, splits, alpha_selection="gcv", device=a.device)
    r_ridge = np.stack([pearson(p.reshape(len(te), sz["n_bins"], -1).transpose(1, 0, 2), Y[:, te], axis=1)
                        for p, (_, te) in zip(fit.predictions, splits)])
    sk_ridge, t_skr = timed(sklearn_ridgecv, X.astype(np.float64), targets.astype(np.float64), splits[:k_sk])
    r_skr = np.stack([pearson(p.reshape(len(te), sz["n_bins"], -1).transpose(1, 0, 2), Y[:, te], axis=1)
                      for p, (_, te) in zip(sk_ridge, splits[:k_sk])])
    sk_per_split = t_sk / k_sk
    return {
        "shape": name, **sz, "n_splits": F, "n_components": a.n_components,
        "sklearn_splits_timed": k_sk,
        "seconds_per_split": {"sklearn_brainscore": round(sk_per_split, 3), "torch_pls": round(t_cov / F, 4),
                              "torch_pls_kernel_previous": round(t_ker / F, 4),
                              "torch_ridge_gcv": round(t_ridge / F, 4),
                              "sklearn_ridgecv": round(t_skr / k_sk, 4)},
        "seconds_total": {"sklearn_brainscore": round(sk_per_split * F, 2) if k_sk < F else round(t_sk, 2),
                          "torch_pls": round(t_cov, 3), "torch_pls_kernel_previous": round(t_ker, 3),
                          "torch_ridge_gcv": round(t_ridge, 3)},
        "speedup_pls_vs_sklearn": round(sk_per_split * F / t_cov, 1),
        "speedup_pls_vs_previous": round(t_ker / t_cov, 2),
        "speedup_ridge_vs_sklearn_ridgecv": round(t_skr / k_sk * F / t_ridge, 1),
        "max_abs_diff_r_ridge_vs_sklearn_ridgecv": float(np.nanmax(np.abs(r_ridge[:k_sk] - r_skr))),
        "max_abs_diff_r_pls_vs_sklearn": float(np.nanmax(np.abs(r_cov[:k_sk] - r_sk))),
        "max_abs_diff_r_previous_vs_sklearn": float(np.nanmax(np.abs(r_ker[:k_sk] - r_sk))),
        "median_r": {"sklearn_pls": float(np.median(r_sk)), "torch_pls": float(np.median(r_cov[:k_sk])),
                     "torch_ridge_gcv": float(np.median(r_ridge))},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", nargs="+", default=["paper", "demo"], choices=[*SHAPES, "custom"])
    ap.add_argument("--n-images", type=int, default=320)
    ap.add_argument("--n-features", type=int, default=1000)
    ap.add_argument("--n-sites", type=int, default=20)
    ap.add_argument("--n-bins", type=int, default=4)
    ap.add_argument("--n-objects", type=int, default=32)
    ap.add_argument("--n-components", type=int, default=25)
    ap.add_argument("--sklearn-splits", type=int, default=0, help="time sklearn on the first k splits (0: all)")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads, for both sides")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    warnings.simplefilter("ignore", ConvergenceWarning)   # sklearn hits max_iter on late components (so do we)
    custom = dict(n_images=a.n_images, n_features=a.n_features, n_sites=a.n_sites, n_bins=a.n_bins,
                  n_objects=a.n_objects)
    with threadpool_limits(a.threads):
        results = [run_shape(s, SHAPES.get(s, custom), a) for s in a.shape]
    print(json.dumps({"device": str(a.device or ("cuda" if torch.cuda.is_available() else "cpu")),
                      "threads": a.threads, "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
