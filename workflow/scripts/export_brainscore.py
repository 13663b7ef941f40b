"""Rule export_brainscore: a run's model as a brainscore_vision model plugin (results/brainscore/{model}/), its PCA
basis fitted on the images extract_features fits it on."""
from convrnn.data.stimuli import load_stimuli
from convrnn.devices import resolve_device
from convrnn.export.brainscore import export_plugin
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p, inp = snakemake.params, snakemake.input
pool = load_stimuli(inp.pca_images, inp.pca_meta)[0] if p.features["pca_components"] else None
out = export_plugin(
    snakemake.output[0], model_id=snakemake.wildcards.model, spec=p.spec, num_classes=p.num_classes,
    weights=inp.weights, layers=inp.layers, presentation=p.presentation, features=p.features,
    image_size=p.image_size, pca_images=pool, seed=p.seed, device=resolve_device(p.device),
    source={"rule": "export_brainscore", "weights": inp.weights, "layers": inp.layers},
)
log.info("%s: plugin written to %s", snakemake.wildcards.model, out)
