"""Batched torch PLS / ridge vs sklearn PLSRegression(25) fitted per time bin (as Brain-Score does).

Same synthetic arrays, same stratified 90/10 splits. Prints JSON: wall times, the speed-up, and the
largest difference in cross-validated Pearson r (per site and bin, mean over splits).

    .venv/bin/python benchmarks/neural_regression.py --n-images 320 --n-features 1000 --n-sites 20 --n-bins 4
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.cross_decomposition import PLSRegression

from convrnn.neural import pearson, pls_cv, ridge_cv, stratified_splits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=320)
    ap.add_argument("--n-features", type=int, default=1000)
    ap.add_argument("--n-sites", type=int, default=20)
    ap.add_argument("--n-bins", type=int, default=4)
    ap.add_argument("--n-objects", type=int, default=64)
    ap.add_argument("--n-components", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    rng = np.random.default_rng(a.seed)
    X = rng.normal(size=(a.n_images, a.n_features)).astype(np.float32)
    W = rng.normal(size=(a.n_bins, a.n_features, a.n_sites)) / np.sqrt(a.n_features)
    Y = np.einsum("np,bps->bns", X, W) + rng.normal(size=(a.n_bins, a.n_images, a.n_sites))   # (B, N, S)
    objects = np.arange(a.n_images) % min(a.n_objects, a.n_images // 10)  # >= 1 test image per object
    splits = stratified_splits(objects, n_splits=10, train_size=0.9, seed=1)

    def cv_r(preds):  # preds: per split (B, n_test, S) -> (B, S) mean over splits
        return np.mean([pearson(p, Y[:, te], axis=1) for p, (_, te) in zip(preds, splits)], axis=0)

    t0 = time.perf_counter()
    r_torch = cv_r(pls_cv(X, Y, splits, a.n_components, device=a.device))
    t_torch = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = [np.stack([PLSRegression(a.n_components, scale=False).fit(X[tr], Y[b, tr]).predict(X[te])
                     for b in range(a.n_bins)]) for tr, te in splits]
    t_sklearn = time.perf_counter() - t0
    r_sklearn = cv_r(ref)

    t0 = time.perf_counter()
    targets = Y.transpose(1, 0, 2).reshape(a.n_images, -1)            # all bins x sites as ridge targets
    fit = ridge_cv(X, targets, splits, alpha_selection="gcv", device=a.device)
    r_ridge = cv_r([p.reshape(len(te), a.n_bins, a.n_sites).transpose(1, 0, 2) for p, (_, te) in zip(fit.predictions, splits)])
    t_ridge = time.perf_counter() - t0

    print(json.dumps({
        "sizes": {"n_images": a.n_images, "n_features": a.n_features, "n_sites": a.n_sites, "n_bins": a.n_bins,
                  "n_splits": len(splits), "n_components": a.n_components},
        "device": str(a.device or ("cuda" if torch.cuda.is_available() else "cpu")), "threads": a.threads,
        "seconds": {"sklearn_pls_per_bin": round(t_sklearn, 3), "torch_pls_batched": round(t_torch, 3),
                    "torch_ridge_gcv": round(t_ridge, 3)},
        "speedup_pls": round(t_sklearn / t_torch, 1),
        "speedup_ridge_vs_sklearn_pls": round(t_sklearn / t_ridge, 1),
        "max_abs_diff_r_pls": float(np.nanmax(np.abs(r_torch - r_sklearn))),
        "median_r": {"sklearn_pls": float(np.median(r_sklearn)), "torch_pls": float(np.median(r_torch)),
                     "torch_ridge_gcv": float(np.median(r_ridge))},
    }, indent=2))


if __name__ == "__main__":
    main()
