"""Neural predictivity (ceilings, splits, batched ridge / PLS, scoring) and behavioural OST metrics.

Names are imported on first use, so a job pays only for what it runs (the solvers import torch, the OST decoder
sklearn's linear models: seconds per job)."""
import importlib

_HOMES = {
    "behavior": ["decode_over_time", "i1_dprime", "ost_consistency", "ost_score", "solution_times"],
    "ceiling": ["SplitHalf", "split_half_reliability"],
    "ost": ["CONVENTIONS", "KAR2019_BINS_MS", "NAYEBI2022_BINS_MS", "OSTResult", "object_solution_times"],
    "ost_classifier": ["LinearSVMClassifier", "LogisticClassifier", "TFSoftmaxClassifier", "make_classifier"],
    "placement": ["PLACEMENTS", "graded_layers", "in_window", "placed_layers", "steps_in_window"],
    "scoring": ["Responses", "brainscore_aggregate", "check_bins_pair", "nayebi_consistency", "score_features",
                "step_bin_pairs", "step_interval"],
    "selection": ["inner_folds", "ranked_layers", "selection_scores"],
    "solvers": ["pls_cv", "ridge_cv", "ridge_path"],
    "splits": ["brainscore_splits", "ost_splits", "random_splits", "shuffle_splits", "stratified_splits"],
    "stats": ["pearson", "spearman_brown"],
    "summary": ["layer_table", "region_values", "time_course"],
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
