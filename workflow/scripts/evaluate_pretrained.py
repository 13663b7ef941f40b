"""Rule evaluate_pretrained: ImageNet validation accuracy of a model's converted released weights, beside the top-1 /
top-5 its authors report (neuroailab/convrnns README)."""
from convrnn.devices import resolve_device
from convrnn.training.evaluate import pretrained_accuracy_job
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
row = pretrained_accuracy_job(snakemake.input.weights, snakemake.output[0], model=snakemake.wildcards.model,
                              arch=p.arch, spec=p.spec, num_classes=p.num_classes, imagenet=p.imagenet,
                              image_size=p.image_size, device=resolve_device(p.device), batch_size=p.batch_size,
                              num_workers=snakemake.threads)
log.info("%s", row)
