"""Rule object_solution_times: per-image solution time of a decoder on the model's top layer over time."""
import numpy as np
import pandas as pd

from convrnn.features import load_feature_set
from convrnn.io import read_parquet, write_parquet
from convrnn.neural.behavior import model_solution_times
from convrnn.workflow import setup_script

log = setup_script(snakemake)
p = snakemake.params
fs = load_feature_set(snakemake.input.features, snakemake.input.index)
meta = read_parquet(snakemake.input.meta, required=["stimulus_id", "category"]).set_index("stimulus_id").loc[fs.stimulus_ids]
target = read_parquet(snakemake.input.behavior, required=["stimulus_id", "i1", "ost_ms"]).set_index("stimulus_id")
layers = fs.index.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
layer = p.behavior.get("layer", "top")
if layer == "top":
    layer = [l for l in layers if l != "imnetds"][-1]
feats = fs.features[layer]
keep = np.isin(fs.stimulus_ids, target.index)
times_ms = np.arange(feats.shape[0]) * p.step_ms + p.latency_offset_ms
ids = np.asarray(fs.stimulus_ids)[keep]
ost = model_solution_times(
    feats[:, keep], meta.loc[ids, "category"].to_numpy(), target.loc[ids, "i1"].to_numpy(), times_ms, seed=p.seed
)
table = pd.DataFrame({
    "model": snakemake.wildcards.model, "layer": layer, "stimulus_id": ids,
    "model_ost_ms": ost, "target_ost_ms": target.loc[ids, "ost_ms"].to_numpy(),
    "target_i1": target.loc[ids, "i1"].to_numpy(),
})
table["solved"] = np.isfinite(table["model_ost_ms"])
write_parquet(table, snakemake.output[0])
log.info("%s: %d/%d images solved", snakemake.wildcards.model, int(table["solved"].sum()), len(table))
