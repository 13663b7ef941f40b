"""Rule simulate_neural: responses of the hidden ground-truth network to the neural stimulus set."""
from convrnn.data.stimuli import load_stimuli
from convrnn.data.synthetic_neural import simulate_neural
from convrnn.io import write_parquet
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
images, meta = load_stimuli(snakemake.input.images, snakemake.input.meta)
tables = simulate_neural(images, meta, seed=snakemake.params.seed, **snakemake.params.neural)
for name in ("responses", "sites", "behavior"):
    write_parquet(tables[name], snakemake.output[name])
    log.info("%s: %d rows", name, len(tables[name]))
