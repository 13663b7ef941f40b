"""The tables beside the figures (``results/tables/``): the numbers each figure draws, one row per model (or model x
area, model x convention), with the papers' reported values where they are known. Each is written as Parquet and as
a readable CSV and Markdown copy (docs/data_formats.md, "Tables").
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from convrnn.io import atomic_path, write_parquet
from convrnn.neural.summary import MIN_CEILING, time_averaged

MODEL_COLUMNS = ["model", "arch", "family", "kind", "width", "n_params", "n_units", "n_units_pre_pool", "val_top1",
                 "val_top5", "paper_top1", "paper_top5", "pareto_params", "pareto_units"]
AREA_COLUMNS = ["model", "region", "layers", "n_splits_chosen", "selection_score", "score", "score_sem", "n_bins",
                "time_bin_start_ms", "time_bin_end_ms"]
BEHAVIOR_COLUMNS = ["model", "convention", "rho", "rho_sem", "fraction_it_solved", "n_model_solved",
                    "n_target_solved", "layers", "placement"]
CORRELATION_COLUMNS = ["x", "y", "n_models", "spearman_rho", "spearman_p", "pearson_r", "pearson_p"]
SEARCH_COLUMNS = ["arch_id", "source", "rank", "val_top1", "n_trials", "top_k"]


def pareto_front(x, y) -> np.ndarray:
    """Boolean mask of points not dominated (smaller-or-equal x with larger-or-equal y, one strictly)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        keep[i] = not dominated.any()
    return keep


def model_table(training: pd.DataFrame, kinds: Mapping[str, tuple[str, str]], released: Mapping | None = None,
                imagenet: bool = False) -> pd.DataFrame:
    """Per model: size, held-out accuracy, the authors' reported ImageNet accuracy of its architecture (only where
    the run trains that architecture at full size on ImageNet: ``imagenet`` and no width override), and whether it
    is on the Pareto front of all models by parameters and by units; ``width``: the channel-width override (1: the
    published size). ``kinds``: model -> (family, kind)."""
    t = training.copy()
    t["family"] = t["model"].map(lambda m: kinds.get(m, ("other", "other"))[0])
    t["kind"] = t["model"].map(lambda m: kinds.get(m, ("other", "other"))[1])
    if "n_units_pre_pool" not in t:
        t["n_units_pre_pool"] = np.nan
    paper, widths = [], []
    for _, row in t.iterrows():
        spec = json.loads(row["spec"]) if isinstance(row.get("spec"), str) else {}
        width = (spec.get("overrides") or {}).get("width")
        widths.append(float(width) if width is not None else 1.0)
        full = imagenet and width in (None, 1, 1.0)
        paper.append((released or {}).get(row["arch"], (np.nan, np.nan)) if full else (np.nan, np.nan))
    t["width"] = widths
    t["paper_top1"], t["paper_top5"] = [p[0] for p in paper], [p[1] for p in paper]
    for size in ("params", "units"):
        t[f"pareto_{size}"] = pareto_front(t[f"n_{size}"], t["val_top1"])
    return t[MODEL_COLUMNS].sort_values("model", ignore_index=True)


def area_table(layers: pd.DataFrame, course: pd.DataFrame, min_ceiling: float = MIN_CEILING) -> pd.DataFrame:
    """Per model x area: the committed layer(s), how many splits chose the best of them, its selection score, and the
    time course's score averaged over the reliable bins (mean and s.e.m. over the splits)."""
    rows = []
    for (model, region), g in layers[layers["committed"]].groupby(["model", "region"], sort=True):
        g = g.sort_values("layer_index")
        best = g.sort_values("rank").iloc[0]
        rows.append({"model": model, "region": region, "layers": ",".join(g["layer"]),
                     "n_splits_chosen": int(best["n_splits_chosen"]), "selection_score": float(best["score_all"])})
    avg = time_averaged(course, min_ceiling)
    out = pd.DataFrame(rows).merge(avg, on=["model", "region"], how="left")
    return out[AREA_COLUMNS]


def behavior_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per model x OST convention: rho with its split s.e.m., and the images solved."""
    return summary[BEHAVIOR_COLUMNS].sort_values(["convention", "model"], ignore_index=True)


def brain_vs_task(models: pd.DataFrame, areas: pd.DataFrame, behavior: pd.DataFrame) -> pd.DataFrame:
    """Across models, the correlation of held-out top-1 with each brain match: the time-averaged neural score per
    area and the OST rho per convention (NC 2022: the highest-performing ConvRNNs best match neural and behavioural
    data). NaN where fewer than three models have both values."""
    from scipy.stats import pearsonr, spearmanr

    top1 = models.set_index("model")["val_top1"]
    measures = {f"neural score ({r})": g.set_index("model")["score"] for r, g in areas.groupby("region")}
    measures |= {f"OST rho ({c})": g.set_index("model")["rho"] for c, g in behavior.groupby("convention")}
    rows = []
    for name, values in measures.items():
        both = pd.concat([top1, values], axis=1, join="inner").dropna()
        n = len(both)
        enough = n >= 3 and both.iloc[:, 0].nunique() > 1 and both.iloc[:, 1].nunique() > 1
        s = spearmanr(both.iloc[:, 0], both.iloc[:, 1]) if enough else (np.nan, np.nan)
        p = pearsonr(both.iloc[:, 0], both.iloc[:, 1]) if enough else (np.nan, np.nan)
        rows.append({"x": "val_top1", "y": name, "n_models": n, "spearman_rho": float(s[0]),
                     "spearman_p": float(s[1]), "pearson_r": float(p[0]), "pearson_p": float(p[1])})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def search_table(selected: pd.DataFrame, trials: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """The search's selected architectures (top trials and the median) with their hyperparameters (one column each),
    the number of completed trials and the size of the top set."""
    n_trials = int((trials["state"] == "COMPLETE").sum()) if "state" in trials else len(trials)
    rows = []
    for _, row in selected.iterrows():
        over = json.loads(row["overrides"]) if isinstance(row["overrides"], str) else {}
        rows.append({"arch_id": row["arch_id"], "source": row["source"], "rank": row["rank"],
                     "val_top1": row["val_top1"], "n_trials": n_trials, "top_k": top_k,
                     **{f"cell.{k}": v for k, v in (over.get("cell") or {}).items()},
                     "edges": " ".join(f"{a}->{b}" for a, b in over.get("edges") or [])})
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, parquet_path: str | os.PathLike) -> None:
    """The table as Parquet, with a CSV and a Markdown copy beside it (same stem)."""
    parquet_path = Path(parquet_path)
    write_parquet(table, parquet_path)
    with atomic_path(parquet_path.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(parquet_path.with_suffix(".md")) as tmp:
        Path(tmp).write_text(markdown(table))


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (numbers to ``digits`` significant digits)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"
