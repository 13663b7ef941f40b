"""Checkpoint select_architectures: close the search; write all trials and the chosen architectures."""
from convrnn.io import write_parquet
from convrnn.search import load_space, select_architectures, trials_table
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p = snakemake.params
trials = trials_table(p.storage, p.study)
write_parquet(trials, snakemake.output.trials)
selected = select_architectures(trials, top_k=p.top_k, space=load_space(p.storage, p.study), prefix="search")
write_parquet(selected, snakemake.output.selected)
log.info("%d trials (%d complete); selected %s", len(trials), int((trials["state"] == "COMPLETE").sum()),
         list(selected["arch_id"]))
