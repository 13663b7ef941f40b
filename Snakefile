# convrnn-repro: one DAG from stimuli to figures for Nayebi et al. (NeurIPS 2018; Neural Computation 2022).
# Default: `snakemake --cores 2` (offline CPU demo). Paper: `snakemake --profile slurm` (uses config/paper.yaml).
# A variant: `--configfile mine.yaml`, a file with only the keys it changes (config/README.md).
import os
import sys
from pathlib import Path

# A checkout's own sources are the code its jobs run, ahead of whatever `pip install -e` pointed at: a run copied or
# moved with its checkout (`cp -a`, `rsync -a`) then plans and runs the code that lies beside it, not the code of the
# place it came from. Jobs get the same path through the environment.
if (Path(workflow.basedir) / "src/convrnn/__init__.py").is_file():
    _SRC = str(Path(workflow.basedir) / "src")
    sys.path.insert(0, _SRC)
    os.environ.update(
        PYTHONPATH=os.pathsep.join(filter(None, [_SRC, os.getenv("PYTHONPATH")]))
    )

from snakemake.utils import min_version
from convrnn.workflow.overlays import resolve_config_files
from convrnn.workflow.preflight import validate_config
from convrnn.workflow.preflight_files import (
    check_config_files,
    check_imagenet_root,
    check_model_ids,
    present_brainscore_files,
)
from convrnn.errors import ConfigError

min_version("9.0")


# The embedded default, unless `--configfile` names others. A config file is an overlay on the file its `base:` key
# names (none: on this default; `base: null`: standalone), so the config is resolved here, from the files, and not
# from Snakemake's plain merge of them: a variant is only its changed keys (config/README.md).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Every config error stops here, before any job, as one message naming the field (no traceback). The zoo's answers
# and the rules' package modules are cached here, so a dry run imports torch only after the models code changed.
PREFLIGHT_CACHE = ".snakemake/convrnn-preflight"
try:
    _resolved, CONFIG_FILES = resolve_config_files(
        workflow.configfiles,
        # --replace-workflow-config: the files given stand alone, the default is not under them
        default=(
            None
            if workflow.config_settings.replace_workflow_config
            else Path(workflow.basedir) / "config/config.yaml"
        ),
        overrides=workflow.config_settings.config,  # --config key=value, on top of every file
    )
    config.clear()  # in place: `config` is the object the rules and jobs read
    config.update(_resolved)
    check_config_files(CONFIG_FILES)
    validate_config(
        config, "workflow/schemas/config.schema.yaml", cache_dir=PREFLIGHT_CACHE
    )
    BRAINSCORE_PRESENT = present_brainscore_files(config, PREFLIGHT_CACHE)
except ConfigError as e:
    sys.exit(f"Invalid configuration:\n  {e}\n")


report: "workflow/report/workflow.rst"


# envs/convrnn.post-deploy.sh installs the package from here (`--sdm conda` runs it from a copy under .snakemake/).
os.environ.update(CONVRNN_WORKFLOW_DIR=workflow.basedir)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/search.smk"
include: "rules/pretrained.smk"
include: "rules/train.smk"
include: "rules/features.smk"
include: "rules/neural.smk"
include: "rules/behavior.smk"
include: "rules/figures.smk"
include: "rules/brainscore.smk"


localrules:
    all,
    select_architectures,
    summarize_training,
    summarize_pretrained,
    analyze_dynamics,
    neural_summary,
    behavior_summary,
    plot_search,
    figure_task,
    figure_neural,
    figure_best_layer,
    figure_behavior,
    figure_pareto,
    figure_dynamics,
    figure_cells,
    figure_controls,
    figure_site_layers,
    figure_task_vs_brain,
    table_models,
    tables,


rule all:
    input:
        configured_model_outputs,
        final_outputs,


# Checks that need the rules: model ids against the DAG's own file names, and ImageNet while a job has to read it.
try:
    check_model_ids(
        CONFIG_MODELS + search_model_ids(config),
        [str(f) for r in workflow.rules for f in [*r.output, *r.log]],
    )
    IMAGENET_NOTE = check_imagenet_root(config, needed=imagenet_pending())
except ConfigError as e:
    sys.exit(f"Invalid configuration:\n  {e}\n")
if IMAGENET_NOTE:
    print(IMAGENET_NOTE, file=sys.stderr)
