"""Rule figure_neural: neural predictivity over time per region and model."""
from convrnn.figures import model_styles, plot_neural_over_time
from convrnn.io import read_parquet
from convrnn.workflow import setup_script

setup_script(snakemake)
plot_neural_over_time(read_parquet(snakemake.input.summary), model_styles(snakemake.params.arches), snakemake.output)
