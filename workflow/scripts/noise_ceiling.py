"""Rule noise_ceiling: split-half (Spearman-Brown) reliability per site and time bin."""
from convrnn.io import read_parquet, write_parquet
from convrnn.neural import NeuralData, ceiling_table
from convrnn.workflow import setup_script

log = setup_script(snakemake)
meta = read_parquet(snakemake.input.meta, required=["stimulus_id"])
neural = NeuralData.from_long(read_parquet(snakemake.input.responses), stimulus_ids=meta["stimulus_id"].tolist())
table = ceiling_table(neural, n_splits=snakemake.params.n_splits, seed=snakemake.params.seed)
write_parquet(table, snakemake.output[0])
log.info("median ceiling per region:\n%s", table.groupby("region")["ceiling"].median().to_string())
