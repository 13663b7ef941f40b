# convrnn-repro: one DAG from stimuli to figures for Nayebi et al. (NeurIPS 2018; Neural Computation 2022).
# Default: `snakemake --cores 2` (offline CPU demo). Paper: `snakemake --profile slurm` (uses config/paper.yaml).
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
from convrnn.workflow.preflight import validate_config
from convrnn.workflow.preflight_files import (
    check_config_files,
    check_imagenet_root,
    check_model_ids,
    present_brainscore_files,
)
from convrnn.errors import ConfigError

min_version("9.0")


# `--configfile X` replaces the embedded default instead of being merged into it (a merge would leak the demo models
# into a paper run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Every config error stops here, before any job, as one message naming the field (no traceback). The zoo's answers
# and the rules' package modules are cached here, so a dry run imports torch only after the models code changed.
PREFLIGHT_CACHE = ".snakemake/convrnn-preflight"
try:
    check_config_files(workflow.configfiles)
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
