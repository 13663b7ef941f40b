# convrnn-repro: one DAG from stimuli to figures for Nayebi et al. (NeurIPS 2018; Neural Computation 2022).
# Default: `snakemake --cores 2` (offline CPU demo). Paper: `snakemake --profile slurm` (uses config/paper.yaml).
import os
import sys

from snakemake.utils import min_version
from convrnn.preflight import validate_config
from convrnn.workflow import ConfigError

min_version("9.0")


# `--configfile X` replaces the embedded default instead of being merged into it (a merge would leak the demo models
# into a paper run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Every config error stops here, before any job, as one message naming the field (no traceback). The zoo's answers
# and the rules' package modules are cached here, so a dry run imports torch only after the models code changed.
PREFLIGHT_CACHE = ".snakemake/convrnn-preflight"
try:
    validate_config(
        config, "workflow/schemas/config.schema.yaml", cache_dir=PREFLIGHT_CACHE
    )
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
