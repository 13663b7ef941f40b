"""Rule behavior_summary: every model's OST consistency per convention (rho with its split s.e.m., images solved)."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
summary = pd.concat([read_parquet(f, required=["model", "convention", "rho", "rho_sem"]) for f in snakemake.input.scores],
                    ignore_index=True)
write_parquet(summary, snakemake.output[0])
log.info("\n%s", summary[["model", "convention", "rho", "rho_sem", "fraction_it_solved"]].to_string(index=False))
