"""Rule figure_task_vs_brain: held-out top-1 against neural and behavioural match across models."""
from convrnn.figures import model_styles, plot_task_vs_brain
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
inp = snakemake.input
plot_task_vs_brain(read_parquet(inp.models), read_parquet(inp.areas), read_parquet(inp.behavior),
                   read_parquet(inp.correlations), model_styles(snakemake.params.arches), snakemake.output)
