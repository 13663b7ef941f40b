"""Rule convert_behavior: the Kar2019 OST assembly -> results/data/neural/behavior.parquet."""
from convrnn.data.brainscore import convert_kar2019
from convrnn.data.staged import check_cache_file
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
# the cached file may have been replaced since the DAG was planned
check_cache_file(snakemake.input.assembly, snakemake.params.sha1_memo)
convert_kar2019(snakemake.input.assembly, snakemake.output[0], decoder=snakemake.params.decoder)
