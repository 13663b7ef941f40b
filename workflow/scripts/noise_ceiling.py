"""Rule noise_ceiling: Brain-Score's split-half (Spearman-Brown) ceiling per site and time bin of the scored window."""
from convrnn.neural.jobs import noise_ceiling_job
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p = snakemake.params
table = noise_ceiling_job(snakemake.input.responses, snakemake.input.meta, snakemake.output[0],
                          ceiling_splits=p.ceiling_splits, window_ms=p.window_ms)
log.info("median ceiling per region:\n%s", table.groupby("region")["ceiling"].median().to_string())
