"""Rule figure_best_layer: time-averaged predictivity per layer; best layer per region and model."""
from convrnn.figures import model_styles, plot_best_layer
from convrnn.io import read_parquet
from convrnn.workflow import setup_script

setup_script(snakemake)
plot_best_layer(read_parquet(snakemake.input.summary), model_styles(snakemake.params.arches), snakemake.output)
