"""Rule analyze_dynamics: fit distance ~ steps^c to each model's late-training weight trajectory."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.training.dynamics import fit_diffusion_exponent
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
rows = []
for model, path in zip(snakemake.params.models, snakemake.input.dynamics):
    d = read_parquet(path, required=["steps_since_ref", "distance"])
    rows.append({"model": model, **fit_diffusion_exponent(d["steps_since_ref"].to_numpy(), d["distance"].to_numpy())})
fits = pd.DataFrame(rows)
write_parquet(fits, snakemake.output[0])
log.info("\n%s", fits.to_string())
