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
from convrnn.neural.summary import MIN_CEILING  # noqa: E402
from convrnn.tables import pareto_front  # noqa: E402

sns.set_theme(context="paper", style="ticks", font_scale=1.1)

#: Which paper analysis each figure reproduces (figure numbers are not given: we could not check them).
PAPER = {
    "task": "NeurIPS 2018: task performance of every trained model vs parameters, and training",
    "cells": "NeurIPS 2018: recurrent cells added to the 6-layer base",
    "controls": "NeurIPS 2018: the ConvRNN against its feed-forward and minimal-unroll controls",
    "site_layers": "NeurIPS 2018: the model layer each recording site prefers",
    "task_vs_brain": "NC 2022: task performance against neural and behavioural match",
    "neural": "NeurIPS 2018 / NC 2022: neural predictivity over time (layer chosen per area)",
    "best_layer": "NeurIPS 2018 / NC 2022: model layer best matching each area (time-averaged fit)",
    "behavior": "NC 2022 Fig. 3: object solution times against IT (Kar et al. 2019)",
    "pareto": "NC 2022: performance vs network size (Pareto front across families)",
    "dynamics": "Kunin et al.: anomalous diffusion late in training",
    "search": "NeurIPS 2018: architecture search (TPE)",
}

# family -> seaborn palette (a hue range); order = the order families are listed in legends
FAMILY_PALETTES = {"rgc": "Blues", "ugrnn": "Greens", "gru": "PuRd", "lstm": "Oranges", "intersectionrnn": "YlOrBr",
                   "simplernn": "BuPu", "timedecay": "Purples", "feedforward": "Reds", "resnet": "copper_r"}
# base colours of the families without a palette above (a cell added to the zoo later), given out in the order of
# their names: hues none of the palettes above covers, then the qualitative cycle again
NEW_FAMILY_COLORS = ("#17becf", "#bcbd22", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#7570b3", "#d95f02")
KIND_MARKERS = {"convrnn": "o", "ff": "^", "ff_wide": "s", "ff_deep": "D", "resnet": "P", "searched": "*"}


def save_figure(fig, paths: Sequence[str | Path]) -> None:
    for p in paths:
        p = Path(p)
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=p.suffix.lstrip("."), dpi=150, bbox_inches="tight")
    plt.close(fig)


def model_family(arch: str) -> str:
    """The family a zoo architecture belongs to: its cell type, ``feedforward`` or ``resnet``.

    The cell type is the name's part before the first ``_``: the zoo names a cell's models ``{cell}_{backbone}...``
    and ``register_cell`` refuses a ``_`` in a cell name, so this is the registered cell. (Read from the name, not
    the registry: figure jobs do not import the model zoo.)"""
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
    (config order: list a family's sizes from small to large); the same in every figure (each gets the config's
    whole ``arches``). A family without a palette in ``FAMILY_PALETTES`` gets a range from light to a colour of
    ``NEW_FAMILY_COLORS``, one per such family in name order, so that a new cell never plots like another."""
    by_family: dict[str, list[str]] = {}
    for model, arch in arches.items():
        by_family.setdefault(model_family(arch), []).append(model)
    new = sorted(set(by_family) - set(FAMILY_PALETTES))
    styles = {}
    for family, models in by_family.items():
        n = len(models) + 2   # the two lightest shades are too pale to see
        shades = (sns.color_palette(FAMILY_PALETTES[family], n) if family in FAMILY_PALETTES else
                  sns.light_palette(NEW_FAMILY_COLORS[new.index(family) % len(NEW_FAMILY_COLORS)], n))[2:]
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


def plot_neural_over_time(course: pd.DataFrame, styles, paths, *, window_ms=None, selection_window_ms=(70, 170),
                          placement: str = "graded") -> None:
    """(top) Each model's noise-corrected predictivity per region vs neural time bin, (bottom) its mean over the shown
    bins, from the time course table: each split's scores from the layer chosen on that split's training images;
    static models placed in time by ``placement``; error bars: standard error over the cross-validation splits. Bins
    whose region ceiling is below ``MIN_CEILING`` are left out (named on the figure)."""
    d = course.copy()
    low = d["ceiling"] < MIN_CEILING
    dropped = d.loc[low, ["region", "time_bin_start_ms"]].drop_duplicates()
    d = d[~low]
    regions = sorted(d["region"].unique())
    order = _order(styles, d["model"].unique())
    fig, axes = plt.subplots(2, len(regions), figsize=(5 * len(regions) + 1.5, 7), squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for ax, bar_ax, region in zip(axes[0], axes[1], regions):
        r = d[d["region"] == region]
        means = []
        for model in order:
            m = r[r["model"] == model].sort_values("time_bin_start_ms")
            st = styles.get(model, {"color": "0.5", "marker": "o"})
            label = model if (m["placement"] == "unrolled").all() else f"{model} ({m['placement'].iloc[0]})"
            ax.errorbar(m["time_bin_start_ms"], m["score"], yerr=m["score_sem"], color=st["color"],
                        marker=st["marker"], ms=4, lw=1.2, capsize=2, label=label)
            means.append((model, m["score"].mean(), np.sqrt((m["score_sem"] ** 2).mean() / max(len(m), 1))))
        ax.set(title=region, xlabel="time bin start (ms after image onset)", ylabel="noise-corrected predictivity")
        x = np.arange(len(means))
        bar_ax.bar(x, [v for _, v, _ in means], yerr=[e for _, _, e in means], capsize=2, edgecolor="k",
                   linewidth=0.4, color=[styles.get(mo, {"color": "0.6"})["color"] for mo, _, _ in means])
        bar_ax.set_xticks(x, [mo for mo, _, _ in means], rotation=60, ha="right", fontsize=7)
        bar_ax.set(ylabel="mean over the shown bins")
    _legend_outside(axes[0][-1])
    shown = f"bins {window_ms[0]:g}-{window_ms[1]:g} ms (neural.window_ms)" if window_ms else "every bin of the data"
    note = (f"{shown}; each area's layer chosen per split on responses averaged over {selection_window_ms[0]:g}-"
            f"{selection_window_ms[1]:g} ms of that split's training images; feed-forward models: {placement} "
            "placement")
    if len(dropped):
        low_bins = ", ".join(f"{g} {', '.join(f'{t:g}' for t in sorted(b['time_bin_start_ms']))}"
                             for g, b in dropped.groupby("region"))
        note += f"\nnot shown (region ceiling < {MIN_CEILING}: no reliable signal): {low_bins} ms"
    fig.text(0.01, -0.03, note, fontsize=7, va="top")
    fig.suptitle(PAPER["neural"], fontsize=10)
    sns.despine(fig)
    fig.tight_layout()
    save_figure(fig, paths)


def plot_best_layer(layers: pd.DataFrame, styles, paths, *, selection_window_ms=(70, 170)) -> None:
    """Selection score of every layer (time-averaged fit, mean over the splits' training images, error: s.e.m. over
    splits), per region and model; the layer(s) each model commits to the area (chosen on all images) circled."""
    regions = sorted(layers["region"].unique())
    order = _order(styles, layers["model"].unique())
    fig, axes = plt.subplots(1, len(regions), figsize=(5 * len(regions) + 1.5, 3.8), squeeze=False, sharey=True)
    for ax, region in zip(axes[0], regions):
        r = layers[layers["region"] == region].sort_values("layer_index")
        for model in order:
            m = r[r["model"] == model]
            st = styles.get(model, {"color": "0.5", "marker": "o"})
            ax.errorbar(m["layer_index"], m["score"], yerr=m["score_sem"], color=st["color"], marker=st["marker"],
                        ms=4, lw=1.2, capsize=2, label=model)
        best = r[r["committed"]]
        ax.scatter(best["layer_index"], best["score"], s=140, facecolors="none", edgecolors="k", zorder=5)
        ticks = r.drop_duplicates("layer_index")
        ax.set_xticks(ticks["layer_index"], ticks["layer"], rotation=45)
        ax.set(title=f"{region}: committed layer circled", xlabel="layer",
               ylabel=f"r, responses averaged {selection_window_ms[0]:g}-{selection_window_ms[1]:g} ms")
    _legend_outside(axes[0][-1])
    fig.suptitle(PAPER["best_layer"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_behavior(summary: pd.DataFrame, per_image: pd.DataFrame, styles, paths) -> None:
    """OST consistency of every model (rho with its standard error over the 10 splits), per convention in the
    summary: NC 2022's axes (rho against the fraction of IT-solved images the model solves) and Brain-Score's (rho
    per model against the Kar2019 ceiling); and the per-image solution times of the most consistent model (mean and
    s.e.m. over the splits it was a test image in) against IT's."""
    conventions = [c for c in ("nayebi2022", "brainscore") if c in set(summary["convention"])]
    fig, axes = plt.subplots(1, len(conventions) + 1, figsize=(5.2 * (len(conventions) + 1) + 1.5, 4.2),
                             squeeze=False)
    axes = axes[0]
    for ax, convention in zip(axes, conventions):
        d = summary[summary["convention"] == convention].set_index("model")
        d = d.loc[_order(styles, d.index)]
        if convention == "nayebi2022":
            for model, row in d.iterrows():
                st = styles.get(model, {"color": "0.5", "marker": "o"})
                ax.errorbar(row["fraction_it_solved"], row["rho"], yerr=row["rho_sem"], color=st["color"],
                            marker=st["marker"], ms=7, mec="k", mew=0.4, capsize=2, ls="none", label=model)
            ax.set(xlabel="fraction of IT-solved images the model solves", ylabel="Spearman rho with IT OST",
                   title="NC 2022 (linear SVM, 70-260 ms)")
            ax.axhline(0, color="0.6", lw=0.6)
            _legend_outside(ax) if len(conventions) == 1 else None
        else:
            x = np.arange(len(d))
            ax.bar(x, d["rho"], yerr=d["rho_sem"], capsize=2, edgecolor="k", linewidth=0.4,
                   color=[styles.get(m, {"color": "0.6"})["color"] for m in d.index])
            if d["ceiling"].notna().any():
                ceiling = float(d["ceiling"].dropna().iloc[0])
                ax.axhline(ceiling, ls="--", c="k", lw=1)
                ax.annotate("Kar2019 ceiling", (1, ceiling), xycoords=("axes fraction", "data"), xytext=(0, -3),
                            textcoords="offset points", ha="right", va="top", fontsize=7)
            undefined = [m for m in d.index if not np.isfinite(d.loc[m, "rho"])]
            ax.set_xticks(x, [f"{m} (undefined)" if m in undefined else m for m in d.index], rotation=60,
                          ha="right", fontsize=7)
            ax.set(ylabel="Spearman rho (mean over splits)", title="Brain-Score OSTCorrelation (70-250 ms)")
    headline = conventions[0]
    d = summary[summary["convention"] == headline].dropna(subset=["rho"])
    ax = axes[-1]
    if len(d):
        best = d.sort_values("rho", ascending=False)["model"].iloc[0]
        img = per_image[(per_image["model"] == best) & (per_image["convention"] == headline)]
        img = img[np.isfinite(img["model_ost_ms"]) & np.isfinite(img["target_ost_ms"])]
        st = styles.get(best, {"color": "0.3", "marker": "o"})
        ax.errorbar(img["target_ost_ms"], img["model_ost_ms"], yerr=img["model_ost_sem_ms"], fmt=st["marker"],
                    color=st["color"], ms=3, lw=0.6, alpha=0.8, capsize=0)
        ax.set(xlabel="IT object solution time (ms)", ylabel=f"{best} solution time (ms)",
               title=f"Per image, most consistent model ({headline})")
    if "nayebi2022" in conventions:
        _legend_outside(axes[0])
    fig.suptitle(PAPER["behavior"], fontsize=10)
    sns.despine(fig)
    fig.tight_layout()
    save_figure(fig, paths)


def plot_pareto(summary: pd.DataFrame, styles, paths) -> None:
    """Task performance vs parameters and vs units (each node's output after its pooling, counted once), with the
    Pareto front across all models and families (the best performance reached at a given size; NC 2022 compares
    intermediate ConvRNNs with feed-forward networks of several depths on it); front members drawn larger."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    units = "units (each node's output after its pooling, counted once)"
    for ax, col, label in zip(axes, ["n_params", "n_units"], ["parameters", units]):
        on = pareto_front(summary[col].to_numpy(), summary["val_top1"].to_numpy())
        _scatter_models(ax, summary[~on], col, "val_top1", styles, size=45)
        _scatter_models(ax, summary[on], col, "val_top1", styles, size=110)
        front = summary[on].sort_values(col)
        ax.step(front[col], front["val_top1"], "--", color="k", lw=1, where="post", label="Pareto front (all models)",
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


def plot_feature_effects(effects: pd.DataFrame, paths: Sequence[str | Path]) -> None:
    """Mean objective ± s.e.m. per feature level; one row per (feature, level); saved to each path (format by suffix)."""
    labels = effects["feature"] + ": " + effects["level"]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(6, 1.4 + 0.22 * len(effects)))
        colors = dict(zip(effects["feature"].unique(), sns.color_palette("tab10", effects["feature"].nunique())))
        y = np.arange(len(effects))[::-1]
        for yi, (_, r) in zip(y, effects.iterrows()):
            ax.errorbar(r["mean"], yi, xerr=0 if np.isnan(r["sem"]) else r["sem"], fmt="o",
                        color=colors[r["feature"]], ms=4)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("objective (val top-1), mean ± s.e.m.")
        ax.set_title(f"{PAPER['search']}\nperformance per cell feature", fontsize=10)
        fig.tight_layout()
        save_figure(fig, paths)


def plot_best_so_far(best: pd.DataFrame, paths: Sequence[str | Path]) -> None:
    """Each trial's value (dots) and the running best (line); saved to each path (format by suffix)."""
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.set_title(f"{PAPER['search']}: best objective so far", fontsize=10)
        sns.scatterplot(data=best, x="number", y="value", color="0.6", s=12, ax=ax, label="trial")
        ax.step(best["number"], best["best_value"], where="post", color="C3", label="best so far")
        ax.set_xlabel("trial number")
        ax.set_ylabel("objective (val top-1)")
        ax.legend(frameon=False)
        fig.tight_layout()
        save_figure(fig, paths)


def _shallow_cells(models: pd.DataFrame) -> pd.DataFrame:
    """The ConvRNNs built on the 6-layer (shallow) backbone and its feed-forward base, or every ConvRNN and base if
    the run has none on that backbone."""
    shallow = models[models["arch"].str.endswith("_shallow")]
    pick = shallow if (shallow["kind"] == "convrnn").any() else models
    return pick[pick["kind"].isin(["convrnn", "ff"])]


def plot_cells(models: pd.DataFrame, styles, paths) -> None:
    """Held-out top-1 against parameters of every recurrent cell added to the 6-layer base, each cell family one
    colour, the feed-forward base as a dashed line (the base a cell must beat to help)."""
    d = _shallow_cells(models)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _scatter_models(ax, d[d["kind"] == "convrnn"], "n_params", "val_top1", styles, size=80)
    for _, base in d[d["kind"] == "ff"].iterrows():
        st = styles.get(base["model"], {"color": "0.3"})
        ax.axhline(base["val_top1"], ls="--", lw=1, color=st["color"], label=f"{base['model']} (feed-forward base)")
    ax.set(xscale="log", xlabel="parameters", ylabel="held-out top-1", title="cells on the 6-layer backbone")
    _log_axis(ax, "x")
    _legend_outside(ax)
    fig.suptitle(PAPER["cells"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


CONTROL_KINDS = ("ff", "ff_wide", "ff_deep", "minunroll", "resnet")


def plot_controls(models: pd.DataFrame, styles, paths) -> None:
    """Held-out top-1 of the searched ConvRNN (or, in a run that trains none, the ConvRNNs of the controls' size)
    beside its controls: the feed-forward base, the parameter-matched wider and deeper ones, the minimal-unroll
    control and ResNets, as the run trains them; parameters in each bar."""
    searched = models[models["kind"] == "searched"]
    controls = models[models["kind"].isin(CONTROL_KINDS)]
    if searched.empty:   # the ConvRNNs the controls were matched to: the base's backbone and width
        base = controls[controls["kind"] == "ff"]
        backbone = lambda arch: arch.split("_")[-1]  # noqa: E731
        matched = {(backbone(a), w) for a, w in zip(base["arch"], base["width"])}
        same = np.array([(backbone(a), w) in matched for a, w in zip(models["arch"], models["width"])], bool)
        searched = models[(models["kind"] == "convrnn").to_numpy() & same]
    d = pd.concat([searched.sort_values("val_top1", ascending=False),
                   controls.sort_values(["kind", "n_params"])], ignore_index=True)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.65 * len(d) + 2), 4.2))
    x = np.arange(len(d))
    ax.bar(x, d["val_top1"], color=[styles.get(m, {"color": "0.6"})["color"] for m in d["model"]], edgecolor="k",
           linewidth=0.4)
    for i, row in enumerate(d.itertuples()):
        ax.annotate(f"{row.n_params / 1e6:.2g}M" if row.n_params >= 1e5 else f"{row.n_params / 1e3:.3g}k",
                    (i, row.val_top1), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(x, [f"{m}\n({k})" for m, k in zip(d["model"], d["kind"])], rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="held-out top-1", title="ConvRNN vs controls (parameters above the bars)")
    if len(searched):
        ax.axvline(len(searched) - 0.5, color="0.5", lw=0.8)
    fig.suptitle(PAPER["controls"], fontsize=10)
    sns.despine(fig)
    save_figure(fig, paths)


def plot_site_layers(site_layers: pd.DataFrame, layers: pd.DataFrame, sites: pd.DataFrame, styles, paths) -> None:
    """Per area (IT split into its subregions where the data name them): for each model, the fraction of sites whose
    best layer (fit to the time-averaged responses, all images) is each layer; the model's committed layer(s) boxed."""
    best = site_layers.loc[site_layers.dropna(subset=["r"]).groupby(["model", "site"])["r"].idxmax()]
    if "subregion" in sites and sites["subregion"].notna().any():
        sub = sites.set_index("site")["subregion"]
        best = best.assign(area=[f"{r} ({sub.get(s)})" if isinstance(sub.get(s), str) and sub.get(s) != r else r
                                 for r, s in zip(best["region"], best["site"])])
    else:
        best = best.assign(area=best["region"])
    areas = sorted(best["area"].unique())
    order = _order(styles, best["model"].unique())
    fig, axes = plt.subplots(1, len(areas), figsize=(4.2 * len(areas) + 1.5, 0.35 * len(order) + 1.8),
                             squeeze=False, sharey=True)
    for ax, area in zip(axes[0], areas):
        a = best[best["area"] == area]
        counts = a.groupby(["model", "layer_index"]).size().unstack(fill_value=0)
        frac = counts.div(counts.sum(1), axis=0).reindex(order).fillna(0.0)
        names = dict(zip(site_layers["layer_index"], site_layers["layer"]))
        frac.columns = [names[i] for i in frac.columns]
        sns.heatmap(frac, ax=ax, vmin=0, vmax=1, cmap="Greys", cbar=ax is axes[0][-1], annot=True, fmt=".2f",
                    annot_kws={"fontsize": 6}, linewidths=0.3)
        region = a["region"].iloc[0]
        for i, model in enumerate(frac.index):
            chosen = layers[(layers["model"] == model) & (layers["region"] == region) & layers["committed"]]
            for layer in chosen["layer"]:
                if layer in frac.columns:
                    j = list(frac.columns).index(layer)
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, ec="C3", lw=1.5))
        ax.set(title=f"{area}: fraction of sites per best layer", xlabel="layer", ylabel="")
    fig.suptitle(PAPER["site_layers"], fontsize=10)
    fig.tight_layout()
    save_figure(fig, paths)


def plot_task_vs_brain(models: pd.DataFrame, areas: pd.DataFrame, behavior: pd.DataFrame,
                       correlations: pd.DataFrame, styles, paths) -> None:
    """Held-out top-1 against each brain match across models: the time-averaged neural score per area and the OST
    rho per convention (error bars: s.e.m. over splits), with the Spearman correlation across models."""
    panels = [(f"neural score ({r})", g.rename(columns={"score": "y", "score_sem": "yerr"}))
              for r, g in areas.groupby("region")]
    panels += [(f"OST rho ({c})", g.rename(columns={"rho": "y", "rho_sem": "yerr"}))
               for c, g in behavior.groupby("convention")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.5, 3.6), squeeze=False)
    corr = correlations.set_index("y")
    top1 = models.set_index("model")["val_top1"]
    for ax, (name, d) in zip(axes[0], panels):
        d = d[d["model"].isin(top1.index)]
        for model in _order(styles, d["model"].unique()):
            row = d[d["model"] == model].iloc[0]
            st = styles.get(model, {"color": "0.5", "marker": "o"})
            ax.errorbar(top1[model], row["y"], yerr=row["yerr"], color=st["color"], marker=st["marker"], ms=7,
                        mec="k", mew=0.4, capsize=2, ls="none", label=model)
        if name in corr.index and np.isfinite(corr.loc[name, "spearman_rho"]):
            c = corr.loc[name]
            ax.set_title(f"{name}\nSpearman rho = {c['spearman_rho']:.2f} (n = {int(c['n_models'])})", fontsize=9)
        else:
            ax.set_title(name, fontsize=9)
        ax.set(xlabel="held-out top-1", ylabel=name)
    _legend_outside(axes[0][-1])
    fig.suptitle(PAPER["task_vs_brain"], fontsize=10)
    sns.despine(fig)
    fig.tight_layout()
    save_figure(fig, paths)
