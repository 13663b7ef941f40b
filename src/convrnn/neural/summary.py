"""Per-model views of the site-level fits that the figures and users read: matched (step <-> bin) rows and the
best-fitting layer per region."""
from __future__ import annotations

import pandas as pd

from .scoring import summarize


def summarize_models(fits: pd.DataFrame, ceiling: pd.DataFrame | None = None) -> pd.DataFrame:
    """``summarize`` (medians over sites, Brain-Score's aggregate) per model, plus ``layer_index``, ``matched`` and
    ``is_best_layer``.

    ``matched``: the model step's interval is the bin (the step <-> bin mapping of the paper's time courses).
    ``is_best_layer``: per model and region, the layer with the highest time-averaged ``region_r`` over the matched
    rows. The ceiling is common to all layers of a bin, and where a
    bin carries no signal it is near 0 and would blow the ceiled scores up. (The paper picks the best layer per area
    on held-out data; these values are cross-validated.)
    """
    missing = [c for c in ("model", "layer", "layer_index") if c not in fits.columns]
    if missing:
        raise ValueError(f"fits: missing column(s) {missing}")
    parts = []
    for model, f in fits.groupby("model", sort=True):
        s = summarize(f, ceiling).assign(model=model)
        s["layer_index"] = s["layer"].map(f.drop_duplicates("layer").set_index("layer")["layer_index"])
        parts.append(s)
    out = pd.concat(parts, ignore_index=True)
    out["matched"] = ((out["model_time_ms"] == out["time_bin_start_ms"])
                      & (out["model_time_end_ms"] == out["time_bin_end_ms"]))
    avg = out[out["matched"]].groupby(["model", "region", "layer"])["region_r"].mean()
    best = avg.groupby(level=["model", "region"]).idxmax().map(lambda key: key[2])
    out["is_best_layer"] = [best.get((m, r)) == l for m, r, l in zip(out["model"], out["region"], out["layer"])]
    first = ["model", "region", "layer", "layer_index", "model_step", "model_time_ms", "model_time_end_ms",
             "time_bin_start_ms", "time_bin_end_ms", "matched", "is_best_layer"]
    return out[first + [c for c in out.columns if c not in first]]
