"""Rule neural_summary: region values per model x region x layer x bin, the layer each model commits to each area,
and the papers' time course (layers chosen per split, static models placed in time)."""
from convrnn.neural.jobs import neural_summary_job
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p, out = snakemake.params, snakemake.output
neural_summary_job(snakemake.input.fits, snakemake.input.selection, snakemake.input.ceiling, out.summary,
                   layers_out=out.layers, time_course_out=out.time_course, placement=p.placement,
                   graded_layers=p.graded_layers)
log.info("summary, layer table and time course written")
