"""Glue between the Snakemake workflow and the package: model ids and specs, script set-up, catalog file names.

Every rule's script imports ``setup_script`` from here and the Snakefile imports the rest on every invocation, so
this module imports nothing heavy at module level and nothing from the package except inside the function that needs
it (rules depend on the package modules their scripts run: ``convrnn.code_deps``). Config validation: ``preflight``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Mapping

SEARCH_PREFIX = "search_"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field."""


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


# --- scripts -----------------------------------------------------------------------------------------------------

def setup_script(snakemake, use_torch: bool = False) -> logging.Logger:
    """Send stderr (progress lines, warnings, tracebacks) and logging to the rule's log file, as Snakemake
    workflows do; cap BLAS/torch threads to the job's share."""
    if len(snakemake.log):
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(snakemake.log[0], "w", buffering=1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    n = max(1, int(snakemake.threads or 1))
    if use_torch:
        import torch

        torch.set_num_threads(n)
    return logging.getLogger(f"convrnn.{snakemake.rule}")


def brainscore_filename(identifier: str, kind: str, field: str = "data.brainscore") -> str:
    """Cache file name of a Brain-Score catalog entry; kind: assembly | csv | zip (identifier as in Brain-Score).
    ``field``: the config field the identifier came from, named in the error."""
    from convrnn.data.brainscore_catalog import CATALOG

    want = "assembly" if kind == "assembly" else f"stimulus_{kind}"
    for entry in CATALOG.values():
        if entry.identifier == identifier and entry.kind == want:
            return entry.filename
    known = sorted({e.identifier for e in CATALOG.values() if e.kind == want})
    raise ConfigError(f"config field '{field}': no {kind} {identifier!r} in the catalog; known: {known}")


def brainscore_entry_for_file(filename: str):
    from convrnn.data.brainscore_catalog import CATALOG

    for entry in CATALOG.values():
        if entry.filename == filename:
            return entry
    raise KeyError(f"{filename}: not a file of the Brain-Score catalog (convrnn.data.brainscore_catalog)")
