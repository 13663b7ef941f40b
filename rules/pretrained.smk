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
        arch=_alternatives(PRETRAINED_CATALOG.RELEASED),
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
    log:
        "results/logs/convert_pretrained/{model}.log",
    wildcard_constraints:
        model=PRETRAINED_MODEL_RE,
    conda:
        "../envs/convrnn.yaml"
    params:
        spec=spec_of,
        num_classes=NUM_CLASSES,
        prefix=lambda wc: f"{PRETRAINED_CACHE}/{PRETRAINED[wc.model]}/{PRETRAINED_CATALOG.PREFIX}",
    script:
        "../workflow/scripts/convert_pretrained.py"
