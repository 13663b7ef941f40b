"""Rule noise_ceiling: Brain-Score's split-half (Spearman-Brown) ceiling per site and scored time bin."""
from convrnn.neural.jobs import noise_ceiling_job
from convrnn.workflow import setup_script

log = setup_script(snakemake)
p = snakemake.params
table = noise_ceiling_job(snakemake.input.responses, snakemake.input.meta, snakemake.output[0],
                          ceiling_splits=p.ceiling_splits, n_steps=p.n_steps, step_ms=p.step_ms,
                          latency_offset_ms=p.latency_offset_ms, pairing=p.pairing)
log.info("median ceiling per region:\n%s", table.groupby("region")["ceiling"].median().to_string())
