# Shared paths, wildcard constraints and input functions (no rules here).
import re
from pathlib import Path

from convrnn.workflow.code_deps import script_modules
from convrnn.workflow.preflight import brainscore_files
from convrnn.data.brainscore_catalog import brainscore_filename, time_align_kwargs
import convrnn.data.pretrained_catalog as PRETRAINED_CATALOG
from convrnn.workflow.config import (
    model_spec,
    num_classes,
    search_model_ids,
    search_study_name,
    training_config,
)

SYNTHETIC = config["data"]["source"] == "synthetic"
CONFIG_MODELS = list(config["models"])
# In the synthetic default the behavioural (OST) images are the neural stimulus set; for real data they are Kar2019's.
BEHAVIOR_SET = "neural" if SYNTHETIC else "behavior"
NUM_CLASSES = num_classes(config)
FIGURES = ["task", "neural", "best_layer", "behavior", "pareto", "dynamics"]
FIGURES += ["cells", "controls", "site_layers", "task_vs_brain"]
TABLES = ["models", "areas", "behavior", "brain_vs_task"]
SEARCH_FIGURES = ["search_features", "search_progress"]
SEARCH = config["search"]
SEARCH_ON = SEARCH["enabled"]
SEARCH_STUDY = search_study_name(SEARCH) if SEARCH_ON else ""


wildcard_constraints:
    model=r"[A-Za-z][A-Za-z0-9_]*",
    stimset=r"train|val|neural|behavior|pca",
    worker=r"[0-9]+",


def code(script):
    """The package modules `workflow/scripts/{script}.py` runs (from its imports), as inputs of its rule: editing one
    reruns the rule and what follows it, and `snakemake -n` names the edited file. Every rule with a script has one
    except downloads: a download's output is pinned by its sha1."""
    script_path = Path(workflow.basedir) / "workflow" / "scripts" / f"{script}.py"
    files = script_modules(script_path, cache_dir=PREFLIGHT_CACHE)
    cwd = Path.cwd().resolve()
    return [str(f.relative_to(cwd)) if f.is_relative_to(cwd) else str(f) for f in files]


def stim(stimset, kind):
    """kind: images (safetensors, uint8 N x H x W x 3) or meta (Parquet, one row per image)."""
    ext = "safetensors" if kind == "images" else "parquet"
    return f"results/data/stimuli/{stimset}_{kind}.{ext}"


def pca_stimuli(wildcards=None):
    """Images the feature PCA is fitted on, never the scored ones: the generated training images, or ImageNet
    validation images with real data (rule pca_images), as Brain-Score fits its layer PCA.
    """
    stimset = "train" if SYNTHETIC else "pca"
    return {"pca_images": stim(stimset, "images"), "pca_meta": stim(stimset, "meta")}


def selected_models():
    """Searched models to train: known only after the `select_architectures` checkpoint has run."""
    ids = search_model_ids(config)
    if ids:
        checkpoints.select_architectures.get()
    return ids


def model_arches():
    """Model id -> zoo arch of every model, in config order (searched ones: the search's base arch): the figures'
    one colour and marker per model (convrnn.figures.model_styles)."""
    arches = {m: s["arch"] for m, s in config["models"].items()}
    arches.update({m: config["search"]["base_arch"] for m in search_model_ids(config)})
    return arches


def all_models():
    return CONFIG_MODELS + selected_models()


def spec_of(wildcards, input):
    """The model's spec, ``{"arch", "overrides"}``: what ``convrnn.models.build`` takes."""
    selected = input.get("selected") if hasattr(input, "get") else None
    return model_spec(config, wildcards.model, selected)


def task_data(wildcards=None):
    """Task (classification) data: generated stimuli in the synthetic default; ImageNet (a params path) otherwise."""
    if not SYNTHETIC:
        return {}
    return {
        f"{s}_{k}": stim(s, k) for s in ("train", "val") for k in ("images", "meta")
    }


def selection_input(wildcards):
    """Searched models are defined by the selection table written by the search checkpoint."""
    if wildcards.model in config["models"]:
        return {}
    return {"selected": "results/search/selected.parquet"}


def training_data(wildcards):
    return task_data() | selection_input(wildcards)


def figure_paths(name):
    return [f"results/figures/{name}.{ext}" for ext in config["figures"]["formats"]]


def configured_model_outputs(wildcards):
    """Per-model results of the configured models: known before the search ends, so they start right away."""
    per_model = [
        "results/neural/fits/{model}.parquet",
        "results/behavior/{model}.parquet",
        "results/models/{model}/size.parquet",
    ]
    out = ["results/neural/ceiling.parquet"] + expand(per_model, model=CONFIG_MODELS)
    if PRETRAINED and not SYNTHETIC:  # ImageNet present: released vs measured accuracy
        out.append("results/training/pretrained_accuracy.parquet")
    return out


def final_outputs(wildcards):
    """Aggregates and figures: they include the searched models, so they wait for the search checkpoint."""
    out = ["results/training/summary.parquet", "results/training/dynamics_fits.parquet"]
    out += ["results/neural/summary.parquet", "results/behavior/summary.parquet"]
    out += expand("results/neural/fits/{model}.parquet", model=all_models())
    for name in FIGURES + (SEARCH_FIGURES if SEARCH_ON else []):
        out += figure_paths(name)
    out += [table_path(name) for name in TABLES + (["search"] if SEARCH_ON else [])]
    # Brain-Score plugins asked for in the config (rules/brainscore.smk); none by default
    out += expand("results/brainscore/{model}", model=config["export"]["brainscore"])
    return out


def table_path(name, ext="parquet"):
    """A table beside the figures: Parquet, with a CSV and a Markdown copy (convrnn.tables.write_table)."""
    return f"results/tables/{name}.{ext}"


def table_outputs(names):
    return {name: table_path(name) for name in names} | {
        "copies": [table_path(n, ext) for n in names for ext in ("csv", "md")]
    }


def search_tables(wildcards=None):
    """The search's tables, where the run searches."""
    if not SEARCH_ON:
        return {}
    return {
        "selected": "results/search/selected.parquet",
        "trials": "results/search/trials.parquet",
    }


def brainscore_file(identifier, kind):
    """Path of a sha1-checked Brain-Score file in the cache (kind: assembly | csv | zip)."""
    return f"{config['data']['brainscore']['cache_dir']}/{brainscore_filename(identifier, kind)}"


def stimulus_set_of(stimset):
    bs = config["data"]["brainscore"]
    return {"neural": bs["stimulus_set"], "behavior": bs["behavior_stimulus_set"]}[
        stimset
    ]


# --- released pretrained weights (rules/pretrained.smk) ---
# models.<id>.pretrained is validated by the preflight (convrnn.workflow.preflight): its arch has a released checkpoint
PRETRAINED = {m: s["arch"] for m, s in config["models"].items() if s.get("pretrained")}
PRETRAINED_CACHE = "results/pretrained/convrnns"


def trained_models():
    """Models whose weights come from train_model (every model but the pretrained ones)."""
    return [m for m in all_models() if m not in PRETRAINED]


def alternatives(names):
    """A regex matching exactly these names (none: matching nothing)."""
    return "|".join(map(re.escape, sorted(names))) if names else "(?!)"


# a model id is a pretrained one, or not (train_model): full-segment regexes for the {model} wildcard
PRETRAINED_MODEL_RE = f"(?:{alternatives(PRETRAINED)})"
TRAINED_MODEL_RE = f"(?!{PRETRAINED_MODEL_RE}/)[A-Za-z][A-Za-z0-9_]*"


def pretrained_checkpoint(wildcards):
    arch = PRETRAINED[wildcards.model]
    return {
        f.replace(".", "_").replace("-", "_"): f"{PRETRAINED_CACHE}/{arch}/{f}"
        for f in PRETRAINED_CATALOG.FILES
    }


def imagenet_pending():
    """Whether a job that reads ImageNet (training, the search, the pretrained evaluation) has yet to write its
    output: only then must data.imagenet.root be a folder, so a finished run plans nothing wherever it lands.
    """
    if SYNTHETIC:
        return False
    trained = [m for m in CONFIG_MODELS if m not in PRETRAINED]
    outputs = expand(
        rules.train_model.output.weights, model=trained + search_model_ids(config)
    )
    outputs += [rules.select_architectures.output.selected] if SEARCH_ON else []
    outputs += expand(rules.evaluate_pretrained.output[0], model=PRETRAINED)
    return not all(Path(f).exists() for f in outputs)
