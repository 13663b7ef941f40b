"""Rule figure_pareto: task performance vs parameters and units, with Pareto fronts."""
from convrnn.figures import plot_pareto
from convrnn.io import read_parquet
from convrnn.workflow import setup_script

setup_script(snakemake)
plot_pareto(read_parquet(snakemake.input.summary), snakemake.output)
