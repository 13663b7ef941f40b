"""Rule figure_site_layers: the model layer each recording site prefers, per area and model."""
import pandas as pd

from convrnn.figures import model_styles, plot_site_layers
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
inp = snakemake.input
site_layers = pd.concat([read_parquet(f) for f in inp.site_layers], ignore_index=True)
plot_site_layers(site_layers, read_parquet(inp.layers), read_parquet(inp.sites), model_styles(snakemake.params.arches),
                 snakemake.output)
