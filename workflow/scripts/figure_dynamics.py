"""Rule figure_dynamics: late-training weight diffusion with fitted exponents."""
from pathlib import Path

import pandas as pd

from convrnn.figures import model_styles, plot_dynamics
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
dynamics = pd.concat([read_parquet(f).assign(model=Path(f).parent.name) for f in snakemake.input.dynamics])
plot_dynamics(dynamics, read_parquet(snakemake.input.fits), model_styles(snakemake.params.arches), snakemake.output)
