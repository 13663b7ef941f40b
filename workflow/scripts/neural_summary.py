"""Rule neural_summary: median over sites per model x region x layer x step x bin; best layer per region."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.neural.summary import summarize_models
from convrnn.workflow import setup_script

log = setup_script(snakemake)
fits = pd.concat([read_parquet(f, required=["model", "layer", "layer_index", "region", "site", "score"])
                  for f in snakemake.input.fits])
summary = summarize_models(fits)
write_parquet(summary, snakemake.output[0])
best = summary[summary["is_best_layer"]].drop_duplicates(["model", "region"])[["model", "region", "layer"]]
log.info("best layer per region:\n%s", best.to_string(index=False))
