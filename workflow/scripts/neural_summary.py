"""Rule neural_summary: medians over sites and Brain-Score's region aggregate per model x region x layer x step x
bin; best layer per region."""
from convrnn.neural.jobs import neural_summary_job
from convrnn.workflow import setup_script

log = setup_script(snakemake)
summary = neural_summary_job(snakemake.input.fits, snakemake.input.ceiling, snakemake.output[0])
best = summary[summary["is_best_layer"]].drop_duplicates(["model", "region"])[["model", "region", "layer"]]
log.info("best layer per region:\n%s", best.to_string(index=False))
