"""Rule figure_controls: the ConvRNN against its controls (held-out top-1)."""
from convrnn.figures import model_styles, plot_controls
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
plot_controls(read_parquet(snakemake.input.models), model_styles(snakemake.params.arches), snakemake.output)
