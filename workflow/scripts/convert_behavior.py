"""Rule convert_behavior: the Kar2019 OST assembly -> results/data/neural/behavior.parquet."""
from convrnn.data.brainscore import convert_kar2019
from convrnn.workflow import setup_script

log = setup_script(snakemake)
convert_kar2019(snakemake.input.assembly, snakemake.output[0], decoder=snakemake.params.decoder)
