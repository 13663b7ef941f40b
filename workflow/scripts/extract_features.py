"""Rule extract_features: features of every recorded layer x model step on one stimulus set."""
from convrnn.data.stimuli import load_stimuli
from convrnn.feature_sets import save_feature_set
from convrnn.features import extract_features
from convrnn.pipeline import load_trained, resolve_device
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
model = load_trained(p.spec, p.num_classes, snakemake.input.weights)
images, meta = load_stimuli(snakemake.input.images, snakemake.input.meta)
fs = extract_features(
    model, images, meta["stimulus_id"].tolist(), times=p.times, image_off=p.image_off,
    layers=p.features.get("layers", "all"), batch_size=p.features.get("batch_size", 64),
    pca_components=p.features.get("pca_components", 0), device=resolve_device(p.device), seed=p.seed,
)
save_feature_set(fs, snakemake.output.tensors, snakemake.output.index, snakemake.wildcards.model)
log.info("%s: %d layers x %d steps x %d images", snakemake.wildcards.model, len(fs.features), p.times, len(meta))
