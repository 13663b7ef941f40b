"""Neural predictivity (ceilings, splits, batched ridge / PLS, scoring) and behavioural OST metrics.

Names are imported on first use, so a job pays only for what it runs (the solvers import torch, the OST decoder
sklearn's linear models: seconds per job)."""
import importlib

_HOMES = {
    "behavior": ["decode_over_time", "i1_dprime", "ost_consistency", "ost_score", "solution_times"],
    "ceiling": ["SplitHalf", "split_half_reliability"],
    "data": ["NeuralData"],
    "scoring": ["Responses", "brainscore_aggregate", "check_bins_pair", "nayebi_consistency", "score_features",
                "step_bin_pairs", "step_interval", "summarize"],
    "solvers": ["pls_cv", "ridge_cv", "ridge_path"],
    "splits": ["brainscore_splits", "random_splits", "shuffle_splits", "stratified_splits"],
    "stats": ["pearson", "spearman_brown"],
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
