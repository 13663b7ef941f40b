"""Rule figure_behavior: OST consistency per model and convention, and per-image solution times."""
import pandas as pd

from convrnn.figures import model_styles, plot_behavior
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
per_image = pd.concat([read_parquet(f) for f in snakemake.input.ost])
plot_behavior(read_parquet(snakemake.input.summary), per_image, model_styles(snakemake.params.arches), snakemake.output)
