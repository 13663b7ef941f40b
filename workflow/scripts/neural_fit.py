"""Rule neural_fit: cross-validated predictivity per layer x model step x neural bin x site."""
from convrnn.features import load_feature_set
from convrnn.io import read_parquet, write_parquet
from convrnn.neural import NeuralData, random_splits, score_features, stratified_splits
from convrnn.pipeline import resolve_device
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
fs = load_feature_set(snakemake.input.features, snakemake.input.index)
meta = read_parquet(snakemake.input.meta, required=["stimulus_id", "object"]).set_index("stimulus_id")
meta = meta.loc[fs.stimulus_ids].reset_index()
neural = NeuralData.from_long(read_parquet(snakemake.input.responses), stimulus_ids=fs.stimulus_ids)
convention, n_splits = p.neural["convention"], p.neural["n_splits"]
# Brain-Score: 90/10 splits stratified by object; Nayebi (brainmodel_utils): random 80/20 splits.
splits = (stratified_splits(meta["object"].to_numpy(), n_splits, 0.9, p.seed) if convention == "brainscore"
          else random_splits(len(meta), n_splits, 0.8, p.seed))
# The readout's K logits are the task output, not a candidate for a cortical area.
features = {layer: f for layer, f in fs.features.items() if layer != "imnetds"}
fits = score_features(
    features, neural, meta, convention=convention, splits=splits, pairing=p.neural["pairing"],
    step_ms=p.step_ms, latency_offset_ms=p.latency_offset_ms, seed=p.seed, device=resolve_device(p.device),
)
layer_index = fs.index.drop_duplicates("layer").set_index("layer")["layer_index"]
fits.insert(0, "model", snakemake.wildcards.model)
fits.insert(2, "layer_index", fits["layer"].map(layer_index).astype("int32"))
write_parquet(fits, snakemake.output[0])
log.info("%d rows", len(fits))
