"""Rule convert_pretrained: a released TF checkpoint -> results/models/{model}/weights.safetensors (the state dict
that train_model would write), every tensor crc32c-checked and every variable matched by name and shape; and the
model's size (parameters, units)."""
import pandas as pd

from convrnn.io import save_tensors, write_parquet
from convrnn.models import build
from convrnn.models.counting import SIZE_COLUMNS, size_row
from convrnn.models.pretrained import convert
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
model = build(p.spec, num_classes=p.num_classes)
state = convert(model, p.prefix)
save_tensors(state, snakemake.output.weights, metadata={"source": "neuroailab/convrnns", "checkpoint": p.prefix})
write_parquet(pd.DataFrame([size_row(snakemake.wildcards.model, model, p.image_size)])[SIZE_COLUMNS],
              snakemake.output.size)
log.info("%s: %d tensors from %s", snakemake.wildcards.model, len(state), p.prefix)
