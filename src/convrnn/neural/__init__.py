"""Neural predictivity (ceilings, splits, batched ridge / PLS, scoring) and behavioural OST metrics."""
from .behavior import decode_over_time, i1_dprime, ost_consistency, ost_score, solution_times
from .ceiling import SplitHalf, split_half_reliability
from .data import NeuralData
from .scoring import (Responses, brainscore_aggregate, check_bins_pair, nayebi_consistency, score_features,
                      step_bin_pairs, step_interval, summarize)
from .solvers import pls_cv, ridge_cv, ridge_path
from .splits import brainscore_splits, random_splits, shuffle_splits, stratified_splits
from .stats import pearson, spearman_brown

__all__ = ["NeuralData", "Responses", "SplitHalf", "split_half_reliability", "stratified_splits", "brainscore_splits",
           "random_splits", "shuffle_splits", "ridge_cv", "ridge_path", "pls_cv", "score_features", "summarize",
           "brainscore_aggregate", "nayebi_consistency", "step_bin_pairs", "step_interval", "check_bins_pair",
           "i1_dprime", "decode_over_time", "solution_times", "ost_consistency", "ost_score", "pearson",
           "spearman_brown"]
