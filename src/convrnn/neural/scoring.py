"""Neural predictivity of model features per layer x model step x neural time bin x site, in three conventions.

``"brainscore"`` (brainscore_vision ``pls`` + ``internal_consistency`` + ``explained_variance``): per region, a
PLSRegression(n_components=25, scale=False) on the trial means; 10 StratifiedShuffleSplit 90/10 splits by object
with random_state=1 (drawn over the stimuli sorted by stimulus_id); Pearson r per site on the test images. Per
site: r = mean over splits, ceiling = mean over half splits of the Spearman-Brown split-half r, score = r^2/ceiling.
Brain-Score's region score is computed from the per-split values: mean over splits of the median over sites of r,
squared, over the same aggregate of the ceiling (``brainscore_aggregate``; ``convrnn.neural.summary``).
``regression="span_time"`` fits one PLS per region shared across the scored time bins (Brain-Score's
``spantime_pls``: bins stacked as extra samples, r per bin).

``"nayebi"`` (brainmodel_utils ``get_linregress_consistency``, sklearn Ridge map): per trial split-half h (seeds
1234.., ``ceiling_splits`` of them: brainmodel_utils draws 1000) and train/test split f (brainmodel_utils' random
80/20 permutations), maps are fitted to the full trial mean and to each half; per site
``r_xy_n_sb = r(Yhat, Y) / sqrt(SB(r(Yhat1, Yhat2)) * SB(r(Y1, Y2)))`` on the test images; a half split with a NaN
half mean in the region is skipped, as brainmodel_utils skips it. Per site: score = mean over (h, f); ceiling = mean
denominator. The ridge alpha is fixed (``ridge_alpha``, sklearn Ridge's 1.0 as brainmodel_utils' map gets it) or,
with ``ridge_alpha=None``, chosen per site on the training images (``alpha_selection``: inner CV or GCV).
``"nayebi_pls"``: the same noise correction with Brain-Score's PLS-25 map instead of ridge (brainmodel_utils'
``PLSNeuralMap``, all sites of a region in one map).

The first two are checked against the references' own outputs (tests/golden/; see docs/references.md, "Neural
metrics"). Deviations, all edge cases: Brain-Score has no per-site ceiling (we report the mean over half splits, NaN
splits skipped) and cannot run at all when a stimulus has no trial in one half (we give that site NaN for the
split); brainmodel_utils leaves the aggregation to the caller (mean over seeds and splits, NaN skipped). Features that
do not vary over the stimuli (a layer the image has not reached yet, or has left) give r = NaN: the fit predicts the
training mean, as sklearn's PLS can only predict one value (or fails) there.

Time (``convrnn.neural.placement``): unrolled features: model step t stands for [t*step_ms + offset, (t+1)*step_ms +
offset) ms after image onset; ``pairing="matched"`` scores a step only against the neural bin of exactly that
interval, ``pairing="all"`` every (step, bin) pair (how a planted neural delay is found). Static features (one step,
a static model's response to the image) are scored against every bin given.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .ceiling import nayebi_half_indices, split_half_reliability
from convrnn.data.responses import NeuralData
from .defaults import DEFAULT_ALPHAS, PLS_COMPONENTS
from .splits import brainscore_splits, random_splits
from .stats import pearson, spearman_brown

CONVENTIONS = ("brainscore", "nayebi", "nayebi_pls")
NOISE_CORRECTED = ("nayebi", "nayebi_pls")          # brainmodel_utils' r_xy_n_sb
REGRESSIONS = ("per_bin", "span_time")
PAIRINGS = ("matched", "all")
META_COLUMNS = ("stimulus_id", "object")
DEFAULT_N_SPLITS = {"brainscore": 10, "nayebi": 5, "nayebi_pls": 5}
DEFAULT_CEILING_SPLITS = {"brainscore": 10, "nayebi": 1000, "nayebi_pls": 1000}   # brainmodel_utils: 1000 seeds
NAYEBI_RIDGE_ALPHA = 1.0                           # sklearn Ridge's default, what brainmodel_utils' map gets
OUTPUT_COLUMNS = ["layer", "time_course", "model_step", "model_time_ms", "model_time_end_ms", "region", "site",
                  "time_bin_start_ms", "time_bin_end_ms", "r", "r_splits", "ceiling", "score", "score_splits",
                  "convention", "regression"]


# --------------------------------------------------------------------------------------------- time axis
def step_interval(step, step_ms: float, latency_offset_ms: float = 0.0):
    """[start, end) ms after image onset that model step ``step`` stands for."""
    start = np.asarray(step) * step_ms + latency_offset_ms
    return start, start + step_ms


def check_bins_pair(bins: pd.DataFrame, n_steps: int, step_ms: float, latency_offset_ms: float = 0.0,
                    source: str = "neural bins") -> None:
    """Raise unless every bin is exactly one model step's interval and at least one lies within the steps."""
    start = bins["time_bin_start_ms"].to_numpy(float)
    end = bins["time_bin_end_ms"].to_numpy(float)
    k = (start - latency_offset_ms) / step_ms
    bad = ~np.isclose(end - start, step_ms) | ~np.isclose(k, np.round(k))
    if bad.any():
        shown = ", ".join(f"[{s:g}, {e:g})" for s, e in zip(start[bad][:4], end[bad][:4]))
        raise ValueError(
            f"{source}: time bin(s) {shown} ms are not model step intervals [t*{step_ms:g} + {latency_offset_ms:g}, "
            f"(t+1)*{step_ms:g} + {latency_offset_ms:g}) ms; set presentation.step_ms / "
            f"presentation.latency_offset_ms to match the bins, or use neural.pairing: all")
    k = np.round(k)
    if not ((k >= 0) & (k < n_steps)).any():
        lo, hi = step_interval(np.array([0, n_steps - 1]), step_ms, latency_offset_ms)
        raise ValueError(f"{source}: no time bin in [{start.min():g}, {end.max():g}) ms lies within the model's "
                         f"{n_steps} steps [{lo[0]:g}, {hi[1]:g}) ms (presentation.neural_times, "
                         f"presentation.latency_offset_ms)")


def step_bin_pairs(n_steps: int, bins: pd.DataFrame, step_ms: float = 10.0, latency_offset_ms: float = 0.0,
                   pairing: str = "matched") -> dict[int, list[int]]:
    """Model step -> indices of the neural bins it is scored against."""
    if pairing not in PAIRINGS:
        raise ValueError(f"neural.pairing must be one of {PAIRINGS}, got {pairing!r}")
    if pairing == "all":
        return {t: list(range(len(bins))) for t in range(n_steps)}
    check_bins_pair(bins, n_steps, step_ms, latency_offset_ms)
    k = np.round((bins["time_bin_start_ms"].to_numpy(float) - latency_offset_ms) / step_ms).astype(int)
    return {int(t): [i] for i, t in enumerate(k) if 0 <= t < n_steps}


# ------------------------------------------------------------------------------------------- responses
@dataclass
class Responses:
    """What the metrics need from the trials: trial means and split-half statistics, per stimulus x site x bin."""
    mean: np.ndarray                        # (N, S, B) trial means
    stimulus_ids: np.ndarray                # (N,)
    sites: pd.DataFrame                     # site, region
    bins: pd.DataFrame                      # time_bin_start_ms, time_bin_end_ms
    ceiling_split: np.ndarray | None = None  # brainscore: (H, S, B) Spearman-Brown split-half r per half split
    trials: np.ndarray | None = None         # nayebi: (R, N, S, B) float32, halved per seed in chunks when scored
    halves: list | None = None               # nayebi: brainmodel_utils' (half 1, half 2) repetition indices per seed

    @classmethod
    def from_neural(cls, neural: NeuralData, convention: str, ceiling_splits: int = 10,
                    with_ceiling: bool = True) -> "Responses":
        out = cls(neural.mean(), neural.stimulus_ids, neural.sites, neural.bins)
        if convention == "brainscore" and with_ceiling:
            out.ceiling_split = split_half_reliability(neural.trials, ceiling_splits).corrected
        elif convention in NOISE_CORRECTED:
            out.trials = np.asarray(neural.trials, np.float32)
            out.halves = nayebi_half_indices(neural.trials.shape[0], ceiling_splits)
        return out

    @classmethod
    def concat_bins(cls, parts: list["Responses"]) -> "Responses":
        """Join one-bin (or few-bin) parts that share stimuli and sites."""
        first = parts[0]
        for p in parts[1:]:
            if not (np.array_equal(p.stimulus_ids, first.stimulus_ids) and p.sites.equals(first.sites)):
                raise ValueError("Responses.concat_bins: parts differ in stimuli or sites")
        cat = lambda name, axis: (None if getattr(first, name) is None  # noqa: E731
                                  else np.concatenate([getattr(p, name) for p in parts], axis))
        return cls(cat("mean", 2), first.stimulus_ids, first.sites,
                   pd.concat([p.bins for p in parts], ignore_index=True), cat("ceiling_split", 2), cat("trials", 3),
                   first.halves)

    def attach_ceiling(self, table: pd.DataFrame, source: str = "ceiling table") -> "Responses":
        """Take the Brain-Score split-half values from a ceiling table (``noise_ceiling`` output)."""
        keyed = table.set_index(["site", "time_bin_start_ms", "time_bin_end_ms"])
        want = pd.MultiIndex.from_arrays([np.repeat(self.sites["site"].to_numpy(), len(self.bins)),
                                          np.tile(self.bins["time_bin_start_ms"].to_numpy(), len(self.sites)),
                                          np.tile(self.bins["time_bin_end_ms"].to_numpy(), len(self.sites))])
        idx = keyed.index.get_indexer(want)
        if (idx < 0).any():
            miss = want[idx < 0][0]
            raise ValueError(f"{source}: no ceiling for site {miss[0]!r}, bin [{miss[1]}, {miss[2]}) ms")
        vals = np.stack(keyed["ceiling_splits"].to_numpy()[idx])                 # (S*B, H)
        self.ceiling_split = vals.T.reshape(-1, len(self.sites), len(self.bins))
        return self

    def select_stimuli(self, stimulus_ids) -> "Responses":
        idx = pd.Index(self.stimulus_ids).get_indexer(np.asarray(stimulus_ids))
        if (idx < 0).any():
            absent = list(np.asarray(stimulus_ids)[idx < 0][:5])
            raise ValueError(f"neural data: no responses for stimulus_id(s) {absent}")
        trials = None if self.trials is None else self.trials[:, idx]
        return Responses(self.mean[idx], self.stimulus_ids[idx], self.sites, self.bins, self.ceiling_split, trials,
                         self.halves)


# ------------------------------------------------------------------------------------------- metrics
def brainscore_aggregate(values: np.ndarray) -> np.ndarray:
    """Brain-Score's aggregate of per-split, per-site values (F, S, ...): mean over splits of the median over sites."""
    return np.nanmean(np.nanmedian(values, axis=1), axis=0)


def pls_split_r(X, Y, splits, n_components=PLS_COMPONENTS, device=None) -> np.ndarray:
    """Per split, Pearson r per site of cross-validated PLS predictions. X (N, P) or (G, N, P) (a feature matrix
    per problem), Y (G, N, S) -> (F, G, S)."""
    from .solvers import pls_cv  # torch: imported by the fits only, not by the summaries

    preds = pls_cv(X, Y, splits, n_components, device=device)
    return np.stack([pearson(p, Y[:, te], axis=1) for p, (_, te) in zip(preds, splits)])


def span_time_split_r(Xs, Y, splits, n_components=PLS_COMPONENTS, device=None) -> np.ndarray:
    """One PLS shared across G time bins (bins stacked as samples), r per bin. Xs (G, N, P), Y (G, N, S)."""
    from .solvers import pls_cv

    G, N = Y.shape[:2]
    offsets = (np.arange(G) * N)[:, None]
    stacked = [((offsets + tr).ravel(), (offsets + te).ravel()) for tr, te in splits]
    preds = pls_cv(np.concatenate(list(Xs)), Y.reshape(1, G * N, -1), stacked, n_components, device=device)
    out = []
    for p, (_, te) in zip(preds, splits):
        p = p[0].reshape(G, len(te), -1)
        # A bin whose features are the same for every test image (a layer the image has not reached) has one
        # prediction for all of them, so r is undefined there (NaN, as scipy's pearsonr in Brain-Score). The shared
        # map's products can differ in the last bit between identical rows; without this they would give an
        # arbitrary r.
        flat = np.asarray([np.ptp(np.asarray(Xs[g])[te], axis=0).max() == 0 for g in range(G)])
        p[flat] = p[flat][:, :1]
        out.append(pearson(p, Y[:, te], axis=1))
    return np.stack(out)


@dataclass
class Consistency:
    """brainmodel_utils' test-split quantities, each (H, F, S, G): half split x train/test split x site x bin."""
    r_xy: np.ndarray
    r_xx: np.ndarray
    r_yy: np.ndarray

    @property
    def denom_sb(self):
        with np.errstate(invalid="ignore"):
            return np.sqrt(spearman_brown(self.r_xx) * spearman_brown(self.r_yy))

    @property
    def r_xy_n_sb(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.r_xy / self.denom_sb

    @classmethod
    def concat(cls, parts: list["Consistency"]) -> "Consistency":
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("r_xy", "r_xx", "r_yy")))


def _map_predictions(X, targets, splits, *, mapping, n_components, alphas, alpha_selection, device):
    """Test predictions per split, (n_te, M, N-free target shape...) of one map per target block.

    ``targets`` (M, N, S, G): M target blocks (trial mean, half means) of S sites x G bins. ridge: one ridge per
    column (sites and bins and blocks are independent outputs). pls: one PLS per (block, bin) over the S sites
    jointly (as brainmodel_utils' PLSNeuralMap and Brain-Score fit a region)."""
    from .solvers import pls_cv, ridge_cv

    M, N, S, G = targets.shape
    if mapping == "ridge":
        fit = ridge_cv(X, np.moveaxis(targets, 1, 0).reshape(N, -1), splits, alphas, alpha_selection=alpha_selection,
                       device=device)
        return [np.moveaxis(p.reshape(len(te), M, S, G), 0, 1) for p, (_, te) in zip(fit.predictions, splits)]
    problems = np.moveaxis(targets, 3, 1).reshape(M * G, N, S)                    # (M*G, N, S)
    k = min(n_components, np.shape(X)[1], min(len(tr) for tr, _ in splits))
    preds = pls_cv(X, problems, splits, k, device=device)                         # per split (M*G, n_te, S)
    return [np.moveaxis(p.reshape(M, G, p.shape[1], S), 2, 1).transpose(0, 1, 3, 2)  # (M, n_te, S, G)
            for p in preds]


def nayebi_consistency(X, Y, halves, splits, alphas=(NAYEBI_RIDGE_ALPHA,), alpha_selection="cv", device=None, *,
                       mapping="ridge", n_components=PLS_COMPONENTS) -> Consistency:
    """X (N, P); Y (N, S, G) trial means; halves (H, 2, N, S, G). Half splits with a NaN half mean are NaN.
    ``mapping``: ``ridge`` (``alphas``: one fixed alpha, or a grid searched per site by ``alpha_selection``) or
    ``pls`` (``n_components``)."""
    H = halves.shape[0]
    valid = np.isfinite(halves).all(axis=(1, 2, 3))                              # (H, G)
    filled = np.where(np.isfinite(halves), halves, 0.0)
    targets = np.concatenate([Y[None], filled[:, 0], filled[:, 1]])              # (1 + 2H, N, S, G)
    preds = _map_predictions(X, targets, splits, mapping=mapping, n_components=n_components, alphas=alphas,
                             alpha_selection=alpha_selection, device=device)
    r_xy, r_xx, r_yy = [], [], []
    for pred, (_, te) in zip(preds, splits):                                     # pred (1 + 2H, n_te, S, G)
        r_xy.append(pearson(pred[0], Y[te], axis=0))
        r_xx.append(pearson(pred[1:1 + H], pred[1 + H:], axis=1))
        r_yy.append(pearson(halves[:, 0][:, te], halves[:, 1][:, te], axis=1))
    mask = np.where(valid, 1.0, np.nan)[:, None, None, :]
    r_xy = np.broadcast_to(np.stack(r_xy)[None], (H, len(splits)) + Y.shape[1:]) * mask
    return Consistency(r_xy, np.stack(r_xx, 1) * mask, np.stack(r_yy, 1) * mask)


def nayebi_consistency_chunked(X, Y, trials, halves, splits, *, budget_bytes: float = 2**30, **kw) -> Consistency:
    """``nayebi_consistency`` over many split-half seeds (brainmodel_utils draws 1000), a chunk of seeds at a time so
    that the half means and the maps' targets of one chunk stay within ``budget_bytes``. trials (R, N, S, G)."""
    from .ceiling import half_means

    n, s, g = Y.shape
    per_seed = 2 * n * s * g * 8 * 3                          # half means + the solver's float64 targets and predictions
    step = max(1, int(budget_bytes // per_seed))
    parts = []
    for lo in range(0, len(halves), step):
        chunk = np.stack([np.stack(h) for h in half_means(trials, halves[lo:lo + step])])   # (h, 2, N, S, G)
        parts.append(nayebi_consistency(X, Y, chunk, splits, **kw))
    return Consistency.concat(parts)


# ------------------------------------------------------------------------------------------- scoring
def score_features(features: dict, neural: NeuralData | Responses, meta: pd.DataFrame, *,
                   convention: str = "brainscore", regression: str = "per_bin", pairing: str = "matched",
                   static: bool = False, step_ms: float = 10.0, latency_offset_ms: float = 0.0,
                   n_splits: int | None = None, n_components: int = PLS_COMPONENTS, ceiling_splits: int | None = None,
                   splits=None, ridge_alpha: float | None = NAYEBI_RIDGE_ALPHA, alphas=DEFAULT_ALPHAS,
                   alpha_selection: str = "cv", device=None) -> pd.DataFrame:
    """Score every layer x model step against its paired neural bins, per region and site.

    ``features[layer]`` is (T, N, D) with N in the row order of ``meta`` (columns ``stimulus_id``, ``object``); the
    neural data are reordered to match. ``static``: the features are a static model's response (T = 1), scored
    against every bin. ``splits`` overrides the convention's train/test splits (list of (train_idx, test_idx) into
    meta's rows). ``neural`` may be prepared :class:`Responses` (e.g. with the ceiling of the ``noise_ceiling`` rule
    attached). ``ridge_alpha``: the nayebi convention's fixed ridge alpha; None searches ``alphas`` per site.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"neural.convention must be one of {CONVENTIONS}, got {convention!r}")
    if regression not in REGRESSIONS:
        raise ValueError(f"neural.regression must be one of {REGRESSIONS}, got {regression!r}")
    if regression == "span_time" and (pairing != "matched" or convention != "brainscore"):
        raise ValueError("neural.regression: span_time shares one Brain-Score PLS map across the matched (step, bin) "
                         "pairs; it needs neural.pairing: matched and neural.convention: brainscore")
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"stimulus metadata: missing column(s) {missing}; has {list(meta.columns)}")
    ids = meta["stimulus_id"].to_numpy()
    if isinstance(neural, NeuralData):
        neural = Responses.from_neural(neural.select(stimulus_ids=ids), convention,
                                       ceiling_splits or DEFAULT_CEILING_SPLITS[convention])
    resp = neural.select_stimuli(ids)
    n = len(meta)
    for layer, f in features.items():
        if np.ndim(f) != 3 or np.shape(f)[1] != n or (static and np.shape(f)[0] != 1):
            want = "(1" if static else "(T"
            raise ValueError(f"features[{layer!r}] must be {want}, N={n}, D), got shape {np.shape(f)}")
    if not np.isfinite(resp.mean).all():
        bad = resp.stimulus_ids[~np.isfinite(resp.mean).all(axis=(1, 2))]
        raise ValueError(f"neural data: no finite trial mean for stimulus_id(s) {list(bad[:5])}")
    if convention == "brainscore" and resp.ceiling_split is None:
        raise ValueError("brainscore convention: the responses carry no split-half ceiling")
    if splits is None:
        n_splits = n_splits or DEFAULT_N_SPLITS[convention]
        splits = (brainscore_splits(ids, meta["object"].to_numpy(), n_splits) if convention == "brainscore"
                  else random_splits(n, n_splits, 0.8))
    n_train = min(len(tr) for tr, _ in splits)
    nayebi_kw = dict(alphas=alphas if ridge_alpha is None else (ridge_alpha,), alpha_selection=alpha_selection,
                     device=device, mapping="pls" if convention == "nayebi_pls" else "ridge", n_components=n_components)

    regions = [(r, np.flatnonzero(resp.sites["region"].to_numpy() == r)) for r in sorted(resp.sites["region"].unique())]
    tables: dict = {}   # (region, layer) position -> row tables; concatenated region by region
    for li, (layer, feats) in enumerate(features.items()):
        pairs = ({0: list(range(len(resp.bins)))} if static
                 else step_bin_pairs(len(feats), resp.bins, step_ms, latency_offset_ms, pairing))
        # A layer narrower than the component count (e.g. the K-class readout) uses all its dimensions.
        k = min(n_components, np.shape(feats)[2], n_train)
        rows = dict(layer=layer, static=static, step_ms=step_ms, offset=latency_offset_ms, resp=resp)
        # (step, bin) pairs in order; matched unrolled features have one bin per step, static ones one step
        flat = [(t, b) for t, bins in pairs.items() for b in bins]
        batched = convention == "brainscore" and (regression == "span_time" or pairing == "matched" or static)
        if batched:
            steps, step_bins = [t for t, _ in flat], [b for _, b in flat]
            # a layer's steps go to the solver in one call (span_time: as one shared map); static features are
            # one matrix shared by every bin
            X = (np.asarray(feats[0]) if static and regression != "span_time"
                 else np.stack([np.asarray(feats[t]) for t in steps]))              # (N, P) or (G, N, P)
            fit = span_time_split_r if regression == "span_time" else pls_split_r
        for ri, (region, cols) in enumerate(regions):
            parts = tables.setdefault((ri, li), [])
            if batched:
                Y = np.moveaxis(resp.mean[:, cols][:, :, step_bins], 2, 0)        # (G, N, S)
                r_split = fit(X, Y, splits, k, device)                             # (F, G, S)
                parts.append(_brainscore_rows(steps, step_bins, r_split, cols, **rows))
                continue
            for t, bins in pairs.items():
                X = np.asarray(feats[t])
                if convention == "brainscore":
                    Y = np.moveaxis(resp.mean[:, cols][:, :, bins], 2, 0)
                    r_split = pls_split_r(X, Y, splits, k, device)                 # (F, G, S)
                    parts.append(_brainscore_rows([t] * len(bins), bins, r_split, cols, **rows))
                else:
                    c = nayebi_consistency_chunked(X, resp.mean[:, cols][:, :, bins],
                                                   resp.trials[:, :, cols][..., bins], resp.halves, splits,
                                                   **{**nayebi_kw, "n_components": k})
                    parts.append(_nayebi_rows(t, bins, c, cols, **rows))
    out = pd.concat([t for key in sorted(tables) for t in tables[key]], ignore_index=True)
    out["convention"] = convention
    out["regression"] = regression
    return out[OUTPUT_COLUMNS]


def _rows(steps, bins, cols, r, r_splits, ceiling, score, score_splits, *, layer, static, step_ms, offset, resp):
    """Long rows for G (step, bin) pairs x the region's S sites; value arrays are (G, S) or (F, G, S)."""
    g, s = r.shape
    start, end = step_interval(np.asarray(steps), step_ms, offset)
    if static:                                       # a static response has no time of its own
        start, end = np.full(g, np.nan), np.full(g, np.nan)
    b = resp.bins.iloc[bins]
    sites = resp.sites.iloc[cols]
    split_list = lambda v: list(v.reshape(len(v), -1).T)  # noqa: E731  (F, G, S) -> G*S arrays of F
    return pd.DataFrame({
        "layer": layer, "time_course": "static" if static else "unrolled", "model_step": np.repeat(steps, s),
        "model_time_ms": np.repeat(start, s).astype(float), "model_time_end_ms": np.repeat(end, s).astype(float),
        "region": np.tile(sites["region"].to_numpy(), g), "site": np.tile(sites["site"].to_numpy(), g),
        "time_bin_start_ms": np.repeat(b["time_bin_start_ms"].to_numpy(), s),
        "time_bin_end_ms": np.repeat(b["time_bin_end_ms"].to_numpy(), s),
        "r": r.ravel(), "r_splits": split_list(r_splits), "ceiling": ceiling.ravel(), "score": score.ravel(),
        "score_splits": split_list(score_splits),
    })


def _brainscore_rows(steps, bins, r_split, cols, **kw):
    resp = kw["resp"]
    r = r_split.mean(0)                                                         # (G, S)
    ceiling = np.nanmean(resp.ceiling_split[:, cols][:, :, bins], axis=0).T      # (G, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = r**2 / ceiling
        score_splits = r_split**2 / ceiling[None]
    return _rows(steps, bins, cols, r, r_split, ceiling, score, score_splits, **kw)


def _nayebi_rows(step, bins, c: Consistency, cols, **kw):
    import warnings

    with warnings.catch_warnings():
        # a site whose every half split was skipped, or a step whose features do not vary (r undefined), stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        r_split = np.moveaxis(np.nanmean(c.r_xy, axis=0), 2, 1)                 # (F, G, S)
        r = np.nanmean(r_split, 0)
        score_splits = np.moveaxis(np.nanmean(c.r_xy_n_sb, axis=0), 2, 1)       # (F, G, S)
        score = np.nanmean(c.r_xy_n_sb, axis=(0, 1)).T                           # (G, S)
        ceiling = np.nanmean(c.denom_sb, axis=(0, 1)).T
    return _rows([step] * len(bins), bins, cols, r, r_split, ceiling, score, score_splits, **kw)
