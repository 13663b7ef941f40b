# Brain-Score model plugins (docs/brainscore.md): results/brainscore/{model}/ is a brainscore_vision model plugin of a
# model of this run (trained here or converted from the released checkpoints), committed to V4 and IT by the run's
# layer choice (results/neural/layers.parquet), its steps paired with Brain-Score's time bins as the DAG pairs them.
# Built for the model ids in `export.brainscore` by `all`, or on request: `snakemake results/brainscore/<model>`
# (`convrnn export-brainscore <model>` runs exactly this).

EXPORT_BRAINSCORE = config["export"]["brainscore"]
_not_models = sorted(
    set(EXPORT_BRAINSCORE) - set(CONFIG_MODELS + search_model_ids(config))
)
if _not_models:
    sys.exit(
        f"Invalid configuration:\n  export.brainscore: {_not_models} are not models of this run "
        f"(models, or searched models: {', '.join(CONFIG_MODELS + search_model_ids(config))})\n"
    )


rule export_brainscore:
    input:
        unpack(selection_input),
        unpack(pca_stimuli),
        weights="results/models/{model}/weights.safetensors",
        layers="results/neural/layers.parquet",
        code=code("export_brainscore"),
    output:
        directory("results/brainscore/{model}"),
    log:
        "results/logs/export_brainscore/{model}.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        spec=spec_of,
        num_classes=NUM_CLASSES,
        presentation=config["presentation"],
        features=config["features"],
        image_size=config["data"]["image_size"],
        device=config["device"],
        seed=config["seed"],
    script:
        "../workflow/scripts/export_brainscore.py"
