# Stage 3: training every model (configured ones and searched winners) through one training engine.
# Killed jobs resume: the engine checkpoints to results/models/{model}/checkpoint.pt (kept until the job succeeds).


rule train_model:
    input:
        unpack(training_data),
        code=code("train_model"),
    output:
        weights="results/models/{model}/weights.safetensors",
        metrics="results/models/{model}/metrics.parquet",
        dynamics="results/models/{model}/dynamics.parquet",
        result="results/models/{model}/result.parquet",
        size="results/models/{model}/size.parquet",
    log:
        "results/logs/train_model/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{model}.tsv"
    wildcard_constraints:
        model=TRAINED_MODEL_RE,  # pretrained models get their weights from convert_pretrained
    priority: 5  # the longest jobs: started before the per-model analyses, so no training is left for the end
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    resources:
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        spec=spec_of,
        num_classes=NUM_CLASSES,
        training=lambda wc: training_config(config, wc.model),
        imagenet=config["data"].get("imagenet"),
        image_size=config["data"]["image_size"],
        device=config["device"],
        seed=config["seed"],
    script:
        "../workflow/scripts/train_model.py"


rule summarize_training:
    input:
        results=lambda wc: expand(
            "results/models/{model}/result.parquet", model=trained_models()
        ),
        sizes=lambda wc: expand(
            "results/models/{model}/size.parquet", model=trained_models()
        ),
        code=code("summarize_training"),
    output:
        "results/training/summary.parquet",
    log:
        "results/logs/summarize_training.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        models=lambda wc: trained_models(),
        arches=lambda wc: [
            model_spec(config, m, "results/search/selected.parquet")["arch"]
            for m in trained_models()
        ],
    script:
        "../workflow/scripts/summarize_training.py"


rule analyze_dynamics:
    input:
        dynamics=lambda wc: expand(
            "results/models/{model}/dynamics.parquet", model=trained_models()
        ),
        code=code("analyze_dynamics"),
    output:
        "results/training/dynamics_fits.parquet",
    log:
        "results/logs/analyze_dynamics.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        models=lambda wc: trained_models(),
    script:
        "../workflow/scripts/analyze_dynamics.py"
