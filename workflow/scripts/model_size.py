"""Rule model_size: parameters and units (activations of every node, each counted once: at its output, the default
unit count, and before its max-pool)."""
import pandas as pd

from convrnn.io import write_parquet
from convrnn.models import build, count_params, count_units
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
model = build(p.spec, num_classes=p.num_classes)
row = {
    "model": snakemake.wildcards.model,
    "n_params": count_params(model),
    "n_units": count_units(model, p.image_size),
    "n_units_pre_pool": count_units(model, p.image_size, "pre_pool"),
    "image_size": p.image_size,
}
write_parquet(pd.DataFrame([row]), snakemake.output[0])
log.info("%s", row)
