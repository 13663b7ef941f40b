"""Rule figure_pareto: task performance vs parameters and units, with Pareto fronts."""
from convrnn.figures import model_styles, plot_pareto
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
plot_pareto(read_parquet(snakemake.input.summary), model_styles(snakemake.params.arches), snakemake.output)
