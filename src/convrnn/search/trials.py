"""The study as a flat table: one row per trial, one column per hyperparameter."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .space import edge_column
from .storage import load_space, load_study

META_COLUMNS = ["number", "state", "value", "datetime_start", "datetime_complete", "duration_s",
                "worker", "fail_reason"]


def trials_table(storage_path: str | os.PathLike, study_name: str) -> pd.DataFrame:
    """Columns: META_COLUMNS, then every cell hyperparameter of the space (the value used, fixed and tied
    ones included), then one boolean ``edge_<src>_<dst>`` per candidate edge. ``value`` is the objective
    (val_top1), NaN unless COMPLETE. Hyperparameter columns use pandas nullable dtypes (Int64, boolean,
    Float64, string) so int/bool/str survive Parquet and missing values (a trial that failed before
    sampling, or still RUNNING) are <NA>.
    """
    study = load_study(storage_path, study_name)
    space = load_space(storage_path, study_name)
    edge_cols = space.edge_columns
    rows = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        overrides = t.user_attrs.get("overrides")
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.state.name == "COMPLETE" else None,
            "datetime_start": t.datetime_start,
            "datetime_complete": t.datetime_complete,
            "duration_s": t.duration.total_seconds() if t.duration is not None else None,
            "worker": t.user_attrs.get("worker"),
            "fail_reason": t.user_attrs.get("fail_reason"),
        }
        if overrides is not None:
            row.update(overrides["cell"])
            present = {edge_column(*e) for e in overrides["edges"]}
            row.update({c: c in present for c in edge_cols})
        rows.append(row)
    df = pd.DataFrame(rows, columns=META_COLUMNS + list(space.params) + edge_cols)
    df = df.astype({"number": "int64", "value": "float64", "duration_s": "float64",
                    "state": "string", "worker": "string", "fail_reason": "string"})
    for name, spec in space.params.items():
        df[name] = df[name].astype(_param_dtype(spec))
    return df.astype({c: "boolean" for c in edge_cols})


def _param_dtype(spec) -> str:
    values = [spec.value] if spec.type == "fixed" else list(spec.choices) if spec.type == "categorical" else []
    if spec.type == "int" or (values and all(type(v) is int for v in values)):
        return "Int64"
    if spec.type in ("float", "tied") or (values and all(type(v) in (int, float) for v in values)):
        return "Float64"
    if values and all(type(v) is bool for v in values):
        return "boolean"
    if values and all(type(v) is str for v in values):
        return "string"
    return "object"   # a categorical mixing types (e.g. [3, "auto"])


def completed_trials(trials_df: pd.DataFrame) -> pd.DataFrame:
    """The trials that count: COMPLETE with a finite value (checks the columns it needs)."""
    missing = [c for c in ("number", "state", "value") if c not in trials_df.columns]
    if missing:
        raise ValueError(f"trials table: missing column(s) {missing}")
    ok = (trials_df["state"] == "COMPLETE").fillna(False).to_numpy(bool)
    return trials_df[ok & np.isfinite(trials_df["value"].to_numpy(float, na_value=np.nan))]
