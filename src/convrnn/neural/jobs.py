"""The bodies of the neural rules (``noise_ceiling``, ``neural_fit``, ``neural_summary``), callable from scripts and
benchmarks alike. They read the response table one time bin at a time and the features one layer at a time, so
memory stays at one bin's trials plus the trial means of the scored bins plus one layer's features (and every
layer's time average for the layer selection)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from convrnn.features.store import check_feature_images, feature_stimulus_ids
from convrnn.io import load_tensors, read_parquet, write_parquet

from .ceiling import split_half_reliability
from convrnn.data import responses as neural_data
from .defaults import PLS_COMPONENTS
from .placement import SELECTION_WINDOW_MS, in_window, steps_in_window
from .scoring import (DEFAULT_CEILING_SPLITS, NAYEBI_RIDGE_ALPHA, Responses, check_bins_pair, score_features,
                      step_bin_pairs)
from .selection import selection_scores

SELECTION_COLUMNS = ["model", "region", "layer", "layer_index", "responsive", "split", "score"]
SITE_LAYER_COLUMNS = ["model", "region", "site", "layer", "layer_index", "r"]
from .splits import brainscore_splits, random_splits
from .summary import layer_table, region_values, time_course

log = logging.getLogger(__name__)
READOUT_LAYERS = ("imnetds",)   # the readout's K logits are the task output, not a candidate for a cortical area
CEILING_COLUMNS = ["site", "region", "time_bin_start_ms", "time_bin_end_ms", "r_half", "ceiling", "ceiling_splits"]


def ceiling_table(neural: neural_data.NeuralData, ceiling_splits: int = 10) -> pd.DataFrame:
    """Brain-Score's internal_consistency per site and bin: ``ceiling_splits`` holds the Spearman-Brown corrected
    split-half r of every half split, ``ceiling`` their mean, ``r_half`` the mean uncorrected r."""
    sh = split_half_reliability(neural.trials, ceiling_splits)
    n_sites, n_bins = sh.ceiling.shape
    return pd.DataFrame({
        "site": np.repeat(neural.sites["site"].to_numpy(), n_bins),
        "region": np.repeat(neural.sites["region"].to_numpy(), n_bins),
        "time_bin_start_ms": np.tile(neural.bins["time_bin_start_ms"].to_numpy(), n_sites),
        "time_bin_end_ms": np.tile(neural.bins["time_bin_end_ms"].to_numpy(), n_sites),
        "r_half": sh.r_half.ravel(),
        "ceiling": sh.ceiling.ravel(),
        "ceiling_splits": list(sh.corrected.reshape(len(sh.r), -1).T),
    })[CEILING_COLUMNS]


def _window_bins(responses, window_ms) -> pd.DataFrame:
    bins = neural_data.response_bins(responses)
    keep = bins[in_window(bins, window_ms)].reset_index(drop=True)
    if keep.empty:
        raise ValueError(f"{responses}: no time bin lies in the scored window {list(window_ms)} ms (neural.window_ms); "
                         f"the data hold [{bins['time_bin_start_ms'].min()}, {bins['time_bin_end_ms'].max()}) ms")
    return keep


def _bins_to_read(responses, n_steps, step_ms, latency_offset_ms, pairing, window_ms=None, static=False):
    """The response table's bins that the fits score: those in the window, paired with a model step (unrolled
    features, matched pairing) or all of them (static features, or pairing 'all')."""
    bins = _window_bins(responses, window_ms)
    if pairing == "all" or static:
        return bins
    check_bins_pair(bins, n_steps, step_ms, latency_offset_ms, source=str(responses))
    keep = sorted(i for b in step_bin_pairs(n_steps, bins, step_ms, latency_offset_ms, pairing).values() for i in b)
    skipped = len(bins) - len(keep)
    if skipped:
        log.info("%d of %d time bins lie outside the model's %d steps and are not scored", skipped, len(bins), n_steps)
    return bins.iloc[keep].reset_index(drop=True)


def noise_ceiling_job(responses, meta, out, *, ceiling_splits=10, window_ms=None) -> pd.DataFrame:
    """Rule noise_ceiling: ``ceiling_table`` for every bin of the scored window, read bin by bin."""
    ids = read_parquet(meta, required=["stimulus_id"])["stimulus_id"].to_numpy()
    bins = _window_bins(responses, window_ms)
    parts = [ceiling_table(neural_data.NeuralData.from_parquet(responses, stimulus_ids=ids, bins=[b]), ceiling_splits)
             for b in bins.itertuples(index=False, name=None)]
    table = pd.concat(parts, ignore_index=True).sort_values(["site", "time_bin_start_ms"], ignore_index=True)
    write_parquet(table, out)
    return table


def outer_splits(stimulus_ids, objects, convention: str, n_splits: int):
    """The reported fits' train/test splits (and the sets the layer selection nests in)."""
    if convention == "brainscore":
        return brainscore_splits(stimulus_ids, objects, n_splits)
    return random_splits(len(stimulus_ids), n_splits, 0.8)


def neural_fit_job(features, index, responses, meta, out, *, model, selection_out, ceiling=None,
                   convention="brainscore", regression="per_bin", pairing="matched", n_splits=10, ceiling_splits=None,
                   pls_components=PLS_COMPONENTS, ridge_alpha=NAYEBI_RIDGE_ALPHA, step_ms=10.0, latency_offset_ms=0.0,
                   window_ms=None, selection_window_ms=SELECTION_WINDOW_MS, selection_folds=5, device=None,
                   site_layers_out=None) -> pd.DataFrame:
    """Rule neural_fit: ``score_features`` for every layer of one model's features (one layer in memory at a time)
    over the bins of ``window_ms``, and the layer selection (``convrnn.neural.selection``) on responses averaged
    over ``selection_window_ms``, nested in the same splits; writes the fits to ``out``, the selection scores to
    ``selection_out`` and each site's r per layer on the time-averaged responses (all images) to
    ``site_layers_out``.

    ``ceiling``: the noise_ceiling table; the brainscore convention takes its split-half values from there."""
    idx = read_parquet(index, required=["layer", "layer_index", "model_step"])
    ids = feature_stimulus_ids(features, model)
    meta_df = read_parquet(meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
    absent = pd.Index(ids).difference(meta_df.index)
    if len(absent):
        raise ValueError(f"{meta}: no metadata for feature stimulus_id(s) {list(absent[:5])}")
    meta_df = meta_df.loc[ids].reset_index()
    static = "time_course" in idx and (idx["time_course"] == "static").all()
    n_steps = int(idx["model_step"].max()) + 1
    ceiling_splits = ceiling_splits or DEFAULT_CEILING_SPLITS[convention]
    bins = _bins_to_read(responses, n_steps, step_ms, latency_offset_ms, pairing, window_ms, static)

    parts, means = [], {}
    for b in bins.itertuples(index=False, name=None):
        nd = neural_data.NeuralData.from_parquet(responses, stimulus_ids=ids, bins=[b])
        parts.append(Responses.from_neural(nd, convention, ceiling_splits, with_ceiling=False))
        means[b] = parts[-1].mean[:, :, 0]
    resp = Responses.concat_bins(parts)
    if convention == "brainscore":
        resp.attach_ceiling(read_parquet(ceiling, required=CEILING_COLUMNS), source=str(ceiling))
    target, sites = _selection_target(responses, ids, selection_window_ms, known=means)

    splits = outer_splits(np.asarray(ids), meta_df["object"].to_numpy(), convention, n_splits)
    sel_steps = np.arange(1) if static else steps_in_window(n_steps, selection_window_ms, step_ms, latency_offset_ms)
    if not len(sel_steps):
        raise ValueError(f"{features}: no model step lies in the selection window {list(selection_window_ms)} ms "
                         "(presentation.neural_times, presentation.latency_offset_ms)")
    # the steps the time course reads: a layer that stops responding to the images in one of them (the gray has
    # reached it and it has no memory) cannot stand for an area across the window
    course_steps = (np.arange(1) if static else steps_in_window(
        n_steps, (bins["time_bin_start_ms"].min(), bins["time_bin_end_ms"].max()), step_ms, latency_offset_ms))
    layers = idx.drop_duplicates("layer").sort_values("layer_index")
    tables, averaged, responsive = [], {}, {}
    for layer in layers["layer"]:
        if layer in READOUT_LAYERS:
            continue
        feats = load_tensors(features, keys=[layer])[layer]
        check_feature_images(features, layer, feats, ids)
        tables.append(score_features({layer: feats}, resp, meta_df, convention=convention, regression=regression,
                                     pairing=pairing, static=static, step_ms=step_ms,
                                     latency_offset_ms=latency_offset_ms, splits=splits, n_components=pls_components,
                                     ridge_alpha=ridge_alpha, device=device))
        averaged[layer] = np.asarray(feats[sel_steps], np.float64).mean(0)
        responsive[layer] = bool((np.ptp(feats[course_steps], axis=1).max(-1) > 0).all())
        log.info("%s: %s scored", model, layer)
    fits = pd.concat(tables, ignore_index=True)
    fits.insert(0, "model", model)
    depth = layers.set_index("layer")["layer_index"]
    fits.insert(2, "layer_index", fits["layer"].map(depth).astype("int32"))

    selection, site_layers = [], []
    for region in sorted(sites["region"].unique()):
        cols = np.flatnonzero(sites["region"].to_numpy() == region)
        sel, per_site = selection_scores(averaged, target[:, cols], meta_df["object"].to_numpy(), splits,
                                         regression="ridge" if convention == "nayebi" else "pls",
                                         n_components=pls_components, ridge_alpha=ridge_alpha,
                                         n_folds=selection_folds, device=device, per_site=True)
        selection.append(sel.assign(model=model, region=region))
        site_layers.append(per_site.assign(model=model, region=region,
                                           site=sites["site"].to_numpy()[cols][per_site["site"]]))
    selection = pd.concat(selection, ignore_index=True)
    selection["layer_index"] = selection["layer"].map(depth).astype("int32")
    selection["responsive"] = selection["layer"].map(responsive)
    site_layers = pd.concat(site_layers, ignore_index=True)
    site_layers["layer_index"] = site_layers["layer"].map(depth).astype("int32")
    if site_layers_out is not None:
        write_parquet(site_layers[SITE_LAYER_COLUMNS], site_layers_out)
    write_parquet(fits, out)
    write_parquet(selection[SELECTION_COLUMNS], selection_out)
    return fits


def _selection_target(responses, ids, window_ms, known=None):
    """(N, S) trial means averaged over the bins of the selection window, and the sites. ``known``: bin -> (N, S)
    trial means already read (the scored bins), which are not read again."""
    bins = _window_bins(responses, window_ms)
    total = None
    for b in bins.itertuples(index=False, name=None):
        m = (known or {}).get(b)
        if m is None:
            m = neural_data.NeuralData.from_parquet(responses, stimulus_ids=ids, bins=[b]).mean()[:, :, 0]
        total = m.astype(np.float64) if total is None else total + m
    return total / len(bins), neural_data.response_sites(responses)


def neural_summary_job(fits, selections, ceiling, out, *, layers_out, time_course_out, placement="graded",
                       graded_layers=3) -> pd.DataFrame:
    """Rule neural_summary: region values per layer x bin, the layer table and the time course of every model."""
    table = pd.concat([read_parquet(f, required=["model", "layer", "layer_index", "region", "site", "r_splits",
                                                  "score_splits"]) for f in fits], ignore_index=True)
    sel = pd.concat([read_parquet(f, required=["model", "region", "layer", "layer_index", "split", "score"])
                     for f in selections], ignore_index=True)
    ceil = read_parquet(ceiling, required=CEILING_COLUMNS)
    summary = region_values(table, ceil)
    static = pd.Series({m: bool((g["time_course"] == "static").all()) for m, g in table.groupby("model")})
    write_parquet(layer_table(sel, static, placement, graded_layers), layers_out)
    write_parquet(time_course(table, sel, ceil, placement=placement, graded_layers=graded_layers), time_course_out)
    write_parquet(summary, out)
    return summary
