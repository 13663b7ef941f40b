"""Rule simulate_neural: responses of the hidden ground-truth network to the neural stimulus set."""
from convrnn.data.stimuli import load_stimuli
from convrnn.data.synthetic_neural import simulate_neural
from convrnn.io import write_parquet
from convrnn.data.responses import write_responses
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
images, meta = load_stimuli(snakemake.input.images, snakemake.input.meta)
tables = simulate_neural(images, meta, seed=snakemake.params.seed, **snakemake.params.neural)
write_responses(snakemake.output.responses, tables["responses"])  # one row group per time bin
for name in ("sites", "behavior"):
    write_parquet(tables[name], snakemake.output[name])
for name in ("responses", "sites", "behavior"):
    log.info("%s: %d rows", name, len(tables[name]))
