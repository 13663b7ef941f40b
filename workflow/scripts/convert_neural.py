"""Rule convert_neural: a Brain-Score neural assembly (MajajHong2015) -> the long response table + sites.

params.time_align: {} keeps the assembly's bins; {"time_align", "time_bins"} re-bins them to the model's steps.
"""
from convrnn.data.brainscore import convert_assembly
from convrnn.data.staged import check_cache_file
from convrnn.io import write_parquet
from convrnn.data.responses import response_sites
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
# the cached file may have been replaced since the DAG was planned
check_cache_file(snakemake.input.assembly, snakemake.params.sha1_memo)
convert_assembly(snakemake.input.assembly, snakemake.output.responses, **snakemake.params.time_align)
sites = response_sites(snakemake.output.responses)
write_parquet(sites.sort_values(["region", "site"]).reset_index(drop=True), snakemake.output.sites)
log.info("%d sites: %s", len(sites), sites["region"].value_counts().to_dict())
