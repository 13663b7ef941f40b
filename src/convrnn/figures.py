"""Paper figures from the pipeline's summary tables (seaborn; every figure saved in each requested format).

Every figure draws a model with the same colour and marker (``model_styles``): one hue range per family (a ConvRNN
cell type, the feed-forward controls, ResNets), darker for larger models, a marker per kind (ConvRNN, base FF,
wider FF, deeper FF, ResNet, searched). Titles name the paper analysis each figure reproduces (``PAPER``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from convrnn.io import atomic_path  # noqa: E402

sns.set_theme(context="paper", style="ticks", font_scale=1.1)

#: Which paper analysis each figure reproduces (figure numbers are not given: we could not check them).
PAPER = {
    "task": "NeurIPS 2018: ImageNet-style task performance of cell types vs parameters",
    "neural": "NeurIPS 2018: neural predictivity over time (best layer per area)",
    "best_layer": "NeurIPS 2018: model layer best matching each area",
    "behavior": "NC 2022: object solution times (Kar et al. 2019)",
    "pareto": "NC 2022: performance vs network size (Pareto fronts)",
    "dynamics": "Kunin et al.: anomalous diffusion late in training",
    "search": "NeurIPS 2018: architecture search (TPE)",
}

# family -> seaborn palette (a hue range); order = the order families are listed in legends
FAMILY_PALETTES = {"rgc": "Blues", "ugrnn": "Greens", "gru": "PuRd", "lstm": "Oranges", "intersectionrnn": "YlOrBr",
                   "simplernn": "BuPu", "timedecay": "Purples", "feedforward": "Reds", "resnet": "copper_r"}
KIND_MARKERS = {"convrnn": "o", "ff": "^", "ff_wide": "s", "ff_deep": "D", "resnet": "P", "searched": "*"}


def save_figure(fig, paths: Sequence[str | Path]) -> None:
    for p in paths:
        p = Path(p)
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=p.suffix.lstrip("."), dpi=150, bbox_inches="tight")
    plt.close(fig)


def model_family(arch: str) -> str:
    """The family a zoo architecture belongs to: its cell type, ``feedforward`` or ``resnet``."""
    if arch.startswith("resnet"):
        return "resnet"
    if arch.startswith("ff"):
        return "feedforward"
    return arch.split("_")[0]


def model_kind(model: str, arch: str) -> str:
    if model.startswith("search_"):
        return "searched"
    if arch.startswith("resnet"):
        return "resnet"
    for kind in ("ff_wide", "ff_deep"):
        if arch.startswith(kind):
            return kind
    return "ff" if arch.startswith("ff") else "convrnn"


def model_styles(arches: Mapping[str, str]) -> dict[str, dict]:
    """model -> {"color", "marker", "family"}: models of a family share its hue range, shaded in the order given
    (config order: list a family's sizes from small to large); the same in every figure."""
    by_family: dict[str, list[str]] = {}
    for model, arch in arches.items():
        by_family.setdefault(model_family(arch), []).append(model)
    styles = {}
    for family, models in by_family.items():
        shades = sns.color_palette(FAMILY_PALETTES.get(family, "Greys"), len(models) + 2)[2:]
        for model, color in zip(models, shades):
            styles[model] = {"color": color, "marker": KIND_MARKERS[model_kind(model, arches[model])],
                             "family": family}
    return styles


def _palette(styles, models):
    return {m: styles[m]["color"] for m in models if m in styles}


def _markers(styles, models):
    return {m: styles[m]["marker"] for m in models if m in styles}


def _order(styles, models) -> list[str]:
    present = set(models)
    return [m for m in styles if m in present] + sorted(present - set(styles))


def _legend_outside(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=7, **kw)


def _log_axis(ax, axis: str) -> None:
    """Log axis labelled at 1, 2, 5 x 10^k in engineering notation (200k, 1M): a few short labels per decade, so
    narrow ranges still get labels and wide ones do not overlap; other minor ticks unlabelled."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = (ax.get_xlim() if axis == "x" else ax.get_ylim())
    subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-300) < 1e3 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    # counts in engineering notation (200k, 1M); values below 1 plainly (0.05, not "50m")
    target.set_major_formatter(EngFormatter(sep="") if lo >= 1 else FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 0.1, numticks=12))
    target.set_minor_formatter(NullFormatter())


def _scatter_models(ax, df, x, y, styles, size=70):
    for model in _order(styles, df["model"].unique()):
        row = df[df["model"] == model]
        st = styles.get(model, {"color": "0.5", "marker": "o"})
        ax.scatter(row[x], row[y], color=st["color"], marker=st["marker"], s=size, edgecolors="k", linewidths=0.4,
                   label=model, zorder=3)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of points not dominated (smaller-or-equal x with larger-or-equal y, one strictly)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        keep[i] = not dominated.any()
    return keep


def plot_task(summary: pd.DataFrame, metrics: pd.DataFrame, styles, paths) -> None:
    """(a) held-out top-1 vs parameters per model; (b) validation top-1 per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _scatter_models(axes[0], summary, "n_params", "val_top1", styles)
    axes[0].set(xscale="log", xlabel="parameters", ylabel="held-out top-1", title="Task performance vs parameters")
    _log_axis(axes[0], "x")
    order = _order(styles, metrics["model"].unique())
    sns.lineplot(data=metrics, x="epoch", y="val_top1", hue="model", hue_order=order, palette=_palette(styles, order),
                 style="model", style_order=order, markers=_markers(styles, order), dashes=False, ax=axes[1])
    axes[1].set(ylabel="validation top-1", title="Training")
    axes[1].xaxis.get_major_locator().set_params(integer=True)
    axes[0].get_legend() and axes[0].get_legend().remove()
    _legend_outside(axes[1])
    fig.suptitle(PAPER["task"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


MIN_CEILING = 0.1   # bins whose region ceiling is below this carry no reliable signal: their ceiled scores explode


def plot_neural_over_time(summary: pd.DataFrame, styles, paths) -> None:
    """Region score of each model's best layer per region vs neural time bin (each bin scored with the model step of
    the same interval); error bars: standard error over the cross-validation splits where the table has them. Bins
    whose region ceiling is below ``MIN_CEILING`` are left out (noted on the figure)."""
    d = summary[summary["matched"] & summary["is_best_layer"]]
    ceiling = d["brainscore_ceiling"].fillna(d["ceiling"]) if "brainscore_ceiling" in d else d["ceiling"]
    n_dropped = d.loc[ceiling < MIN_CEILING, ["region", "time_bin_start_ms"]].drop_duplicates().shape[0]
    d = d[ceiling >= MIN_CEILING]
    regions = sorted(d["region"].unique())
    order = _order(styles, d["model"].unique())
    fig, axes = plt.subplots(1, len(regions), figsize=(5 * len(regions) + 1.5, 3.8), squeeze=False, sharey=True)
    for ax, region in zip(axes[0], regions):
        r = d[d["region"] == region]
        for model in order:
            m = r[r["model"] == model].sort_values("time_bin_start_ms")
            st = styles.get(model, {"color": "0.5", "marker": "o"})
            err = m["region_score_sem"] if "region_score_sem" in m else None
            ax.errorbar(m["time_bin_start_ms"], m["region_score"], yerr=err, color=st["color"], marker=st["marker"],
                        ms=4, lw=1.2, capsize=2, label=model)
        ax.set(title=region, xlabel="time bin start (ms after image onset)", ylabel="noise-corrected predictivity")
    _legend_outside(axes[0][-1])
    if n_dropped:
        fig.text(0.01, -0.02, f"{n_dropped} region x bin(s) with ceiling < {MIN_CEILING} left out", fontsize=7)
    fig.suptitle(PAPER["neural"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_best_layer(summary: pd.DataFrame, styles, paths) -> None:
    """Time-averaged region-level r (matched steps; what ``is_best_layer`` ranks) of every layer, per region and
    model; best layer circled."""
    d = summary[summary["matched"]].groupby(["model", "region", "layer", "layer_index"], as_index=False).agg(
        score=("region_r", "mean"), best=("is_best_layer", "first"))
    regions = sorted(d["region"].unique())
    order = _order(styles, d["model"].unique())
    fig, axes = plt.subplots(1, len(regions), figsize=(5 * len(regions) + 1.5, 3.8), squeeze=False, sharey=True)
    for ax, region in zip(axes[0], regions):
        r = d[d["region"] == region].sort_values("layer_index")
        for model in order:
            m = r[r["model"] == model]
            st = styles.get(model, {"color": "0.5", "marker": "o"})
            ax.plot(m["layer_index"], m["score"], color=st["color"], marker=st["marker"], ms=4, lw=1.2, label=model)
        best = r[r["best"]]
        ax.scatter(best["layer_index"], best["score"], s=140, facecolors="none", edgecolors="k", zorder=5)
        ticks = r.drop_duplicates("layer_index")
        ax.set_xticks(ticks["layer_index"], ticks["layer"], rotation=45)
        ax.set(title=f"{region}: best layer circled", xlabel="layer", ylabel="time-averaged r (region)")
    _legend_outside(axes[0][-1])
    fig.suptitle(PAPER["best_layer"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_behavior(summary: pd.DataFrame, per_image: pd.DataFrame, styles, paths) -> None:
    """(a) OST consistency per model with the noise ceiling (error bars: spread over splits where the table has it);
    (b) model vs primate solution time, best model."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    s = summary.set_index("model").loc[_order(styles, summary["model"].unique())].reset_index()
    x = np.arange(len(s))
    err = s["rho_sem"] if "rho_sem" in s else None
    colors = [styles.get(m, {"color": "0.6"})["color"] for m in s["model"]]
    axes[0].bar(x, s["rho"], yerr=err, color=colors, edgecolor="k", linewidth=0.4, capsize=2)
    if "ceiling" in s and s["ceiling"].notna().any():
        ceiling = float(s["ceiling"].iloc[0])
        axes[0].axhline(ceiling, ls="--", c="k", lw=1)
        axes[0].annotate("noise ceiling", (1, ceiling), xycoords=("axes fraction", "data"), xytext=(0, -3),
                         textcoords="offset points", ha="right", va="top", fontsize=7)
    n_images = s["n_images"] if "n_images" in s else None
    for i, row in enumerate(s.itertuples()):
        solved = f"{row.n_images - row.n_model_nan}/{row.n_images}" if n_images is not None else f"-{row.n_model_nan}"
        if not np.isfinite(row.rho):   # e.g. a feedforward model: one solution time for every image it solves
            solved += " (rho undefined)"
        axes[0].annotate(solved, (i, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                         fontsize=6, rotation=90)
    axes[0].set_xticks(x, s["model"], rotation=60, ha="right", fontsize=7)
    axes[0].set(ylabel="Spearman rho (OST)", title="OST consistency (images solved in bars)")
    best = s.sort_values("rho", ascending=False)["model"].iloc[0]
    d = per_image[per_image["model"] == best]
    st = styles.get(best, {"color": "0.3", "marker": "o"})
    axes[1].scatter(d["target_ost_ms"], d["model_ost_ms"], s=12, color=st["color"], marker=st["marker"])
    axes[1].set(xlabel="primate OST (ms after image onset)", ylabel=f"{best} OST (ms after image onset)",
                title="Per-image solution times, best model")
    fig.suptitle(PAPER["behavior"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_pareto(summary: pd.DataFrame, styles, paths) -> None:
    """Task performance vs parameters and vs units (neurons, each counted once), with each family's Pareto front
    (the best performance it reaches at a given size) in the family's darkest shade."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    family = summary["model"].map(lambda m: styles.get(m, {}).get("family", m))
    for ax, col, label in zip(axes, ["n_params", "n_units"], ["parameters", "units (neurons, each counted once)"]):
        _scatter_models(ax, summary, col, "val_top1", styles)
        for fam in family.unique():
            members = summary[family == fam]
            if len(members) < 2:
                continue
            front = members[pareto_front(members[col].to_numpy(), members["val_top1"].to_numpy())].sort_values(col)
            dark = min((styles[m]["color"] for m in members["model"] if m in styles), key=sum, default="0.3")
            ax.step(front[col], front["val_top1"], "--", color=dark, lw=1, where="post", label=f"{fam} front",
                    zorder=2)
        ax.set(xscale="log", xlabel=label, ylabel="held-out top-1")
        _log_axis(ax, "x")
    _legend_outside(axes[1])
    fig.suptitle(PAPER["pareto"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_dynamics(dynamics: pd.DataFrame, fits: pd.DataFrame, styles, paths) -> None:
    """Distance from the late reference point vs steps since it (log-log) and the fitted power law."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    d = dynamics[dynamics["steps_since_ref"] > 0]
    exps = dict(zip(fits["model"], fits["exponent"]))
    for model in _order(styles, d["model"].unique()):
        m = d[d["model"] == model].sort_values("steps_since_ref")
        st = styles.get(model, {"color": "0.5", "marker": "o"})
        c = exps.get(model, np.nan)
        ax.plot(m["steps_since_ref"], m["distance"], color=st["color"], lw=1.2,
                label=f"{model} (c={c:.2f})" if np.isfinite(c) else model)
    for row in fits.itertuples():
        k = d.loc[d["model"] == row.model, "steps_since_ref"].to_numpy(float)
        if np.isfinite(row.exponent) and len(k):
            grid = np.geomspace(k.min(), k.max(), 20)
            ax.plot(grid, row.prefactor * grid**row.exponent, "k:", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="steps since reference (constant learning rate)",
           ylabel="||theta_k - theta_ref||", title="distance ~ steps^c (dotted: fit)")
    _log_axis(ax, "x")
    _log_axis(ax, "y")
    _legend_outside(ax)
    fig.suptitle(PAPER["dynamics"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)
