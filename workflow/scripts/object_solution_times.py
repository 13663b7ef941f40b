"""Rule object_solution_times: per-image solution time of a decoder on the model's top layer over time."""
from convrnn.neural.ost_job import object_solution_times_job
from convrnn.workflow import setup_script

setup_script(snakemake)
p, inp = snakemake.params, snakemake.input
object_solution_times_job(inp.features, inp.index, inp.meta, inp.behavior, snakemake.output[0],
                          model=snakemake.wildcards.model, layer=p.behavior.get("layer", "top"), step_ms=p.step_ms,
                          latency_offset_ms=p.latency_offset_ms, seed=p.seed,
                          decoder_c=p.behavior["decoder_c"])  # the schema default is Brain-Score's 1e-3
