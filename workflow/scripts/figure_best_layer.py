"""Rule figure_best_layer: each layer's fit to time-averaged responses per region and model; committed layers."""
from convrnn.figures import model_styles, plot_best_layer
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
p = snakemake.params
plot_best_layer(read_parquet(snakemake.input.layers), model_styles(p.arches), snakemake.output,
                selection_window_ms=p.selection_window_ms)
