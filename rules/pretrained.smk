# Released weights instead of training: a configured model with `pretrained: convrnns` gets its
# results/models/{model}/weights.safetensors from the neuroailab/convrnns TF checkpoint of its `arch`
# (docs/models.md, Pretrained weights). train_model never matches such a model (rules/train.smk).
rule download_pretrained:
    input:
        code=code("download_pretrained"),
    output:
        **{
            f.replace(".", "_").replace("-", "_"): f"{PRETRAINED_CACHE}/{{arch}}/{f}"
            for f in PRETRAINED_CATALOG.FILES
        },
    log:
        "results/logs/download_pretrained/{arch}.log",
    wildcard_constraints:
        arch=alternatives(PRETRAINED_CATALOG.RELEASED),
    retries: 2
    conda:
        "../envs/convrnn.yaml"
    params:
        urls=lambda wc: PRETRAINED_CATALOG.checkpoint_urls(wc.arch),
    script:
        "../workflow/scripts/download_pretrained.py"


rule convert_pretrained:
    input:
        unpack(pretrained_checkpoint),
        code=code("convert_pretrained"),
    output:
        weights="results/models/{model}/weights.safetensors",
        size="results/models/{model}/size.parquet",
    log:
        "results/logs/convert_pretrained/{model}.log",
    wildcard_constraints:
        model=PRETRAINED_MODEL_RE,
    conda:
        "../envs/convrnn.yaml"
    params:
        spec=spec_of,
        num_classes=NUM_CLASSES,
        image_size=config["data"]["image_size"],
        prefix=lambda wc: f"{PRETRAINED_CACHE}/{PRETRAINED[wc.model]}/{PRETRAINED_CATALOG.PREFIX}",
    script:
        "../workflow/scripts/convert_pretrained.py"


# With ImageNet present (data.source: real): each released model's measured validation accuracy beside the top-1 /
# top-5 its authors report, in one table (docs/models.md, Pretrained weights).
rule evaluate_pretrained:
    input:
        weights="results/models/{model}/weights.safetensors",
        code=code("evaluate_pretrained"),
    output:
        "results/models/{model}/imagenet_accuracy.parquet",
    log:
        "results/logs/evaluate_pretrained/{model}.log",
    wildcard_constraints:
        model=PRETRAINED_MODEL_RE,
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        spec=spec_of,
        arch=lambda wc: PRETRAINED[wc.model],
        num_classes=NUM_CLASSES,
        imagenet=config["data"].get("imagenet"),
        image_size=config["data"]["image_size"],
        batch_size=config["features"]["batch_size"],
        device=config["device"],
    script:
        "../workflow/scripts/evaluate_pretrained.py"


rule summarize_pretrained:
    input:
        rows=expand(
            "results/models/{model}/imagenet_accuracy.parquet",
            model=sorted(PRETRAINED),
        ),
        code=code("summarize_pretrained"),
    output:
        "results/training/pretrained_accuracy.parquet",
    log:
        "results/logs/summarize_pretrained.log",
    conda:
        "../envs/convrnn.yaml"
    script:
        "../workflow/scripts/summarize_pretrained.py"
