"""Region-level views of the site-level fits (docs/data_formats.md, "Neural predictivity"): one name per quantity.

- ``region_values``: per model x region x layer x (step, bin), the convention's region-level ``r``, ``ceiling``,
  ``score`` and their standard errors over the cross-validation splits.
- ``layer_table``: per model x region x layer, the selection scores (``convrnn.neural.selection``) and the layer(s)
  the model commits to the area (chosen on all images).
- ``time_course``: per model x region x bin, the papers' time course: each split's scores from the layer chosen on
  that split's training images (nested cross-validation), static models placed in time by ``presentation.feedforward``.

Region aggregate (Brain-Score's, for every convention): per split, the median over sites; ``r`` is the mean over
splits, ``r_sem`` their standard error. brainscore: ``ceiling`` is the same aggregate of the split-half ceilings
(mean over half splits of the median over sites), ``score = r**2 / ceiling`` (Brain-Score's explained_variance) and
``score_sem`` the spread over splits of (median r)**2 / ceiling. nayebi / nayebi_pls: ``score`` is the same
aggregate of the per-site noise-corrected r, ``ceiling`` the median over sites of their noise-correction denominator.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .placement import placed_layers
from .selection import ALL_IMAGES, ranked_layers

BIN_KEYS = ["time_bin_start_ms", "time_bin_end_ms"]
#: a bin whose region ceiling is below this carries no reliable stimulus-driven signal: r**2 / ceiling explodes there,
#: so the figures do not draw it and time averages leave it out
MIN_CEILING = 0.1
REGION_KEYS = ["model", "convention", "regression", "region", "layer", "layer_index", "time_course", "model_step",
               "model_time_ms", "model_time_end_ms", *BIN_KEYS]
VALUE_COLUMNS = ["r", "r_sem", "ceiling", "score", "score_sem", "n_sites"]


def _sem(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Standard error of the mean over splits, NaN skipped (NaN for fewer than two)."""
    v = np.asarray(values, float)
    n = np.isfinite(v).sum(axis)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.where(n > 1, np.nanstd(v, axis=axis, ddof=1) / np.sqrt(n), np.nan)


def _nanmedian(v: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # all-NaN slices (r undefined) stay NaN
        return np.nanmedian(v, axis=axis)


def _nanmean(v: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(v, axis=axis)


def region_ceilings(ceiling: pd.DataFrame) -> pd.Series:
    """Brain-Score's region ceiling per (region, bin): mean over half splits of the median over sites."""
    return ceiling.groupby(["region", *BIN_KEYS]).apply(
        lambda g: float(_nanmean(_nanmedian(np.stack(g["ceiling_splits"].to_numpy()), 0), 0)))


def aggregate(r_splits: np.ndarray, score_splits: np.ndarray, site_ceiling: np.ndarray, convention: str,
              region_ceiling: float = np.nan) -> dict:
    """Region values from per-site, per-split arrays (S, F) of one region, bin and layer (or layer per split)."""
    split_r = _nanmedian(r_splits, 0)                                   # (F,)
    r = float(_nanmean(split_r, 0)) if np.isfinite(split_r).any() else np.nan
    out = {"r": r, "r_sem": float(_sem(split_r))}
    if convention == "brainscore":
        with np.errstate(invalid="ignore", divide="ignore"):
            split_score = split_r**2 / region_ceiling
            out.update(ceiling=region_ceiling, score=r**2 / region_ceiling,
                       score_sem=float(_sem(split_r**2)) / abs(region_ceiling))
    else:
        split_score = _nanmedian(score_splits, 0)
        out.update(ceiling=float(_nanmedian(site_ceiling, 0)) if np.isfinite(site_ceiling).any() else np.nan,
                   score=float(_nanmean(split_score, 0)) if np.isfinite(split_score).any() else np.nan,
                   score_sem=float(_sem(split_score)))
    out["n_sites"] = int(r_splits.shape[0])
    out["score_splits"] = np.asarray(split_score, float)
    return out


def _site_arrays(g: pd.DataFrame):
    return (np.stack(g["r_splits"].to_numpy()), np.stack(g["score_splits"].to_numpy()),
            g["ceiling"].to_numpy(float))


def region_values(fits: pd.DataFrame, ceiling: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model x region x layer x (step, bin): ``r, r_sem, ceiling, score, score_sem, n_sites`` and ``matched``
    (the pair the papers' time course uses: the step's interval is the bin, or a static response)."""
    missing = [c for c in REGION_KEYS + ["site", "r_splits", "score_splits", "ceiling"] if c not in fits.columns]
    if missing:
        raise ValueError(f"fits: missing column(s) {missing}")
    ceilings = region_ceilings(ceiling) if ceiling is not None else None
    rows = []
    for key, g in fits.groupby(REGION_KEYS, sort=True, dropna=False):
        info = dict(zip(REGION_KEYS, key))
        rc = (ceilings.get((info["region"], info["time_bin_start_ms"], info["time_bin_end_ms"]), np.nan)
              if ceilings is not None else np.nan)
        vals = aggregate(*_site_arrays(g), info["convention"], rc)
        vals.pop("score_splits")
        rows.append({**info, **vals})
    out = pd.DataFrame(rows)
    out["matched"] = (out["time_course"] == "static") | (
        (out["model_time_ms"] == out["time_bin_start_ms"]) & (out["model_time_end_ms"] == out["time_bin_end_ms"]))
    return out


def layer_table(selection: pd.DataFrame, static: pd.Series, placement: str = "graded", graded_layers: int = 3
                ) -> pd.DataFrame:
    """Per model x region x layer: ``score`` (mean selection score over the outer splits' training images),
    ``score_sem``, ``score_all`` (on all images), ``rank`` (by ``score_all``), ``n_splits_chosen`` (outer splits
    whose best layer it is) and ``committed``: the layer(s) the model commits to the area (its best on all images;
    a static model placed ``graded``: its best ``graded_layers``, in depth order over time). ``static``: model ->
    whether its features are a static response."""
    rows = []
    for (model, region), g in selection.groupby(["model", "region"], sort=True):
        ranked = ranked_layers(g)
        best_per_split = [ranked[s][0] for s in ranked if s != ALL_IMAGES]
        k = graded_layers if (static.get(model, False) and placement == "graded") else 1
        committed = set(ranked[ALL_IMAGES][:k])
        for layer, lg in g.groupby("layer", sort=False):
            outer = lg.loc[lg["split"] != ALL_IMAGES, "score"].to_numpy(float)
            rows.append({"model": model, "region": region, "layer": layer,
                         "layer_index": int(lg["layer_index"].iloc[0]),
                         "responsive": bool(lg["responsive"].iloc[0]) if "responsive" in lg else True,
                         "score": float(_nanmean(outer, 0)) if np.isfinite(outer).any() else np.nan,
                         "score_sem": float(_sem(outer)),
                         "score_all": float(lg.loc[lg["split"] == ALL_IMAGES, "score"].iloc[0]),
                         "rank": ranked[ALL_IMAGES].index(layer) + 1,
                         "n_splits_chosen": best_per_split.count(layer),
                         "committed": layer in committed})
    return pd.DataFrame(rows).sort_values(["model", "region", "layer_index"], ignore_index=True)


def committed_layers(layers: pd.DataFrame, model: str, region: str) -> list[str]:
    """The layer(s) ``model`` commits to ``region``, in depth order."""
    rows = layers[(layers["model"] == model) & (layers["region"] == region) & layers["committed"]]
    if rows.empty:
        raise ValueError(f"layer table: no committed {region} layer for model {model!r}")
    return rows.sort_values("layer_index")["layer"].tolist()


def time_course(fits: pd.DataFrame, selection: pd.DataFrame, ceiling: pd.DataFrame | None = None, *,
                placement: str = "graded", graded_layers: int = 3) -> pd.DataFrame:
    """Per model x region x scored bin: the region values of the layer each split chose on its own training images
    (``selection``), static models' layers placed by ``placement``. ``layer``: the layer most splits used for the
    bin, ``layer_share``: the fraction of splits that used it; ``score_splits``: the score of each split."""
    ceilings = region_ceilings(ceiling) if ceiling is not None else None
    rows = []
    for (model, region), g in fits.groupby(["model", "region"], sort=True):
        static = bool((g["time_course"] == "static").all())
        place = placement if static else "unrolled"
        matched = g[(g["time_course"] == "static") | (g["model_time_ms"] == g["time_bin_start_ms"])]
        sel = selection[(selection["model"] == model) & (selection["region"] == region)]
        if sel.empty:
            raise ValueError(f"selection: no rows for model {model!r}, region {region!r}")
        ranked = ranked_layers(sel)
        depth = dict(zip(sel["layer"], sel["layer_index"]))
        bins = matched[BIN_KEYS].drop_duplicates().sort_values(BIN_KEYS).to_numpy()
        per_split = {f: placed_layers(ranked[f], depth, len(bins), place, graded_layers)
                     for f in ranked if f != ALL_IMAGES}
        cells = {k: v for k, v in matched.groupby(["layer", *BIN_KEYS], sort=False)}
        convention = g["convention"].iloc[0]
        for i, (start, end) in enumerate(bins):
            r_cols, s_cols, ceil_cols = [], [], []
            for f, layers in per_split.items():
                cell = cells.get((layers[i], start, end))
                if cell is None:
                    raise ValueError(f"fits of {model!r}: no {region} rows for layer {layers[i]!r} at [{start}, {end}) ms")
                r_s, s_s, c_s = _site_arrays(cell)
                r_cols.append(r_s[:, f])
                s_cols.append(s_s[:, f])
                ceil_cols.append(c_s)
            rc = ceilings.get((region, start, end), np.nan) if ceilings is not None else np.nan
            vals = aggregate(np.stack(r_cols, 1), np.stack(s_cols, 1), _nanmean(np.stack(ceil_cols), 0),
                             convention, rc)
            used = pd.Series([layers[i] for layers in per_split.values()]).value_counts()
            rows.append({"model": model, "convention": convention, "region": region, "time_bin_start_ms": start,
                         "time_bin_end_ms": end, "placement": place, "layer": used.index[0],
                         "layer_share": float(used.iloc[0] / len(per_split)), **vals})
    return pd.DataFrame(rows)


def time_averaged(course: pd.DataFrame, min_ceiling: float = MIN_CEILING) -> pd.DataFrame:
    """Per model x region: the time course's score averaged over its reliable bins (region ceiling >=
    ``min_ceiling``), per split, then ``score`` (mean over splits) and ``score_sem`` (standard error over splits);
    ``n_bins`` and the bins' span."""
    rows = []
    shown = course[course["ceiling"] >= min_ceiling]
    for (model, region), g in shown.groupby(["model", "region"], sort=True):
        per_split = _nanmean(np.stack(g["score_splits"].to_numpy()), 0)            # (F,)
        rows.append({"model": model, "region": region, "score": float(_nanmean(per_split, 0)),
                     "score_sem": float(_sem(per_split)), "n_bins": len(g),
                     "time_bin_start_ms": float(g["time_bin_start_ms"].min()),
                     "time_bin_end_ms": float(g["time_bin_end_ms"].max())})
    return pd.DataFrame(rows)
