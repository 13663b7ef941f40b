"""Which layer stands for a cortical area, chosen on data its reported scores never test (docs/neural.md, "Layers").

The papers pick an area's layer by "a standard linear mapping to temporally averaged" responses (NC 2022 Fig. 3);
Brain-Score commits a layer per region on separate data before scoring. Here, per region, every layer's features
averaged over the selection window (70-170 ms, Brain-Score's static MajajHong2015 window) are regressed onto the
responses averaged over the same window, with an inner K-fold cross-validation (stratified by object) inside a set of
training images; a layer's selection score is the region aggregate of its test r (mean over folds of the median over
sites, Brain-Score's aggregate). This runs

- inside the training images of every outer split of the reported fits (nested cross-validation): split f's
  reported scores use the layer chosen on split f's training images, never on its test images;
- on all images (split ``-1``): the model's committed layer for the area (OST decoding, the exported model).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .defaults import DEFAULT_ALPHAS, PLS_COMPONENTS
from .stats import pearson

ALL_IMAGES = -1   # the ``split`` of the selection on every image (the committed layer)
SELECTION_COLUMNS = ["layer", "split", "score"]


def inner_folds(train_idx: np.ndarray, groups: np.ndarray, n_folds: int = 5, seed: int = 1) -> list:
    """K folds of ``train_idx`` (global indices), stratified by ``groups`` when every group can fill the folds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    train_idx = np.asarray(train_idx)
    g = np.asarray(groups)[train_idx]
    _, counts = np.unique(g, return_counts=True)
    if len(train_idx) < 2 * n_folds:
        raise ValueError(f"layer selection: {len(train_idx)} training images cannot make {n_folds} folds")
    splitter = (StratifiedKFold(n_folds, shuffle=True, random_state=seed) if counts.min() >= n_folds
                else KFold(n_folds, shuffle=True, random_state=seed))
    return [(train_idx[tr], train_idx[te]) for tr, te in splitter.split(np.zeros(len(train_idx)), g)]


def selection_scores(layer_features: dict[str, np.ndarray], Y: np.ndarray, groups: np.ndarray, outer_splits, *,
                     regression: str = "pls", n_components: int = PLS_COMPONENTS, ridge_alpha: float | None = 1.0,
                     alphas=DEFAULT_ALPHAS, n_folds: int = 5, seed: int = 1, device=None, per_site: bool = False):
    """Selection score of every layer on every outer split's training images and on all images.

    ``layer_features[layer]`` is (N, P) (time-averaged), ``Y`` (N, S) time-averaged responses of one region,
    ``groups`` (N,) object labels, ``outer_splits`` the reported fits' (train, test) splits. ``regression``: ``"pls"``
    (PLSRegression(n_components, scale=False)) or ``"ridge"`` (``ridge_alpha``, or per site from ``alphas`` by GCV
    when None). Returns rows ``layer, split, score`` (split -1: all images); with ``per_site``, also each site's r
    per layer on all images (mean over the folds), rows ``layer, site`` (column index of ``Y``) ``, r``: which layer
    each site prefers."""
    from .solvers import pls_cv, ridge_cv   # torch: the fits only

    n = len(Y)
    sets = [np.arange(n)] + [np.asarray(tr) for tr, _ in outer_splits]      # split -1: all images; f: split f
    folds, owner = [], []
    for s, idx in enumerate(sets):
        for fold in inner_folds(idx, groups, n_folds, seed):
            folds.append(fold)
            owner.append(s - 1)
    owner = np.asarray(owner)
    preds_of = {}
    if regression == "pls":
        # one call per layer width: its layers are problems of one batch, every set's folds splits of one batch
        by_width: dict[int, list[str]] = {}
        for layer, X in layer_features.items():
            by_width.setdefault(np.shape(X)[1], []).append(layer)
        for width, layers in by_width.items():
            k = min(n_components, width, min(len(tr) for tr, _ in folds))
            X = np.stack([np.asarray(layer_features[layer]) for layer in layers])          # (G, N, P)
            preds = pls_cv(X if len(layers) > 1 else X[0], np.repeat(Y[None], len(layers), 0), folds, k,
                           device=device)
            preds_of.update({layer: [p[g] for p in preds] for g, layer in enumerate(layers)})
    elif regression == "ridge":
        fixed = ridge_alpha is not None
        for layer, X in layer_features.items():
            preds_of[layer] = ridge_cv(np.asarray(X), Y, folds, [ridge_alpha] if fixed else alphas,
                                       alpha_selection="gcv", device=device).predictions
    else:
        raise ValueError(f"regression must be 'pls' or 'ridge', got {regression!r}")
    rows, sites = [], []
    for layer in layer_features:
        with np.errstate(invalid="ignore"):
            site_r = np.stack([pearson(p, Y[te], axis=0) for p, (_, te) in zip(preds_of[layer], folds)])  # (folds, S)
        region_r = _median_over_sites(site_r)
        for s in range(-1, len(outer_splits)):
            vals = region_r[owner == s]
            rows.append({"layer": layer, "split": s,
                         "score": float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan})
        if per_site:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)     # a site r undefined in every fold stays NaN
                sites.append(pd.DataFrame({"layer": layer, "site": np.arange(Y.shape[1]),
                                           "r": np.nanmean(site_r[owner == ALL_IMAGES], axis=0)}))
    if per_site:
        return pd.DataFrame(rows, columns=SELECTION_COLUMNS), pd.concat(sites, ignore_index=True)
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


def _median_over_sites(site_r: np.ndarray) -> np.ndarray:
    out = np.full(len(site_r), np.nan)
    ok = np.isfinite(site_r).any(1)
    out[ok] = np.nanmedian(site_r[ok], axis=1)
    return out


def ranked_layers(scores: pd.DataFrame) -> dict[int, list[str]]:
    """split -> layers from best to worst selection score. Layers that stop responding to the images somewhere in the
    scored window (``responsive`` False: an unrolled layer without memory once the gray has reached it) rank after
    every responsive one, layers with no finite score last: an area that keeps responding is matched by a layer that
    does (the papers' area layers are all recurrent layers: docs/neural.md, "Layers")."""
    out = {}
    for split, g in scores.groupby("split", sort=True):
        live = g["responsive"].astype(bool) if "responsive" in g else pd.Series(True, index=g.index)
        g = g.assign(_live=live, _key=g["score"].fillna(-np.inf))
        out[int(split)] = g.sort_values(["_live", "_key"], ascending=False, kind="stable")["layer"].tolist()
    return out
