"""Rule figure_cells: task performance of each recurrent cell on the 6-layer backbone vs parameters."""
from convrnn.figures import model_styles, plot_cells
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
plot_cells(read_parquet(snakemake.input.models), model_styles(snakemake.params.arches), snakemake.output)
