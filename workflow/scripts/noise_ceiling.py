"""Rule noise_ceiling: split-half (Spearman-Brown) reliability per site and time bin."""
import numpy as np
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.neural import NeuralData, split_half_reliability
from convrnn.workflow import setup_script

log = setup_script(snakemake)
meta = read_parquet(snakemake.input.meta, required=["stimulus_id"])
neural = NeuralData.from_long(read_parquet(snakemake.input.responses), stimulus_ids=meta["stimulus_id"].tolist())
sh = split_half_reliability(neural.trials, n_splits=snakemake.params.n_splits, seed=snakemake.params.seed)
n_sites, n_bins = sh.ceiling.shape
table = pd.DataFrame({
    "site": np.repeat(neural.sites["site"].to_numpy(), n_bins),
    "region": np.repeat(neural.sites["region"].to_numpy(), n_bins),
    "time_bin_start_ms": np.tile(neural.bins["time_bin_start_ms"].to_numpy(), n_sites),
    "time_bin_end_ms": np.tile(neural.bins["time_bin_end_ms"].to_numpy(), n_sites),
    "r_half": sh.r_half.ravel(),
    "ceiling": sh.ceiling.ravel(),
})
write_parquet(table, snakemake.output[0])
log.info("median ceiling per region:\n%s", table.groupby("region")["ceiling"].median().to_string())
