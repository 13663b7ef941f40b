"""Rule extract_features: features of every recorded layer x model step on one stimulus set (PCA fitted on images
that are never scored)."""
from convrnn.data.stimuli import load_stimuli
from convrnn.features.store import save_feature_set
from convrnn.features.extract import extract_features, pca_subset
from convrnn.devices import resolve_device
from convrnn.models import build
from convrnn.models.weights import load_weights
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p, inp = snakemake.params, snakemake.input
model = load_weights(build(p.spec, num_classes=p.num_classes), inp.weights)
images, meta = load_stimuli(inp.images, inp.meta)
pca_images = None
if p.features["pca_components"]:
    pool, _ = load_stimuli(inp.pca_images, inp.pca_meta)
    pca_images = pca_subset(pool, p.features["pca_images"], p.seed)
fs = extract_features(
    model, images, meta["stimulus_id"].tolist(), times=p.times, image_off=p.image_off, static=p.static,
    layers=p.features.get("layers", "all"), batch_size=p.features.get("batch_size", 64),
    pca_components=p.features["pca_components"], pca_images=pca_images, device=resolve_device(p.device),
    seed=p.seed,
)
save_feature_set(fs, snakemake.output.tensors, snakemake.output.index, snakemake.wildcards.model)
log.info("%s: %d layers x %d steps (%s) x %d images", snakemake.wildcards.model, len(fs.features),
         fs.logits.shape[0], fs.index["time_course"].iloc[0], len(meta))
