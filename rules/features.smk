# Stage 4: model features per layer x time step on the neural (and behavioural) stimulus sets.


rule extract_features:
    input:
        unpack(selection_input),
        unpack(pca_stimuli),
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
        # a static model's features are its response to the image, unless it is to be unrolled like a ConvRNN
        static=config["presentation"]["feedforward"] != "unrolled",
        device=config["device"],
        seed=config["seed"],
    script:
        "../workflow/scripts/extract_features.py"


if not SYNTHETIC:

    # ImageNet validation images (one per class, in class order) that the feature PCA is fitted on
    rule pca_images:
        input:
            code=code("pca_images"),
        output:
            images=stim("pca", "images"),
            meta=stim("pca", "meta"),
        log:
            "results/logs/pca_images.log",
        conda:
            "../envs/convrnn.yaml"
        params:
            root=config["data"]["imagenet"]["root"],
            n_images=config["features"]["pca_images"],
            image_size=config["data"]["image_size"],
        script:
            "../workflow/scripts/pca_images.py"
