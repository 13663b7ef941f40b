"""Rule plot_search: performance per cell feature and best-so-far vs trial number."""
from convrnn.figures import plot_best_so_far, plot_feature_effects
from convrnn.io import read_parquet
from convrnn.search.analysis import best_so_far, feature_effects
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
trials = read_parquet(snakemake.input.trials)
plot_feature_effects(feature_effects(trials), snakemake.output.features)
plot_best_so_far(best_so_far(trials), snakemake.output.progress)
