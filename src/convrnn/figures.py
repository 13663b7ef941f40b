"""Paper figures from the pipeline's summary tables (seaborn; every figure saved in each requested format)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from convrnn.io import atomic_path  # noqa: E402

sns.set_theme(context="paper", style="ticks", font_scale=1.1)


def save_figure(fig, paths: Sequence[str | Path]) -> None:
    for p in paths:
        p = Path(p)
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=p.suffix.lstrip("."), dpi=150, bbox_inches="tight")
    plt.close(fig)


def model_family(arch: str) -> str:
    if arch.startswith("resnet"):
        return "ResNet"
    if arch.startswith("ff"):
        return "feedforward"
    return "ConvRNN"


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of points not dominated (smaller-or-equal x with larger-or-equal y, one strictly)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        keep[i] = not dominated.any()
    return keep


def _annotate(ax, df, x, y, label="model"):
    for _, row in df.iterrows():
        ax.annotate(row[label], (row[x], row[y]), textcoords="offset points", xytext=(4, 3), fontsize=7)


def plot_task(summary: pd.DataFrame, metrics: pd.DataFrame, paths) -> None:
    """(a) held-out top-1 vs parameters per model; (b) validation top-1 per epoch."""
    s = summary.assign(family=summary["arch"].map(model_family))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sns.scatterplot(data=s, x="n_params", y="val_top1", hue="family", s=60, ax=axes[0])
    _annotate(axes[0], s, "n_params", "val_top1")
    axes[0].set(xscale="log", xlabel="parameters", ylabel="held-out top-1", title="Task performance vs parameters")
    sns.lineplot(data=metrics, x="epoch", y="val_top1", hue="model", marker="o", ax=axes[1])
    axes[1].set(ylabel="validation top-1", title="Training")
    sns.despine(fig)
    save_figure(fig, paths)


def plot_neural_over_time(summary: pd.DataFrame, paths) -> None:
    """Region score (Brain-Score's aggregate, or the median noise-corrected r) of each model's best layer per region
    vs neural time bin, each bin scored with the model step of the same interval."""
    d = summary[summary["matched"] & summary["is_best_layer"]]
    regions = sorted(d["region"].unique())
    fig, axes = plt.subplots(1, len(regions), figsize=(4.5 * len(regions), 3.8), squeeze=False, sharey=True)
    for ax, region in zip(axes[0], regions):
        sns.lineplot(data=d[d["region"] == region], x="time_bin_start_ms", y="region_score", hue="model", marker="o",
                     ax=ax)
        ax.set(title=f"{region}", xlabel="time bin start (ms after image onset)", ylabel="noise-corrected predictivity")
    sns.despine(fig)
    save_figure(fig, paths)


def plot_best_layer(summary: pd.DataFrame, paths) -> None:
    """Time-averaged region-level r (matched steps; what ``is_best_layer`` ranks, free of the ceiling that is near 0 in
    bins without signal) of every layer, per region and model; best layer marked."""
    d = summary[summary["matched"]].groupby(["model", "region", "layer", "layer_index"], as_index=False).agg(
        score=("region_r", "mean"), best=("is_best_layer", "first"))
    regions = sorted(d["region"].unique())
    fig, axes = plt.subplots(1, len(regions), figsize=(4.5 * len(regions), 3.8), squeeze=False, sharey=True)
    for ax, region in zip(axes[0], regions):
        r = d[d["region"] == region].sort_values("layer_index")
        sns.lineplot(data=r, x="layer_index", y="score", hue="model", marker="o", ax=ax)
        best = r[r["best"]]
        ax.scatter(best["layer_index"], best["score"], s=140, facecolors="none", edgecolors="k", zorder=5)
        ticks = r.drop_duplicates("layer_index")
        ax.set_xticks(ticks["layer_index"], ticks["layer"], rotation=45)
        ax.set(title=f"{region}: best layer per model", xlabel="layer", ylabel="time-averaged r (region)")
    sns.despine(fig)
    save_figure(fig, paths)


def plot_behavior(summary: pd.DataFrame, per_image: pd.DataFrame, paths) -> None:
    """(a) OST consistency per model with the noise ceiling; (b) model vs primate solution time, best model."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    s = summary.sort_values("rho", ascending=False)
    sns.barplot(data=s, x="model", y="rho", ax=axes[0], color="0.6")
    if "ceiling" in s and s["ceiling"].notna().any():
        axes[0].axhline(float(s["ceiling"].iloc[0]), ls="--", c="k", lw=1, label="noise ceiling")
        axes[0].legend()
    for i, row in enumerate(s.itertuples()):
        axes[0].annotate(f"{row.n_model_nan} unsolved", (i, 0), ha="center", va="bottom", fontsize=7, rotation=90)
    axes[0].set(ylabel="Spearman rho (OST)", title="Object solution time consistency")
    axes[0].tick_params(axis="x", rotation=45)
    best = s["model"].iloc[0]
    d = per_image[per_image["model"] == best]
    sns.scatterplot(data=d, x="target_ost_ms", y="model_ost_ms", ax=axes[1], s=15)
    axes[1].set(xlabel="primate OST (ms after image onset)", ylabel=f"{best} OST (ms after image onset)",
                title="Per-image solution times")
    sns.despine(fig)
    save_figure(fig, paths)


def plot_pareto(summary: pd.DataFrame, paths) -> None:
    """Task performance vs parameters and vs units, with the Pareto front of each."""
    s = summary.assign(family=summary["arch"].map(model_family))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, col, label in zip(axes, ["n_params", "n_units"], ["parameters", "units (summed over layers and steps)"]):
        sns.scatterplot(data=s, x=col, y="val_top1", hue="family", s=60, ax=ax)
        front = s[pareto_front(s[col].to_numpy(), s["val_top1"].to_numpy())].sort_values(col)
        ax.plot(front[col], front["val_top1"], "k--", lw=1, label="Pareto front")
        _annotate(ax, s, col, "val_top1")
        ax.set(xscale="log", xlabel=label, ylabel="held-out top-1")
        ax.legend(fontsize=7)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_dynamics(dynamics: pd.DataFrame, fits: pd.DataFrame, paths) -> None:
    """Distance from the late reference point vs steps since it (log-log) and the fitted power law."""
    fig, ax = plt.subplots(figsize=(5, 4))
    d = dynamics[dynamics["steps_since_ref"] > 0]
    sns.lineplot(data=d, x="steps_since_ref", y="distance", hue="model", ax=ax)
    for row in fits.itertuples():
        if not np.isfinite(row.exponent):
            continue
        k = d.loc[d["model"] == row.model, "steps_since_ref"].to_numpy(float)
        if len(k):
            grid = np.geomspace(k.min(), k.max(), 20)
            ax.plot(grid, row.prefactor * grid**row.exponent, "k:", lw=1)
            ax.annotate(f"c={row.exponent:.2f}", (grid[-1], row.prefactor * grid[-1] ** row.exponent), fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel="steps since reference", ylabel="||theta_k - theta_ref||",
           title="Anomalous diffusion late in training")
    sns.despine(fig)
    save_figure(fig, paths)
