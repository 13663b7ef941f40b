"""Rule object_solution_times: per-image solution time of a decoder on the model's top layer over time."""
import numpy as np
import pandas as pd

from convrnn.features import load_feature_set
from convrnn.io import read_parquet, write_parquet
from convrnn.neural import decode_over_time, i1_dprime, solution_times
from convrnn.neural.behavior import first_informative_step
from convrnn.workflow import setup_script

log = setup_script(snakemake)
p = snakemake.params
fs = load_feature_set(snakemake.input.features, snakemake.input.index)
meta = read_parquet(snakemake.input.meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
target = read_parquet(snakemake.input.behavior, required=["stimulus_id", "i1", "ost_ms"]).set_index("stimulus_id")
ids = [s for s in fs.stimulus_ids if s in target.index]
if not ids:
    raise ValueError(f"{snakemake.input.behavior}: no stimulus_id in common with {snakemake.input.features}")
rows = np.flatnonzero(np.isin(fs.stimulus_ids, ids))
# Kar2019 labels images by object (10 objects); the HvM-like sets by category.
label_col = "category" if meta["category"].notna().all() else "object"
names = meta.loc[ids, label_col].astype(str)
labels = pd.Categorical(names, categories=sorted(names.unique())).codes.astype(np.int64)

layers = fs.index.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
layer = p.behavior.get("layer", "top")
if layer == "top":
    layer = [l for l in layers if l != "imnetds"][-1]
feats = fs.features[layer][:, rows]
start = first_informative_step(feats)  # the image reaches this layer at `start`; earlier steps carry no stimulus
times_ms = np.arange(start, feats.shape[0]) * p.step_ms + p.latency_offset_ms
feats = feats[start:]
probs = decode_over_time(feats, labels, seed=p.seed)
i1 = np.stack([i1_dprime(pr, labels) for pr in probs])  # (T, N)
ost = solution_times(i1, target.loc[ids, "i1"].to_numpy(), times_ms)
table = pd.DataFrame({
    "model": snakemake.wildcards.model, "layer": layer, "stimulus_id": ids, "label": names.to_numpy(),
    "model_ost_ms": ost, "target_ost_ms": target.loc[ids, "ost_ms"].to_numpy(),
    "model_final_i1": i1[-1], "target_i1": target.loc[ids, "i1"].to_numpy(),
})
table["solved"] = np.isfinite(table["model_ost_ms"])
write_parquet(table, snakemake.output[0])
log.info("%s (%s, from step %d): %d/%d images solved", snakemake.wildcards.model, layer, start, int(table["solved"].sum()), len(table))
