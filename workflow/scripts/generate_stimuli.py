"""Rule generate_stimuli: HvM-like train / val / neural stimulus sets (same objects, independent poses)."""
from convrnn.data.stimuli import generate_stimuli, save_stimuli
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
for i, split in enumerate(("train", "val", "neural")):
    images, meta = generate_stimuli(
        n_categories=p.stimuli["n_categories"],
        objects_per_category=p.stimuli["objects_per_category"],
        images_per_object=p.stimuli[f"{split}_images_per_object"],
        image_size=p.image_size,
        object_seed=p.seed,  # the same objects in every set
        seed=p.seed * 7919 + i,  # independent poses and backgrounds per set
        id_prefix=split,
    )
    save_stimuli(images, meta, snakemake.output[f"{split}_images"], snakemake.output[f"{split}_meta"])
    log.info("%s: %d images of %d objects", split, len(meta), meta["object"].nunique())
