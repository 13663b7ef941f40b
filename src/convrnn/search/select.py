"""Pick the winners of a search: the top-k trials and the paper's "median" architecture.

The median model (Nayebi et al. 2018) takes, per hyperparameter, the median over the top-performing
trials. Our definition (the paper's exact procedure is unpublished: docs/references.md, Architecture search):
- float: the median (mean of the middle two for an even count);
- int: the lower median, i.e. an observed value (so a filter size stays an integer and a gate size of
  0 vs 7 cannot average to an unsampled 3.5);
- categorical, bool and fixed: the mode; ties go to the value of the best-ranked trial;
- tied (with a space): recomputed from the median of the parameter it is tied to;
- a feedback edge: included when present in >= 50% of the top set.
Without a ``space`` the kind is read from the column dtype (bool/string -> mode, integer -> lower
median, float -> median), so numeric categoricals (cell_depth) also get a lower median: a sampled value.
Trials are ranked by value (descending), ties by trial number: the result is deterministic.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from .space import SearchSpace
from .trials import META_COLUMNS, completed_trials

_EDGE_PREFIX = "edge_"
COLUMNS = ["arch_id", "source", "rank", "trial_number", "val_top1", "median_of", "overrides"]


def select_architectures(trials_df: pd.DataFrame, top_k: int = 3, *, median_of_top_n: int | None = None,
                         median_of_top_fraction: float | None = None, space: SearchSpace | None = None,
                         prefix: str = "search") -> pd.DataFrame:
    """Rows ``{prefix}_top1..k`` (source "top") and ``{prefix}_median`` (source "median").

    Only COMPLETE trials with a finite value are eligible. The median is taken over the best
    ``median_of_top_n`` trials, or the best ``ceil(median_of_top_fraction * n_eligible)`` (default:
    fraction 0.1, at least one trial). ``overrides`` is JSON ``{"cell": {...}, "edges": [[src, dst], ...]}``
    for ``convrnn.models.build(base, **json.loads(overrides))``.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    ranked = completed_trials(trials_df).sort_values(["value", "number"], ascending=[False, True], kind="stable")
    if ranked.empty:
        raise ValueError("trials table: no COMPLETE trial with a finite value to select from")
    n_median = _median_set_size(len(ranked), median_of_top_n, median_of_top_fraction)

    params, edges = _columns(trials_df, space)
    rows = []
    for rank, (_, t) in enumerate(ranked.head(top_k).iterrows(), start=1):
        cell = {p: _py(t[p]) for p in params if not pd.isna(t[p])}
        chosen = [list(e) for col, e in edges.items() if not pd.isna(t[col]) and bool(t[col])]
        rows.append({"arch_id": f"{prefix}_top{rank}", "source": "top", "rank": rank,
                     "trial_number": int(t["number"]), "val_top1": float(t["value"]), "median_of": pd.NA,
                     "overrides": _dumps(cell, chosen)})
    top = ranked.head(n_median)
    cell = _median_cell(top, params, space)
    chosen = [list(e) for col, e in edges.items() if top[col].fillna(False).astype(bool).sum() >= 0.5 * len(top)]
    rows.append({"arch_id": f"{prefix}_median", "source": "median", "rank": pd.NA, "trial_number": pd.NA,
                 "val_top1": np.nan, "median_of": n_median, "overrides": _dumps(cell, chosen)})
    return pd.DataFrame(rows, columns=COLUMNS).astype(
        {"rank": "Int64", "trial_number": "Int64", "median_of": "Int64", "val_top1": "float64"})


def _median_set_size(n_eligible: int, n: int | None, fraction: float | None) -> int:
    if n is not None and fraction is not None:
        raise ValueError("give median_of_top_n or median_of_top_fraction, not both")
    if n is not None:
        if n < 1:
            raise ValueError(f"median_of_top_n must be >= 1, got {n}")
        return min(n, n_eligible)
    fraction = 0.1 if fraction is None else fraction
    if not 0 < fraction <= 1:
        raise ValueError(f"median_of_top_fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * n_eligible))


def _columns(df: pd.DataFrame, space: SearchSpace | None) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """(cell hyperparameter columns, {edge column: (src, dst)})."""
    if space is not None:
        wanted = list(space.params) + space.edge_columns
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise ValueError(f"trials table: missing column(s) {missing} of the search space")
        return list(space.params), dict(zip(space.edge_columns, space.candidate_edges))
    params, edges = [], {}
    for col in df.columns:
        if col in META_COLUMNS:
            continue
        if col.startswith(_EDGE_PREFIX):
            parts = col[len(_EDGE_PREFIX):].split("_")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"trials table: column {col!r} is not edge_<src>_<dst>")
            edges[col] = tuple(parts)
        else:
            params.append(col)
    return params, edges


def _median_cell(top: pd.DataFrame, params: list[str], space: SearchSpace | None) -> dict:
    cell = {}
    for p in params:
        spec = space.params[p] if space is not None else None
        if spec is not None and spec.type == "tied":
            continue
        values = top[p].dropna()        # in rank order
        if values.empty:
            continue
        kind = _kind(spec, top[p])
        if kind == "mode":
            counts = values.map(_py).value_counts(sort=False)  # first-seen order = rank order
            cell[p] = _py(counts.index[int(np.argmax(counts.to_numpy()))])
        elif kind == "lower_median":
            cell[p] = int(np.sort(values.to_numpy(np.int64))[(len(values) - 1) // 2])
        else:
            cell[p] = float(np.median(values.to_numpy(float)))
    if space is not None:
        for p in params:
            spec = space.params[p]
            if spec.type == "tied" and spec.to in cell:
                cell[p] = spec.scale * cell[spec.to]
        cell = {p: cell[p] for p in params if p in cell}
    return cell


def _kind(spec, column: pd.Series) -> str:
    if spec is not None:
        return {"int": "lower_median", "float": "median"}.get(spec.type, "mode")
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "mode"
    return "lower_median" if pd.api.types.is_integer_dtype(column) else "median"


def _py(v):
    """numpy / pandas scalars -> plain JSON-able Python values."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def _dumps(cell: dict, edges: list) -> str:
    return json.dumps({"cell": cell, "edges": edges})
