"""Rule convert_pretrained: a released TF checkpoint -> results/models/{model}/weights.safetensors (the state dict
that train_model would write), every tensor crc32c-checked and every variable matched by name and shape."""
from convrnn.io import save_tensors
from convrnn.models import build
from convrnn.models.pretrained import convert
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
model = build(p.spec, num_classes=p.num_classes)
state = convert(model, p.prefix)
save_tensors(state, snakemake.output.weights, metadata={"source": "neuroailab/convrnns", "checkpoint": p.prefix})
log.info("%s: %d tensors from %s", snakemake.wildcards.model, len(state), p.prefix)
