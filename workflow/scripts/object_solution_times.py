"""Rule object_solution_times: per-image solution times of a decoder on the model's IT layer(s), per convention."""
from convrnn.neural.ost_job import object_solution_times_job
from convrnn.workflow.scripts import setup_script

p, inp, out = snakemake.params, snakemake.input, snakemake.output
# the torch decoder runs on the job's threads; the sklearn ones do not need torch (seconds saved per job)
setup_script(snakemake, use_torch=any(p.behavior["classifier"][c] == "torch" for c in p.behavior["conventions"]))
object_solution_times_job(inp.features, inp.index, inp.meta, inp.behavior, inp.selection, out.per_image,
                          scores_out=out.scores, model=snakemake.wildcards.model,
                          conventions=p.behavior["conventions"], classifiers=p.behavior["classifier"],
                          placement=p.placement, graded_layers=p.graded_layers, step_ms=p.step_ms,
                          latency_offset_ms=p.latency_offset_ms, ceiling=p.behavior["ceiling"])
