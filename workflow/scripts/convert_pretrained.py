"""Rule convert_pretrained: a released TF checkpoint -> results/models/{model}/weights.safetensors (the state dict
that train_model would write), every tensor crc32c-checked and every variable matched by name and shape."""
import json

from convrnn.io import save_tensors
from convrnn.models.pretrained import convert
from convrnn.pipeline import build_from_spec
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
model = build_from_spec(json.loads(p.spec), p.num_classes)
state = convert(model, p.prefix)
save_tensors(state, snakemake.output.weights, metadata={"source": "neuroailab/convrnns", "checkpoint": p.prefix})
log.info("%s: %d tensors from %s", snakemake.wildcards.model, len(state), p.prefix)
