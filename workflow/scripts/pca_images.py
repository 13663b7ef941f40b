"""Rule pca_images: the ImageNet validation images the feature PCA is fitted on (real data)."""
from convrnn.data.brainscore import load_images
from convrnn.data.imagenet import pca_image_table
from convrnn.data.stimuli import save_stimuli
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p = snakemake.params
meta = pca_image_table(p.root, p.n_images)
save_stimuli(load_images(meta, p.image_size), meta, snakemake.output.images, snakemake.output.meta)
log.info("%d ImageNet validation images at %d px", len(meta), p.image_size)
