"""Rule figure_neural: neural predictivity over time per region and model (the papers' time course)."""
from convrnn.figures import model_styles, plot_neural_over_time
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
p = snakemake.params
plot_neural_over_time(read_parquet(snakemake.input.time_course), model_styles(p.arches), snakemake.output,
                      window_ms=p.window_ms, selection_window_ms=p.selection_window_ms, placement=p.placement)
