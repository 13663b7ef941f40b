"""Rule tables: the numbers beside the neural, behavioural and search figures (results/tables/)."""
from convrnn.io import read_parquet
from convrnn.tables import area_table, behavior_table, brain_vs_task, search_table, write_table
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
areas = area_table(read_parquet(inp.layers), read_parquet(inp.time_course))
behavior = behavior_table(read_parquet(inp.behavior))
tables = {"areas": areas, "behavior": behavior,
          "brain_vs_task": brain_vs_task(read_parquet(inp.models), areas, behavior)}
if "selected" in inp.keys():
    tables["search"] = search_table(read_parquet(inp.selected), read_parquet(inp.trials), p.top_k)
for name, table in tables.items():
    write_table(table, out[name])
log.info("\n%s", tables["brain_vs_task"].to_string(index=False))
