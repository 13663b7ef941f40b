"""Object solution times (OST; Kar et al. 2019): the pieces shared by both conventions of ``neural.ost``.

``i1_dprime`` turns held-out choice probabilities into each image's I1 d' (it computes what Brain-Score's
``i1`` metric computes, checked on golden values in tests/test_ost.py); ``solution_times`` finds where each image's
I1 first reaches the monkey's, with Kar's / NC 2022's or Brain-Score's interpolation rule; ``ost_consistency`` is
Spearman rho between model and IT OSTs with a noise ceiling. ``neural.ost.object_solution_times`` runs the whole
analysis, cross-validated as Brain-Score does.

``decode_over_time`` / ``ost_score`` are the earlier single-pass analysis, kept while rule ``object_solution_times``
still calls them. They differ from Brain-Score: sklearn ``LogisticRegression(C=1e-3)`` (Brain-Score's older
sklearn variant; C is an L2 strength per summed loss, so the embedded demo, 288 training images and 64 PCs, sets a
larger ``behavior.decoder_c``), stratified 10-fold so that every image is predicted once, and I1 computed over all
images rather than within each 10% test split.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.special import ndtri

from .stats import spearman_brown

KAR2019_CEILING = 0.79  # Brain-Score Kar2019-ost, "computed offline by Kohitij Kar"
BRAINSCORE_DECODER_C = 1e-3  # Brain-Score's ProbabilitiesClassifier (its TF successor: weight decay 1 / (1e-3 * 2160))


def i1_dprime(probabilities: np.ndarray, labels: np.ndarray, cap: float = 5.0) -> np.ndarray:
    """Per-image I1 d' (N,) from choice probabilities (N, K) and true class indices (N,) in [0, K).

    For image i of object a and distractor c: false-alarm p = P(c) / (P(c) + P(a)); hit = 1 - p;
    the object-level false-alarm rate is the mean, over images of object c, of their p for choice a;
    d' = z(hit) - z(FA_object), clipped to +-cap, then averaged over distractors.
    """
    p = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    if p.ndim != 2 or labels.shape != (len(p),):
        raise ValueError(f"probabilities must be (N, K) and labels (N,), got {p.shape} and {labels.shape}")
    n, k = p.shape
    if labels.min() < 0 or labels.max() >= k or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices in [0, {k}), got range [{labels.min()}, {labels.max()}]")
    p_true = p[np.arange(n), labels][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        fa = p / (p + p_true)                                              # (N, K) image x choice
    fa[np.arange(n), labels] = np.nan
    # fa_object[a, c]: mean over images of object a of P(choose c instead of a)
    fa_object = np.full((k, k), np.nan)
    for a in range(k):
        if (labels == a).any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fa_object[a] = np.nanmean(fa[labels == a], axis=0)
    with np.errstate(invalid="ignore"):
        d = ndtri(1.0 - fa) - ndtri(fa_object.T[labels])            # FA of the pair (truth=c, choice=a)
    d = np.clip(d, -cap, cap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(d, axis=1)


def decode_over_time(features: np.ndarray, labels: np.ndarray, *, n_folds: int = 10,
                     C: float = BRAINSCORE_DECODER_C, seed: int = 1, max_iter: int = 1000) -> np.ndarray:
    """Held-out class probabilities (T, N, K) of a per-step logistic decoder on z-scored features."""
    from sklearn.linear_model import LogisticRegression   # sklearn's solvers: ~1 s to import, for this job only
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 3 or features.shape[1] != len(labels):
        raise ValueError(f"features must be (T, N={len(labels)}, D), got {features.shape}")
    classes = np.unique(labels)
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"labels must be class indices 0..K-1, got {classes[:10]}")
    t_steps, n, _ = features.shape
    probs = np.full((t_steps, n, len(classes)), np.nan)
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(np.zeros(n), labels))
    for t in range(t_steps):
        for tr, te in folds:
            scaler = StandardScaler().fit(features[t, tr])
            clf = LogisticRegression(C=C, max_iter=max_iter).fit(scaler.transform(features[t, tr]), labels[tr])
            probs[t, te] = clf.predict_proba(scaler.transform(features[t, te]))
    return probs


def solution_times(i1_model: np.ndarray, i1_target: np.ndarray, times_ms: np.ndarray, *,
                   rule: str = "previous") -> np.ndarray:
    """OST (N,): the time of the first step whose I1 reaches the image's threshold (``i1_model[t] >= i1_target``),
    moved back to where the line through a lower point and that hit crosses the threshold; NaN if never reached.

    The lower point is, by ``rule``: ``previous`` the step just before the hit (Kar et al. 2019, NC 2022);
    ``best_below`` the earlier step with the highest I1 below the threshold, the first one on ties (Brain-Score's
    ``OSTCorrelation`` keeps that maximum and solves interp1d(x) = threshold with fsolve; on a line that is
    t_lo + (threshold - i1_lo) * (t_hit - t_lo) / (i1_hit - i1_lo), computed here directly). Without a lower
    point (hit at the first step, or a NaN step before it under ``previous``) the hit time is returned.
    """
    if rule not in ("previous", "best_below"):
        raise ValueError(f"solution_times: rule must be 'previous' or 'best_below', got {rule!r}")
    i1_model = np.asarray(i1_model, np.float64)
    i1_target = np.asarray(i1_target, np.float64)
    times_ms = np.asarray(times_ms, np.float64)
    if i1_model.ndim != 2 or i1_model.shape != (len(times_ms), len(i1_target)):
        raise ValueError(f"i1_model must be (T={len(times_ms)}, N={len(i1_target)}), got {i1_model.shape}")
    if np.any(np.diff(times_ms) <= 0):
        raise ValueError("times_ms must be strictly increasing")
    with np.errstate(invalid="ignore"):
        reached = i1_model >= i1_target[None]                       # NaN compares False
        below = i1_model < i1_target[None]
    hit = reached.argmax(0)
    cols = np.flatnonzero(reached.any(0))
    ost = np.full(len(i1_target), np.nan)
    ost[cols] = times_ms[hit[cols]]
    steps = np.arange(len(times_ms))[:, None]
    if rule == "previous":
        lo = hit - 1
        has_lo = (hit > 0) & np.isfinite(i1_model[np.maximum(lo, 0), np.arange(len(hit))])
    else:
        candidates = np.where(below & (steps < hit[None]), i1_model, -np.inf)
        lo = candidates.argmax(0)                                   # first maximum, as Brain-Score's strict '<'
        has_lo = np.isfinite(candidates.max(0)) if len(times_ms) else np.zeros(len(hit), bool)
    inner = cols[has_lo[cols]]
    t_hi, t_lo = times_ms[hit[inner]], times_ms[lo[inner]]
    i_hi, i_lo = i1_model[hit[inner], inner], i1_model[lo[inner], inner]
    ost[inner] = t_lo + (i1_target[inner] - i_lo) * (t_hi - t_lo) / (i_hi - i_lo)
    return ost


def ost_consistency(model_ost: np.ndarray, target_ost: np.ndarray, *, ceiling: float | None = KAR2019_CEILING,
                    target_halves: tuple | None = None) -> dict:
    """Spearman rho between model and monkey OSTs over images where both are defined.

    The ceiling is either fixed (``ceiling``, 0.79 for Kar2019) or, when ``target_halves`` =
    (ost_half1, ost_half2) from two halves of the monkey trials is given, the Spearman-Brown corrected
    split-half Spearman rho of the target. Counts of undefined OSTs are reported, never dropped silently.
    """
    from scipy.stats import spearmanr

    model_ost = np.asarray(model_ost, np.float64)
    target_ost = np.asarray(target_ost, np.float64)
    if model_ost.shape != target_ost.shape or model_ost.ndim != 1:
        raise ValueError(f"model_ost and target_ost must be equal-length 1-D, got {model_ost.shape}, {target_ost.shape}")
    if target_halves is not None:
        a, b = (np.asarray(h, np.float64) for h in target_halves)
        both = np.isfinite(a) & np.isfinite(b)
        ceiling = float(spearman_brown(spearmanr(a[both], b[both])[0]))
    if ceiling is None or not ceiling > 0:
        raise ValueError(f"ceiling must be a positive number, got {ceiling}")
    valid = np.isfinite(model_ost) & np.isfinite(target_ost)
    rho = spearmanr(model_ost[valid], target_ost[valid])[0] if valid.sum() >= 3 else np.nan
    return {"rho": float(rho), "ceiling": float(ceiling), "score": float(rho / ceiling),
            "n_images": int(len(model_ost)), "n_used": int(valid.sum()),
            "n_model_nan": int(np.isnan(model_ost).sum()), "n_target_nan": int(np.isnan(target_ost).sum())}


def ost_score(features: np.ndarray, labels: np.ndarray, target_i1: np.ndarray, target_ost: np.ndarray,
              times_ms: np.ndarray, *, n_folds: int = 10, C: float = BRAINSCORE_DECODER_C, seed: int = 1,
              ceiling: float | None = KAR2019_CEILING, target_halves=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Full chain: decode -> I1 per step (T, N) -> model OST (N,) -> consistency dict."""
    probs = decode_over_time(features, labels, n_folds=n_folds, C=C, seed=seed)
    i1 = np.stack([i1_dprime(p, labels) for p in probs])
    ost = solution_times(i1, target_i1, times_ms)
    return ost_consistency(ost, target_ost, ceiling=ceiling, target_halves=target_halves), i1, ost


def first_informative_step(features: np.ndarray, atol: float = 1e-6) -> int:
    """First model step whose features differ between images (T, N, D): before it the layer has not yet
    received the image (biological unrolling), so a decoder there only reflects the label prior and would
    "solve" every image whose primate I1 is below chance at t=0. Brain-Score likewise scores OST from 70 ms on."""
    spread = np.ptp(features, axis=1).max(axis=-1)  # (T,)
    hits = np.flatnonzero(spread > atol)
    if not len(hits):
        raise ValueError("features never differ between images: no step carries stimulus information")
    return int(hits[0])
