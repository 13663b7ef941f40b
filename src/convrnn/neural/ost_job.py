"""The body of rule ``object_solution_times``, callable from its script and from benchmarks alike."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from convrnn.feature_sets import load_feature_set
from convrnn.io import read_parquet, write_parquet

from .behavior import BRAINSCORE_DECODER_C, decode_over_time, first_informative_step, i1_dprime, solution_times

log = logging.getLogger(__name__)


def object_solution_times_job(features, index, meta, behavior, out, *, model, layer="top", step_ms=10.0,
                              latency_offset_ms=0.0, seed=0, decoder_c=BRAINSCORE_DECODER_C) -> pd.DataFrame:
    """Per-image solution time of a decoder on one layer (``top``: the last non-readout layer) over model time,
    against the primate ``behavior`` table (``stimulus_id, i1, ost_ms``). ``decoder_c``: the decoder's inverse L2
    strength (see :func:`decode_over_time`)."""
    fs = load_feature_set(features, index)
    meta = read_parquet(meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
    target = read_parquet(behavior, required=["stimulus_id", "i1", "ost_ms"]).set_index("stimulus_id")
    ids = [s for s in fs.stimulus_ids if s in target.index]
    if not ids:
        raise ValueError(f"{behavior}: no stimulus_id in common with {features}")
    rows = np.flatnonzero(np.isin(fs.stimulus_ids, ids))
    # Kar2019 labels images by object (10 objects); the HvM-like sets by category.
    label_col = "category" if "category" in meta and meta["category"].notna().all() else "object"
    names = meta.loc[ids, label_col].astype(str)
    labels = pd.Categorical(names, categories=sorted(names.unique())).codes.astype(np.int64)

    layers = fs.index.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    if layer == "top":
        layer = [l for l in layers if l != "imnetds"][-1]
    feats = fs.features[layer][:, rows]
    start = first_informative_step(feats)  # the image reaches this layer at `start`; earlier steps carry no stimulus
    times_ms = np.arange(start, feats.shape[0]) * step_ms + latency_offset_ms
    probs = decode_over_time(feats[start:], labels, C=decoder_c, seed=seed)
    i1 = np.stack([i1_dprime(pr, labels) for pr in probs])  # (T, N)
    ost = solution_times(i1, target.loc[ids, "i1"].to_numpy(), times_ms)
    table = pd.DataFrame({
        "model": model, "layer": layer, "stimulus_id": ids, "label": names.to_numpy(),
        "model_ost_ms": ost, "target_ost_ms": target.loc[ids, "ost_ms"].to_numpy(),
        "model_final_i1": i1[-1], "target_i1": target.loc[ids, "i1"].to_numpy(),
    })
    table["solved"] = np.isfinite(table["model_ost_ms"])
    write_parquet(table, out)
    log.info("%s (%s, from step %d): %d/%d images solved", model, layer, start, int(table["solved"].sum()), len(table))
    return table
