"""The bodies of the neural rules (``noise_ceiling``, ``neural_fit``, ``neural_summary``), callable from scripts and
benchmarks alike. They read the response table one time bin at a time and the features one layer at a time, so
memory stays at one bin's trials plus the trial means of the scored bins plus one layer's features."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from convrnn.io import load_tensors, read_parquet, tensor_metadata, write_parquet

from .ceiling import split_half_reliability
from . import data as neural_data
from .scoring import Responses, check_bins_pair, score_features, step_bin_pairs
from .defaults import PLS_COMPONENTS
from .summary import summarize_models

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


def _bins_to_read(responses, n_steps, step_ms, latency_offset_ms, pairing):
    """The response table's bins that the fits pair with model steps (all bins for pairing 'all')."""
    bins = neural_data.response_bins(responses)
    if pairing == "all":
        return bins
    check_bins_pair(bins, n_steps, step_ms, latency_offset_ms, source=str(responses))
    keep = sorted(i for b in step_bin_pairs(n_steps, bins, step_ms, latency_offset_ms, pairing).values() for i in b)
    skipped = len(bins) - len(keep)
    if skipped:
        log.info("%d of %d time bins lie outside the model's %d steps and are not scored", skipped, len(bins), n_steps)
    return bins.iloc[keep].reset_index(drop=True)


def noise_ceiling_job(responses, meta, out, *, ceiling_splits=10, n_steps=None, step_ms=10.0, latency_offset_ms=0.0,
                      pairing="matched") -> pd.DataFrame:
    """Rule noise_ceiling: ``ceiling_table`` for every bin that neural_fit scores, read bin by bin."""
    ids = read_parquet(meta, required=["stimulus_id"])["stimulus_id"].to_numpy()
    bins = (neural_data.response_bins(responses) if n_steps is None
            else _bins_to_read(responses, n_steps, step_ms, latency_offset_ms, pairing))
    parts = [ceiling_table(neural_data.NeuralData.from_parquet(responses, stimulus_ids=ids, bins=[b]), ceiling_splits)
             for b in bins.itertuples(index=False, name=None)]
    table = pd.concat(parts, ignore_index=True).sort_values(["site", "time_bin_start_ms"], ignore_index=True)
    write_parquet(table, out)
    return table


def neural_fit_job(features, index, responses, meta, out, *, model, ceiling=None, convention="brainscore",
                   regression="per_bin", pairing="matched", n_splits=10, ceiling_splits=10,
                   pls_components=PLS_COMPONENTS, step_ms=10.0, latency_offset_ms=0.0, device=None) -> pd.DataFrame:
    """Rule neural_fit: ``score_features`` for every layer of one model's features (one layer in memory at a time).

    ``ceiling``: the noise_ceiling table; the brainscore convention takes its split-half values from there."""
    idx = read_parquet(index, required=["layer", "layer_index", "model_step"])
    stored = tensor_metadata(features)
    if "stimulus_ids" not in stored:
        raise ValueError(f"{features}: no 'stimulus_ids' in the safetensors metadata")
    ids = json.loads(stored["stimulus_ids"])
    meta_df = read_parquet(meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
    absent = pd.Index(ids).difference(meta_df.index)
    if len(absent):
        raise ValueError(f"{meta}: no metadata for feature stimulus_id(s) {list(absent[:5])}")
    meta_df = meta_df.loc[ids].reset_index()
    n_steps = int(idx["model_step"].max()) + 1
    bins = _bins_to_read(responses, n_steps, step_ms, latency_offset_ms, pairing)

    parts = []
    for b in bins.itertuples(index=False, name=None):
        nd = neural_data.NeuralData.from_parquet(responses, stimulus_ids=ids, bins=[b])
        parts.append(Responses.from_neural(nd, convention, ceiling_splits, with_ceiling=False))
    resp = Responses.concat_bins(parts)
    if convention == "brainscore":
        resp.attach_ceiling(read_parquet(ceiling, required=CEILING_COLUMNS), source=str(ceiling))

    layers = idx.drop_duplicates("layer").sort_values("layer_index")
    tables = []
    for layer in layers["layer"]:
        if layer in READOUT_LAYERS:
            continue
        feats = load_tensors(features, keys=[layer])[layer]
        tables.append(score_features({layer: feats}, resp, meta_df, convention=convention, regression=regression,
                                     pairing=pairing, step_ms=step_ms, latency_offset_ms=latency_offset_ms,
                                     n_splits=n_splits, n_components=pls_components, ceiling_splits=ceiling_splits,
                                     device=device))
        log.info("%s: %s scored", model, layer)
    fits = pd.concat(tables, ignore_index=True)
    fits.insert(0, "model", model)
    fits.insert(2, "layer_index", fits["layer"].map(layers.set_index("layer")["layer_index"]).astype("int32"))
    write_parquet(fits, out)
    return fits


def neural_summary_job(fits, ceiling, out) -> pd.DataFrame:
    """Rule neural_summary: ``summarize_models`` over every model's fits, with Brain-Score's region aggregate."""
    table = pd.concat([read_parquet(f, required=["model", "layer", "layer_index", "region", "site", "score"])
                       for f in fits], ignore_index=True)
    summary = summarize_models(table, read_parquet(ceiling, required=CEILING_COLUMNS))
    write_parquet(summary, out)
    return summary
