"""What the search learned: performance per cell feature, and the best value found over trials (drawn by
``convrnn.figures.plot_feature_effects`` / ``plot_best_so_far``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .trials import META_COLUMNS, completed_trials

EFFECT_COLUMNS = ["feature", "level", "n", "mean", "sem", "best"]


def feature_effects(trials_df: pd.DataFrame) -> pd.DataFrame:
    """Objective per level of each binary / categorical feature, over COMPLETE trials.

    Features: ``gating`` (gate_filter_size > 0: the cell's gated memory exists), every boolean column
    (bypass = out_residual, the other input/output switches, depth-separability, layer_norm, and each
    ``edge_<src>_<dst>`` as present/absent) and every string column (nonlinearities, feedback entry).
    Features with a single observed level are left out (nothing to contrast).
    Columns: feature, level, n, mean, sem (NaN for n = 1), best.
    """
    df = completed_trials(trials_df)
    features = {}
    if "gate_filter_size" in df.columns:
        features["gating"] = (df["gate_filter_size"] > 0).map({True: "on", False: "off"})
    for col in df.columns:
        if col in META_COLUMNS:
            continue
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            labels = ("present", "absent") if col.startswith("edge_") else ("on", "off")
            features[col] = s.map({True: labels[0], False: labels[1]})
        elif pd.api.types.is_string_dtype(s) or s.dtype == object:
            features[col] = s.astype("string")
    rows = []
    for name, levels in features.items():
        groups = df["value"].groupby(levels.to_numpy(object), sort=True)
        if groups.ngroups < 2:
            continue
        for level, v in groups:
            rows.append({"feature": name, "level": str(level), "n": len(v), "mean": v.mean(),
                         "sem": v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan, "best": v.max()})
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS).astype({"n": "int64"})


def best_so_far(trials_df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials in trial-number order: number, state, value (NaN unless COMPLETE), best_value."""
    df = trials_df[trials_df["state"].isin(["COMPLETE", "PRUNED", "FAIL"]).fillna(False).to_numpy(bool)]
    df = df.sort_values("number")[["number", "state", "value"]].reset_index(drop=True)
    value = df["value"].where(df["state"] == "COMPLETE").astype(float)
    return df.assign(value=value, best_value=value.cummax().ffill())
