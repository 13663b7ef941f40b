"""The workflow config's model ids and specs, training blocks and search study name.

The Snakefile imports this on every invocation: standard library only (pandas inside the one function that reads the
search's selection table). Config validation: ``convrnn.workflow.preflight``.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Mapping

from convrnn.errors import ConfigError  # noqa: F401  (re-exported: the workflow's errors)

SEARCH_PREFIX = "search_"


# --- model ids ---------------------------------------------------------------------------------------------------

def num_classes(config: Mapping) -> int:
    """Task classes: the generated categories in the synthetic default, ImageNet's 1000 otherwise."""
    if config["data"]["source"] == "synthetic":
        return int(config["data"]["stimuli"]["n_categories"])
    return 1000


def search_model_ids(config: Mapping) -> list[str]:
    search = config["search"]
    if not search["enabled"]:
        return []
    return [SEARCH_PREFIX + s for s in search.get("train_selected", [])]


def model_spec(config: Mapping, model_id: str, selected_path: str | os.PathLike | None = None) -> dict:
    """``{"arch": ..., "overrides": {...}}`` for a configured model or a searched one (read from the selection table).

    ``overrides.image_size`` defaults to ``data.image_size``: map-dependent parameters (per-position peepholes,
    clipped RGC kernels) are built for the size the model sees.
    """
    size = {"image_size": config["data"]["image_size"]}
    if model_id in config["models"]:
        spec = config["models"][model_id]
        return {"arch": spec["arch"], "overrides": {**size, **(spec.get("overrides") or {})}}
    if not model_id.startswith(SEARCH_PREFIX):
        raise KeyError(f"unknown model id {model_id!r}: not in config 'models' and not a searched model")
    import pandas as pd

    selected = pd.read_parquet(selected_path)
    row = selected.loc[selected["arch_id"] == model_id]
    if row.empty:
        raise KeyError(f"{selected_path}: no selected architecture {model_id!r}; has {list(selected['arch_id'])}")
    overrides = {**size, **(config["search"].get("overrides") or {})}
    overrides.update(json.loads(row["overrides"].iloc[0]))
    return {"arch": config["search"]["base_arch"], "overrides": overrides}


def training_config(config: Mapping, model_id: str) -> dict:
    """The global ``training`` block with the model's own ``training`` changes applied (searched models: global)."""
    own = config["models"].get(model_id, {}).get("training") or {}
    return {**config["training"], **own}


def search_study_name(search_config: Mapping) -> str:
    """A study name that changes whenever the search definition does, so a changed space never reuses old trials."""
    keyed = {k: search_config.get(k) for k in ("base_arch", "overrides", "space", "trial_training", "sampler", "image_size")}
    digest = hashlib.sha1(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"search-{digest}"
