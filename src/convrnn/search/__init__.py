"""Architecture search over RGC cells and feedback edges (TPE, optuna journal storage). See docs/search.md."""
from .analysis import best_so_far, feature_effects
from .objective import training_objective
from .select import select_architectures
from .space import ParamSpec, SearchSpace, cell_keys, cell_layers, default_space, edge_column
from .storage import journal_storage, load_space, load_study
from .trials import completed_trials, trials_table
from .worker import run_worker
