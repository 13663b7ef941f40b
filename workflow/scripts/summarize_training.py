"""Rule summarize_training: one row per model: held-out accuracy, size, training cost."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
results = pd.concat([read_parquet(f, required=["model", "val_top1"]) for f in snakemake.input.results])
sizes = pd.concat([read_parquet(f, required=["model", "n_params", "n_units"]) for f in snakemake.input.sizes])
summary = results.drop(columns=["arch"], errors="ignore").merge(sizes, on="model", validate="one_to_one")
summary.insert(1, "arch", summary["model"].map(dict(zip(snakemake.params.models, snakemake.params.arches))))
write_parquet(summary, snakemake.output[0])
log.info("\n%s", summary[["model", "arch", "val_top1", "n_params", "n_units"]].to_string())
