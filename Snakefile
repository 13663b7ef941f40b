# convrnn-repro: one DAG from stimuli to figures for Nayebi et al. (NeurIPS 2018; Neural Computation 2022).
# Default: `snakemake --cores 2` (offline CPU demo). Paper: `snakemake --profile slurm` (uses config/paper.yaml).
from snakemake.utils import min_version
from convrnn.workflow import validate_config

min_version("9.0")


# `--configfile X` replaces the embedded default instead of being merged into it (a merge would leak the demo models
# into a paper run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate_config(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/search.smk"
include: "rules/train.smk"
include: "rules/features.smk"
include: "rules/neural.smk"
include: "rules/behavior.smk"
include: "rules/figures.smk"


localrules:
    all,
    select_architectures,
    summarize_training,
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
