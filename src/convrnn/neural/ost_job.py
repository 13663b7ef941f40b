"""The body of rule ``object_solution_times``, callable from its script and from benchmarks alike.

The decoded layer is the one the model commits to IT (``convrnn.neural.selection``: fitted to temporally averaged IT
responses, as NC 2022 Fig. 3 identifies "the IT-preferred layer(s)"); its features meet the convention's 10 ms bins
one-to-one for a ConvRNN (step t <-> [10t, 10t+10) ms), and through ``presentation.feedforward`` for a static model
(graded: its preferred layers over successive shares of the bins; ``convrnn.neural.placement``).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from convrnn.features.store import load_feature_set
from convrnn.io import read_parquet, write_parquet

from .behavior import KAR2019_CEILING
from .placement import placed_layers
from .selection import ALL_IMAGES, ranked_layers

log = logging.getLogger(__name__)
DEFAULT_CLASSIFIERS = {"brainscore": "torch", "nayebi2022": "svm"}   # Brain-Score's TF decoder (ported); NC 2022's SVM
PER_IMAGE_COLUMNS = ["model", "convention", "stimulus_id", "label", "n_test", "n_solved", "model_ost_ms",
                     "model_ost_sem_ms", "target_ost_ms", "target_i1", "solved"]


def convention_bins(convention: str) -> np.ndarray:
    """Start (ms) of the 10 ms bins a convention decodes: Brain-Score's Kar2019 benchmark 70-250, NC 2022 70-260."""
    from .ost import KAR2019_BINS_MS, NAYEBI2022_BINS_MS

    return {"brainscore": KAR2019_BINS_MS, "nayebi2022": NAYEBI2022_BINS_MS}[convention]


def bin_layers(selection: pd.DataFrame, static: bool, n_bins: int, *, region: str = "IT", placement: str = "graded",
               graded_layers: int = 3) -> list[str]:
    """Per bin, the layer decoded: the model's committed layer for ``region`` (chosen on all images), a static model's
    placed by ``placement``."""
    sel = selection[selection["region"] == region]
    if sel.empty:
        raise ValueError(f"layer selection: no {region} rows (the OST decoder reads the model's {region} layer)")
    ranked = ranked_layers(sel)[ALL_IMAGES]
    depth = dict(zip(sel["layer"], sel["layer_index"]))
    return placed_layers(ranked, depth, n_bins, placement if static else "unrolled", graded_layers)


def bin_features(fs, rows: np.ndarray, layers: list[str], bins_ms: np.ndarray, *, step_ms: float = 10.0,
                 latency_offset_ms: float = 0.0) -> np.ndarray:
    """(B, N, D) features of the bins: bin b from ``layers[b]``, at the model step whose interval is the bin (unrolled
    features) or the static response. Layers of different widths are zero-padded (a z-scored zero column is 0)."""
    static = bool((fs.index.get("time_course", pd.Series(["unrolled"])) == "static").all())
    n_steps = next(iter(fs.features.values())).shape[0]
    parts = []
    for layer, start in zip(layers, bins_ms):
        if static:
            t = 0
        else:
            k = (start - latency_offset_ms) / step_ms
            if not float(k).is_integer() or not 0 <= k < n_steps:
                raise ValueError(f"OST bin [{start:g}, {start + step_ms:g}) ms is not one of the model's {n_steps} steps "
                                 f"(presentation.neural_times, presentation.latency_offset_ms)")
            t = int(k)
        parts.append(np.asarray(fs.features[layer][t][rows], np.float64))
    width = max(p.shape[1] for p in parts)
    out = np.zeros((len(parts), len(rows), width))
    for b, p in enumerate(parts):
        out[b, :, :p.shape[1]] = p
    return out


def object_solution_times_job(features, index, meta, behavior, selection, out, *, scores_out, model,
                              conventions=("brainscore",), classifiers=None, placement="graded", graded_layers=3,
                              step_ms=10.0, latency_offset_ms=0.0, ceiling=KAR2019_CEILING) -> pd.DataFrame:
    """Per-image object solution times of one model against the primate ``behavior`` table (``stimulus_id, i1,
    ost_ms``), for each convention (``brainscore``: Brain-Score's OSTCorrelation; ``nayebi2022``: NC 2022 Fig. 3);
    writes the per-image table to ``out`` and one score row per convention to ``scores_out``. ``classifiers``:
    convention -> decoder name (``convrnn.neural.ost_classifier.make_classifier``)."""
    from .ost import object_solution_times
    from .ost_classifier import make_classifier

    fs = load_feature_set(features, index, model=model)
    meta = read_parquet(meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
    target = read_parquet(behavior, required=["stimulus_id", "i1", "ost_ms"]).set_index("stimulus_id")
    sel = read_parquet(selection, required=["region", "layer", "layer_index", "split", "score"])
    ids = [s for s in fs.stimulus_ids if s in target.index]
    if not ids:
        raise ValueError(f"{behavior}: no stimulus_id in common with {features}")
    missing = pd.Index(ids).difference(meta.index)
    if len(missing):
        raise ValueError(f"{meta}: no metadata for stimulus_id(s) {list(missing[:5])}")
    rows = np.flatnonzero(np.isin(fs.stimulus_ids, ids))
    ids = list(np.asarray(fs.stimulus_ids)[rows])
    # Kar2019 labels images by object (10 objects); the HvM-like sets by category.
    label_col = "category" if "category" in meta and meta["category"].notna().all() else "object"
    names = meta.loc[ids, label_col].astype(str)
    labels = pd.Categorical(names, categories=sorted(names.unique())).codes.astype(np.int64)
    static = bool((fs.index.get("time_course", pd.Series(["unrolled"])) == "static").all())
    classifiers = {**DEFAULT_CLASSIFIERS, **(classifiers or {})}

    tables, scores = [], []
    for convention in conventions:
        bins = convention_bins(convention)
        layers = bin_layers(sel, static, len(bins), placement=placement, graded_layers=graded_layers)
        feats = bin_features(fs, rows, layers, bins, step_ms=step_ms, latency_offset_ms=latency_offset_ms)
        res = object_solution_times(feats, labels, np.asarray(ids), target.loc[ids, "i1"].to_numpy(),
                                    target.loc[ids, "ost_ms"].to_numpy(), bins, convention=convention,
                                    classifier=make_classifier(classifiers[convention]))
        table = res.per_image().assign(model=model, convention=convention, label=names.to_numpy(),
                                       target_i1=target.loc[ids, "i1"].to_numpy())
        table["solved"] = np.isfinite(table["model_ost_ms"])
        tables.append(table[PER_IMAGE_COLUMNS])
        used = pd.Series(layers)
        row = {"model": model, **res.summary(), "classifier": classifiers[convention],
               "placement": placement if static else "unrolled",
               "layers": ",".join(dict.fromkeys(layers)), "bin_start_ms": float(bins[0]),
               "bin_end_ms": float(bins[-1] + step_ms)}
        # Brain-Score's Kar2019 score: the split-mean rho over its fixed ceiling (0.79)
        row.update(ceiling=ceiling if convention == "brainscore" else np.nan,
                   score=res.rho / ceiling if convention == "brainscore" else np.nan)
        scores.append(row)
        log.info("%s %s (%s): rho %.3f +- %.3f, %d/%d images solved", model, convention, used.unique().tolist(),
                 res.rho, res.rho_sem, int(table["solved"].sum()), len(table))
    per_image = pd.concat(tables, ignore_index=True)
    write_parquet(pd.DataFrame(scores), scores_out)
    write_parquet(per_image, out)
    return per_image
