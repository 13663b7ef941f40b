"""Neural predictivity of model features per layer x model step x neural time bin x site, in two conventions.

``"brainscore"`` (brainscore_vision ``pls`` + ``internal_consistency`` + ``explained_variance``): per region, a
PLSRegression(n_components=25, scale=False) on the trial means; 10 StratifiedShuffleSplit 90/10 splits by object
with random_state=1 (drawn over the stimuli sorted by stimulus_id); Pearson r per site on the test images. Per
site: r = mean over splits, ceiling = mean over half splits of the Spearman-Brown split-half r, score = r^2/ceiling.
Brain-Score's region score is computed from the per-split values: mean over splits of the median over sites of r,
squared, over the same aggregate of the ceiling (``brainscore_aggregate``; columns ``brainscore_*`` of the summary).
``regression="span_time"`` fits one PLS per region shared across the scored time bins (Brain-Score's
``spantime_pls``: bins stacked as extra samples, r per bin).

``"nayebi"`` (brainmodel_utils ``get_linregress_consistency``, sklearn Ridge map): per trial split-half h (seeds
1234..) and train/test split f (brainmodel_utils' random 80/20 permutations), maps are fitted to the full trial
mean and to each half; per site ``r_xy_n_sb = r(Yhat, Y) / sqrt(SB(r(Yhat1, Yhat2)) * SB(r(Y1, Y2)))`` on the test
images; a half split with a NaN half mean in the region is skipped, as brainmodel_utils skips it. Per site: score =
mean over (h, f); ceiling = mean denominator. The ridge alpha is chosen per site on the training images (inner CV or
GCV) unless a single alpha is given.

Both conventions are checked against the references' own outputs (tests/golden/, to <= 1e-4; see
docs/references.md, "Neural metrics"). Deviations, all options or edge cases: Brain-Score has no per-site ceiling (we
report the mean over half splits, NaN splits skipped) and cannot run at all when a stimulus has no trial in one half
(we give that site NaN for the split); brainmodel_utils draws 1000 split-half seeds and picks its map's
hyper-parameters offline (we use ``ceiling_splits`` seeds and choose the ridge alpha per site on the training images
by default; a single alpha reproduces its sklearn Ridge map exactly) and leaves the aggregation to the caller (mean
over seeds and splits, NaN skipped). Features that do not vary over the stimuli (a layer the image has not reached
yet, or has left) give r = NaN: the fit predicts the training mean, as sklearn's PLS can only predict one value (or
fails) there.

Model step t stands for the interval [t*step_ms + offset, (t+1)*step_ms + offset) ms after image onset (the
reference presentation: offset 0, one 10 ms step per edge). ``pairing="matched"`` scores a step only against the
neural bin of exactly that interval; ``pairing="all"`` scores every (step, bin) pair, which is how a planted neural
delay is found.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .ceiling import half_means, nayebi_half_indices, split_half_reliability
from .data import NeuralData
from .defaults import DEFAULT_ALPHAS, PLS_COMPONENTS
from .splits import brainscore_splits, random_splits
from .stats import pearson, spearman_brown

CONVENTIONS = ("brainscore", "nayebi")
REGRESSIONS = ("per_bin", "span_time")
PAIRINGS = ("matched", "all")
META_COLUMNS = ("stimulus_id", "object")
DEFAULT_N_SPLITS = {"brainscore": 10, "nayebi": 5}
OUTPUT_COLUMNS = ["layer", "model_step", "model_time_ms", "model_time_end_ms", "region", "site",
                  "time_bin_start_ms", "time_bin_end_ms", "r", "r_splits", "ceiling", "score", "convention",
                  "regression"]


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
    halves: np.ndarray | None = None         # nayebi: (H, 2, N, S, B) the two half means per split-half seed

    @classmethod
    def from_neural(cls, neural: NeuralData, convention: str, ceiling_splits: int = 10,
                    with_ceiling: bool = True) -> "Responses":
        out = cls(neural.mean(), neural.stimulus_ids, neural.sites, neural.bins)
        if convention == "brainscore" and with_ceiling:
            out.ceiling_split = split_half_reliability(neural.trials, ceiling_splits).corrected
        elif convention == "nayebi":
            halves = nayebi_half_indices(neural.trials.shape[0], ceiling_splits)
            out.halves = np.stack([np.stack(h) for h in half_means(neural.trials, halves)]).astype(np.float32)
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
                   pd.concat([p.bins for p in parts], ignore_index=True), cat("ceiling_split", 2), cat("halves", 4))

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
        halves = None if self.halves is None else self.halves[:, :, idx]
        return Responses(self.mean[idx], self.stimulus_ids[idx], self.sites, self.bins, self.ceiling_split, halves)


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
    return np.stack([pearson(p[0].reshape(G, len(te), -1), Y[:, te], axis=1) for p, (_, te) in zip(preds, splits)])


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


def nayebi_consistency(X, Y, halves, splits, alphas=DEFAULT_ALPHAS, alpha_selection="cv", device=None) -> Consistency:
    """X (N, P); Y (N, S, G) trial means; halves (H, 2, N, S, G). Half splits with a NaN half mean are NaN."""
    from .solvers import ridge_cv

    H = halves.shape[0]
    valid = np.isfinite(halves).all(axis=(1, 2, 3))                              # (H, G)
    filled = np.where(np.isfinite(halves), halves, 0.0)
    targets = np.concatenate([Y[None], filled[:, 0], filled[:, 1]])              # (1 + 2H, N, S, G)
    shape = targets.shape
    fit = ridge_cv(X, np.moveaxis(targets, 1, 0).reshape(shape[1], -1), splits, alphas,
                   alpha_selection=alpha_selection, device=device)
    r_xy, r_xx, r_yy = [], [], []
    for pred, (_, te) in zip(fit.predictions, splits):
        pred = np.moveaxis(pred.reshape(len(te), *shape[:1], *shape[2:]), 0, 1)   # (1 + 2H, n_te, S, G)
        r_xy.append(pearson(pred[0], Y[te], axis=0))
        r_xx.append(pearson(pred[1:1 + H], pred[1 + H:], axis=1))
        r_yy.append(pearson(halves[:, 0][:, te], halves[:, 1][:, te], axis=1))
    mask = np.where(valid, 1.0, np.nan)[:, None, None, :]
    r_xy = np.broadcast_to(np.stack(r_xy)[None], (H, len(splits)) + shape[2:]) * mask
    return Consistency(r_xy, np.stack(r_xx, 1) * mask, np.stack(r_yy, 1) * mask)


# ------------------------------------------------------------------------------------------- scoring
def score_features(features: dict, neural: NeuralData | Responses, meta: pd.DataFrame, *,
                   convention: str = "brainscore", regression: str = "per_bin", pairing: str = "matched",
                   step_ms: float = 10.0, latency_offset_ms: float = 0.0, n_splits: int | None = None,
                   n_components: int = PLS_COMPONENTS, ceiling_splits: int = 10, splits=None, alphas=DEFAULT_ALPHAS,
                   alpha_selection: str = "cv", device=None) -> pd.DataFrame:
    """Score every layer x model step against its paired neural bins, per region and site.

    ``features[layer]`` is (T, N, D) with N in the row order of ``meta`` (columns ``stimulus_id``, ``object``); the
    neural data are reordered to match. ``splits`` overrides the convention's train/test splits (list of
    (train_idx, test_idx) into meta's rows). ``neural`` may be prepared :class:`Responses` (e.g. with the ceiling
    of the ``noise_ceiling`` rule attached).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"neural.convention must be one of {CONVENTIONS}, got {convention!r}")
    if regression not in REGRESSIONS:
        raise ValueError(f"neural.regression must be one of {REGRESSIONS}, got {regression!r}")
    if regression == "span_time" and pairing != "matched":
        raise ValueError("neural.regression: span_time shares one map across the matched (step, bin) pairs; "
                         "it needs neural.pairing: matched")
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"stimulus metadata: missing column(s) {missing}; has {list(meta.columns)}")
    ids = meta["stimulus_id"].to_numpy()
    if isinstance(neural, NeuralData):
        neural = Responses.from_neural(neural.select(stimulus_ids=ids), convention, ceiling_splits)
    resp = neural.select_stimuli(ids)
    n = len(meta)
    for layer, f in features.items():
        if np.ndim(f) != 3 or np.shape(f)[1] != n:
            raise ValueError(f"features[{layer!r}] must be (T, N={n}, D), got shape {np.shape(f)}")
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

    regions = [(r, np.flatnonzero(resp.sites["region"].to_numpy() == r)) for r in sorted(resp.sites["region"].unique())]
    batched = regression == "span_time" or (convention == "brainscore" and pairing == "matched")
    tables: dict = {}   # (region, layer) position -> row tables; concatenated region by region
    for li, (layer, feats) in enumerate(features.items()):
        pairs = step_bin_pairs(len(feats), resp.bins, step_ms, latency_offset_ms, pairing)
        # A layer narrower than the component count (e.g. the K-class readout) uses all its dimensions.
        k = min(n_components, np.shape(feats)[2], n_train)
        if batched:
            # one bin per step: a layer's steps go to the solver in one call (span_time: as one shared map); the
            # stacked features serve every region
            steps = sorted(pairs)
            step_bins = [pairs[t][0] for t in steps]
            X = np.stack([np.asarray(feats[t]) for t in steps])                   # (G, N, P)
            fit = span_time_split_r if regression == "span_time" else pls_split_r
        for ri, (region, cols) in enumerate(regions):
            parts = tables.setdefault((ri, li), [])
            if batched:
                Y = np.moveaxis(resp.mean[:, cols][:, :, step_bins], 2, 0)        # (G, N, S)
                r_split = fit(X, Y, splits, k, device)                             # (F, G, S)
                parts.append(_brainscore_rows(layer, steps, step_bins, r_split, resp, cols, step_ms,
                                              latency_offset_ms))
                continue
            for t, bins in pairs.items():
                X = np.asarray(feats[t])
                if convention == "brainscore":
                    Y = np.moveaxis(resp.mean[:, cols][:, :, bins], 2, 0)
                    r_split = pls_split_r(X, Y, splits, k, device)                 # (F, G, S)
                    parts.append(_brainscore_rows(layer, [t] * len(bins), bins, r_split, resp, cols, step_ms,
                                                  latency_offset_ms))
                else:
                    c = nayebi_consistency(X, resp.mean[:, cols][:, :, bins], resp.halves[:, :, :, cols][..., bins],
                                           splits, alphas, alpha_selection, device)
                    parts.append(_nayebi_rows(layer, t, bins, c, resp, cols, step_ms, latency_offset_ms))
    out = pd.concat([t for key in sorted(tables) for t in tables[key]], ignore_index=True)
    out["convention"] = convention
    out["regression"] = regression
    return out[OUTPUT_COLUMNS]


def _rows(layer, steps, bins, resp, cols, step_ms, offset, r, r_splits, ceiling, score):
    """Long rows for G (step, bin) pairs x the region's S sites; value arrays are (G, S) or (F, G, S)."""
    g, s = r.shape
    start, end = step_interval(np.asarray(steps), step_ms, offset)
    b = resp.bins.iloc[bins]
    sites = resp.sites.iloc[cols]
    return pd.DataFrame({
        "layer": layer, "model_step": np.repeat(steps, s), "model_time_ms": np.repeat(start, s).astype(float),
        "model_time_end_ms": np.repeat(end, s).astype(float),
        "region": np.tile(sites["region"].to_numpy(), g), "site": np.tile(sites["site"].to_numpy(), g),
        "time_bin_start_ms": np.repeat(b["time_bin_start_ms"].to_numpy(), s),
        "time_bin_end_ms": np.repeat(b["time_bin_end_ms"].to_numpy(), s),
        "r": r.ravel(), "r_splits": list(r_splits.reshape(len(r_splits), -1).T),
        "ceiling": ceiling.ravel(), "score": score.ravel(),
    })


def _brainscore_rows(layer, steps, bins, r_split, resp, cols, step_ms, offset):
    r = r_split.mean(0)                                                         # (G, S)
    ceiling = np.nanmean(resp.ceiling_split[:, cols][:, :, bins], axis=0).T      # (G, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = r**2 / ceiling
    return _rows(layer, steps, bins, resp, cols, step_ms, offset, r, r_split, ceiling, score)


def _nayebi_rows(layer, step, bins, c: Consistency, resp, cols, step_ms, offset):
    import warnings

    with warnings.catch_warnings():
        # a site whose every half split was skipped, or a step whose features do not vary (r undefined), stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        r_split = np.moveaxis(np.nanmean(c.r_xy, axis=0), 2, 1)                 # (F, G, S)
        r = np.nanmean(r_split, 0)
        score = np.nanmean(c.r_xy_n_sb, axis=(0, 1)).T                           # (G, S)
        ceiling = np.nanmean(c.denom_sb, axis=(0, 1)).T
    return _rows(layer, [step] * len(bins), bins, resp, cols, step_ms, offset, r, r_split, ceiling, score)


# ------------------------------------------------------------------------------------------- summary
SUMMARY_KEYS = ["convention", "regression", "region", "layer", "model_step", "model_time_ms", "model_time_end_ms",
                "time_bin_start_ms", "time_bin_end_ms"]


def summarize(scores: pd.DataFrame, ceiling: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per region x layer x step x bin: medians over sites of ``r, ceiling, score`` and ``n_sites``; for the
    brainscore convention also Brain-Score's own aggregate ``brainscore_r`` (mean over splits of the median over
    sites), ``brainscore_ceiling`` (the same over the half splits of ``ceiling``, a ``noise_ceiling`` table) and
    ``brainscore_score = brainscore_r**2 / brainscore_ceiling``. ``region_r`` / ``region_score``: the convention's
    region-level r and score (brainscore: ``brainscore_r`` / ``brainscore_score``; nayebi: the medians over sites of
    r and of the noise-corrected r); ``region_r_sem`` / ``region_score_sem``: their standard errors over the
    cross-validation splits (error bars of the figures)."""
    missing = [c for c in SUMMARY_KEYS + ["site", "r", "r_splits", "ceiling", "score"] if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}")
    groups = scores.groupby(SUMMARY_KEYS, sort=True)
    out = groups.agg(r=("r", "median"), ceiling=("ceiling", "median"), score=("score", "median"),
                     n_sites=("site", "nunique")).reset_index()
    # per split, the median over sites of r: Brain-Score's aggregate is their mean, its error their spread
    split_medians = [np.nanmedian(np.stack(g["r_splits"].to_numpy()), axis=0) for _, g in groups]
    out["brainscore_r"] = [np.nanmean(m) for m in split_medians]
    out["region_r_sem"] = [_sem(m) for m in split_medians]
    out["brainscore_ceiling"] = np.nan
    if ceiling is not None:
        per_split = ceiling.groupby(["region", "time_bin_start_ms", "time_bin_end_ms"]).apply(
            lambda g: brainscore_aggregate(np.stack(g["ceiling_splits"].to_numpy()).T[:, :, None])[0])
        key = pd.MultiIndex.from_frame(out[["region", "time_bin_start_ms", "time_bin_end_ms"]])
        out["brainscore_ceiling"] = per_split.reindex(key).to_numpy()
    bs = out["convention"] == "brainscore"
    out.loc[~bs, ["brainscore_r", "brainscore_ceiling"]] = np.nan
    out["brainscore_score"] = out["brainscore_r"] ** 2 / out["brainscore_ceiling"]
    out["region_r"] = np.where(bs, out["brainscore_r"], out["r"])
    out["region_score"] = np.where(bs, out["brainscore_score"], out["score"])
    # brainscore: the spread over splits of median_r**2 / ceiling; nayebi: r's spread scaled as score / r
    bs_sem = [_sem(m**2) for m in split_medians] / out["brainscore_ceiling"].abs()
    out["region_score_sem"] = np.where(bs, bs_sem, out["region_r_sem"] * (out["score"] / out["r"]).abs())
    return out


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean over splits (NaN for fewer than two)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
