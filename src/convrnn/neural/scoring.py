"""Neural predictivity of model features per layer x model step x neural time bin x site.

Two conventions (see /work/shared/reference/neural_anchors.md §1.5-1.6, §2):

``"brainscore"``  PLSRegression(25, scale=False) fitted per time bin on all sites of the bin,
                  10 StratifiedShuffleSplit 90/10 splits by object (random_state=1); Pearson r per site on
                  the test images, mean over splits; ceiling = split-half Spearman-Brown reliability;
                  ``score = r**2 / ceiling``.
``"nayebi"``      ridge (alpha per target chosen by inner CV on the training images), brainmodel_utils
                  style random 80/20 splits; per trial split-half h and train/test split f, maps are fitted
                  to the full trial mean and to each half; ``score = r(Yhat, Y) / sqrt(SB(r(Yhat1, Yhat2)) *
                  SB(r(Y1, Y2)))`` on test images, averaged over h and f. ``ceiling`` reports the mean denominator.

Model step t is placed at ``model_time_ms = t * step_ms + latency_offset_ms``. ``pairing="matched"`` scores
each step only against the bin containing its time (start <= time < end); ``pairing="all"`` scores every
(step, bin) pair, which is how a planted neural delay is found.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .ceiling import half_indices, half_means, split_half_reliability
from .data import NeuralData
from .solvers import DEFAULT_ALPHAS, pls_cv, ridge_cv
from .splits import random_splits, stratified_splits
from .stats import pearson, spearman_brown

CONVENTIONS = ("brainscore", "nayebi")
META_COLUMNS = ("stimulus_id", "object")
OUTPUT_COLUMNS = ["layer", "model_step", "model_time_ms", "region", "site", "time_bin_start_ms", "time_bin_end_ms",
                  "r", "ceiling", "score", "convention"]


def step_bin_pairs(n_steps: int, bins: pd.DataFrame, step_ms: float = 10.0, latency_offset_ms: float = 0.0,
                   pairing: str = "matched") -> dict[int, list[int]]:
    """Model step -> indices of the neural bins it is scored against."""
    if pairing not in ("matched", "all"):
        raise ValueError(f"pairing must be 'matched' or 'all', got {pairing!r}")
    if pairing == "all":
        return {t: list(range(len(bins))) for t in range(n_steps)}
    start, end = bins["time_bin_start_ms"].to_numpy(float), bins["time_bin_end_ms"].to_numpy(float)
    out = {}
    for t in range(n_steps):
        time = t * step_ms + latency_offset_ms
        hit = np.flatnonzero((start <= time) & (time < end))
        if len(hit):
            out[t] = [int(hit[0])]
    if not out:
        raise ValueError(f"pairing='matched': no model time ({latency_offset_ms} + t*{step_ms} ms, t < {n_steps}) "
                         f"falls in any neural bin [{start.min()}, {end.max()}) ms")
    return out


def score_features(features: dict, neural: NeuralData, meta: pd.DataFrame, *, convention: str = "brainscore",
                   step_ms: float = 10.0, latency_offset_ms: float = 0.0, pairing: str = "matched",
                   splits=None, n_components: int = 25, alphas=DEFAULT_ALPHAS, alpha_selection: str = "cv",
                   n_halves: int = 10, seed: int = 1, device=None) -> pd.DataFrame:
    """Score every layer x model step against every paired neural bin and site.

    ``features[layer]`` is (T, N, D) with N in the row order of ``meta`` (columns ``stimulus_id``,
    ``object``); the neural data are reordered to match. ``splits`` overrides the convention's default
    train/test splits (list of (train_idx, test_idx) into meta's rows).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"stimulus metadata: missing column(s) {missing}; has {list(meta.columns)}")
    neural = neural.select(stimulus_ids=meta["stimulus_id"].to_numpy())
    n = len(meta)
    for layer, f in features.items():
        if np.ndim(f) != 3 or np.shape(f)[1] != n:
            raise ValueError(f"features[{layer!r}] must be (T, N={n}, D), got shape {np.shape(f)}")
    mean = neural.mean()
    if not np.isfinite(mean).all():
        bad = neural.stimulus_ids[~np.isfinite(mean).all(axis=(1, 2))]
        raise ValueError(f"neural data: no finite trial mean for stimulus_id(s) {list(bad[:5])}")
    if splits is None:
        splits = (stratified_splits(meta["object"].to_numpy(), 10, 0.9, seed) if convention == "brainscore"
                  else random_splits(n, 5, 0.8, seed))

    halves = half_indices(neural.trials.shape[0], n_halves, seed)
    if convention == "brainscore":
        ceiling = split_half_reliability(neural.trials, n_halves, seed).ceiling    # (S, B)
        fit = lambda X, bins: _brainscore(X, mean[:, :, bins], ceiling[:, bins], splits, n_components, device)
    else:
        h1, h2 = map(np.stack, zip(*half_means(neural.trials, halves)))           # (H, N, S, B) each
        # A stimulus with no repetition in one half (unequal counts) gets its full mean there.
        h1 = np.where(np.isfinite(h1), h1, mean)
        h2 = np.where(np.isfinite(h2), h2, mean)
        fit = lambda X, bins: _nayebi(X, mean[:, :, bins], h1[..., bins], h2[..., bins], splits, alphas,
                                      alpha_selection, seed, device)

    tables = []
    for layer, feats in features.items():
        pairs = step_bin_pairs(len(feats), neural.bins, step_ms, latency_offset_ms, pairing)
        for t, bins in pairs.items():
            r, ceil, score = fit(np.asarray(feats[t]), bins)                      # each (G bins, S)
            tables.append(_rows(layer, t, t * step_ms + latency_offset_ms, neural, bins, r, ceil, score))
    out = pd.concat(tables, ignore_index=True)
    out["convention"] = convention
    return out[OUTPUT_COLUMNS]


def _brainscore(X, Y, ceiling, splits, n_components, device):
    """Y (N, S, G) trial means, ceiling (S, G) -> r, ceiling, r^2/ceiling, each (G, S)."""
    Yg = np.moveaxis(Y, 2, 0)                                                      # (G, N, S)
    # A layer narrower than the component count (e.g. the K-class readout) uses all its dimensions.
    n_components = min(n_components, X.shape[1], min(len(tr) for tr, _ in splits))
    preds = pls_cv(X, Yg, splits, n_components, device=device)
    r = np.mean([pearson(p, Yg[:, te], axis=1) for p, (_, te) in zip(preds, splits)], axis=0)
    ceil = ceiling.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return r, ceil, r**2 / ceil


def _nayebi(X, Y, H1, H2, splits, alphas, alpha_selection, seed, device):
    """Y (N, S, G); H1, H2 (H, N, S, G) half means -> r_xy, denominator, noise-corrected r, each (G, S)."""
    n_h = H1.shape[0]
    targets = np.concatenate([Y[None], H1, H2]).transpose(1, 0, 2, 3)             # (N, 1 + 2H, S, G)
    shape = targets.shape[1:]
    fit = ridge_cv(X, targets.reshape(len(X), -1), splits, alphas, alpha_selection=alpha_selection,
                   seed=seed, device=device)
    r_xy, denom = [], []
    for pred, (_, te) in zip(fit.predictions, splits):
        pred = pred.reshape(len(te), *shape)
        p, p1, p2 = pred[:, 0], pred[:, 1:1 + n_h], pred[:, 1 + n_h:]
        r_xy.append(np.broadcast_to(pearson(p, Y[te], axis=0), (n_h,) + shape[1:]))
        r_pp = pearson(p1, p2, axis=0)                                               # (H, S, G)
        r_yy = pearson(H1[:, te], H2[:, te], axis=1)
        with np.errstate(invalid="ignore"):
            denom.append(np.sqrt(spearman_brown(r_pp) * spearman_brown(r_yy)))
    r_xy, denom = np.stack(r_xy), np.stack(denom)                                  # (F, H, S, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = np.nanmean(r_xy / denom, axis=(0, 1))
    return r_xy[:, 0].mean(0).T, np.nanmean(denom, axis=(0, 1)).T, corrected.T


def _rows(layer, step, time_ms, neural, bins, r, ceil, score):
    g, s = r.shape
    b = neural.bins.iloc[bins]
    return pd.DataFrame({
        "layer": layer, "model_step": step, "model_time_ms": float(time_ms),
        "region": np.tile(neural.sites["region"].to_numpy(), g),
        "site": np.tile(neural.sites["site"].to_numpy(), g),
        "time_bin_start_ms": np.repeat(b["time_bin_start_ms"].to_numpy(), s),
        "time_bin_end_ms": np.repeat(b["time_bin_end_ms"].to_numpy(), s),
        "r": r.ravel(), "ceiling": ceil.ravel(), "score": score.ravel(),
    })


def summarize(scores: pd.DataFrame) -> pd.DataFrame:
    """Median over sites per region (and layer, step, bin, convention), plus Brain-Score's aggregate
    ``median(r)**2 / median(ceiling)`` for the PLS convention."""
    keys = ["convention", "region", "layer", "model_step", "model_time_ms", "time_bin_start_ms", "time_bin_end_ms"]
    missing = [c for c in keys + ["r", "ceiling", "score"] if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}")
    out = scores.groupby(keys, sort=True).agg(r=("r", "median"), ceiling=("ceiling", "median"),
                                               score=("score", "median"), n_sites=("site", "nunique")).reset_index()
    out["score_of_medians"] = np.where(out["convention"] == "brainscore", out["r"] ** 2 / out["ceiling"],
                                       out["r"] / out["ceiling"])
    return out
