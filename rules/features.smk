# Stage 4: model features per layer x time step on the neural (and behavioural) stimulus sets.


rule extract_features:
    input:
        unpack(selection_input),
        weights="results/models/{model}/weights.safetensors",
        images=stim("{stimset}", "images"),
        meta=stim("{stimset}", "meta"),
        code=code("extract_features"),
    output:
        tensors="results/features/{model}/{stimset}.safetensors",
        index="results/features/{model}/{stimset}.parquet",
    log:
        "results/logs/extract_features/{model}_{stimset}.log",
    benchmark:
        "results/benchmarks/extract_features/{model}_{stimset}.tsv"
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        spec=spec_of,
        num_classes=NUM_CLASSES,
        features=config["features"],
        times=config["presentation"]["neural_times"],
        image_off=config["presentation"]["neural_image_off"],
        device=config["device"],
        seed=config["seed"],
    script:
        "../workflow/scripts/extract_features.py"
