# Released weights instead of training: a configured model with `pretrained: convrnns` gets its
# results/models/{model}/weights.safetensors from the neuroailab/convrnns TF checkpoint of its `arch`
# (docs/models.md, Pretrained weights). train_model never matches such a model (rules/train.smk).
import convrnn.data.pretrained_catalog as PRETRAINED_CATALOG

# models.<id>.pretrained is validated by the preflight (convrnn.preflight): its arch has a released checkpoint
PRETRAINED = {m: s["arch"] for m, s in config["models"].items() if s.get("pretrained")}
PRETRAINED_CACHE = "results/pretrained/convrnns"


def trained_models():
    """Models whose weights come from train_model (every model but the pretrained ones)."""
    return [m for m in all_models() if m not in PRETRAINED]


def _alternatives(names):
    return "|".join(sorted(names)) if names else "(?!)"


# a model id is a pretrained one, or not (train_model): full-segment regexes for the {model} wildcard
PRETRAINED_MODEL_RE = f"(?:{_alternatives(PRETRAINED)})"
TRAINED_MODEL_RE = f"(?!{PRETRAINED_MODEL_RE}/)[A-Za-z][A-Za-z0-9_]*"


def pretrained_checkpoint(wildcards):
    arch = PRETRAINED[wildcards.model]
    return {
        f.replace(".", "_").replace("-", "_"): f"{PRETRAINED_CACHE}/{arch}/{f}"
        for f in PRETRAINED_CATALOG.FILES
    }


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
