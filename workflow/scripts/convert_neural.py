"""Rule convert_neural: Brain-Score MajajHong2015 (10 ms bins) and Kar2019 OST -> the project's Parquet schemas."""
import pyarrow.parquet as pq

from convrnn.data.brainscore import convert_assembly, convert_kar2019
from convrnn.io import write_parquet
from convrnn.workflow import setup_script

log = setup_script(snakemake)
convert_assembly(snakemake.input.assembly, snakemake.output.responses)
# Every row group holds whole presentations x all sites, so the first one names every site (the file is ~2e9 rows).
first = pq.ParquetFile(snakemake.output.responses).read_row_group(0, columns=["site", "region"])
sites = first.to_pandas().drop_duplicates("site")
write_parquet(sites.sort_values(["region", "site"]).reset_index(drop=True), snakemake.output.sites)
convert_kar2019(snakemake.input.behavior, snakemake.output.behavior)
log.info("%d sites: %s", len(sites), sites["region"].value_counts().to_dict())
