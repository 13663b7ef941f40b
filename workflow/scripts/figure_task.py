"""Rule figure_task: held-out accuracy vs parameters; validation accuracy per epoch."""
from pathlib import Path

import pandas as pd

from convrnn.figures import model_styles, plot_task
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

setup_script(snakemake)
summary = read_parquet(snakemake.input.summary)
metrics = pd.concat(
    [read_parquet(f, required=["epoch", "val_top1"]).assign(model=Path(f).parent.name) for f in snakemake.input.metrics]
)
plot_task(summary, metrics, model_styles(snakemake.params.arches), snakemake.output)
