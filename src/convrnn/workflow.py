"""Glue between the Snakemake workflow and the package: config validation, model ids and specs, script set-up.

Kept free of torch imports at module level: the Snakefile imports this on every invocation (and in every
cluster job), so parsing the workflow must stay fast.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping

import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
SEARCH_PREFIX = "search_"


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field."""


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def validate_config(config: dict, schema_path: str | os.PathLike = SCHEMA, zoo_names=None) -> dict:
    """Validate ``config`` in place against the JSON schema plus semantic checks; fill schema defaults.

    Raises ConfigError naming the offending field (e.g. ``training.epochs``) before any job runs.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = [f"config field '{_field(e.absolute_path)}': {e.message}" for e in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _fill_defaults(config, schema)

    if zoo_names is None:
        from convrnn.models import names as _names

        zoo_names = _names()
    zoo = set(zoo_names)
    for model_id, spec in config["models"].items():
        if model_id.startswith(SEARCH_PREFIX):
            raise ConfigError(f"config field 'models.{model_id}': ids starting with '{SEARCH_PREFIX}' are reserved for searched models")
        if spec["arch"] not in zoo:
            raise ConfigError(
                f"config field 'models.{model_id}.arch': unknown model {spec['arch']!r}; choose one of {sorted(zoo)}"
            )
    search = config["search"]
    if search["enabled"]:
        for key in ("base_arch", "n_workers", "trials_per_worker", "top_k", "trial_training"):
            if key not in search:
                raise ConfigError(f"config field 'search.{key}': required when search.enabled is true")
        if search["base_arch"] not in zoo:
            raise ConfigError(f"config field 'search.base_arch': unknown model {search['base_arch']!r}")
        for sel in search.get("train_selected", []):
            if sel.startswith("top") and int(sel[3:]) > search["top_k"]:
                raise ConfigError(f"config field 'search.train_selected': {sel!r} exceeds search.top_k={search['top_k']}")
    pres = config["presentation"]
    if pres["neural_image_off"] > pres["neural_times"]:
        raise ConfigError("config field 'presentation.neural_image_off': must be <= presentation.neural_times")
    return config


def _fill_defaults(node: Any, schema: Mapping) -> None:
    if not isinstance(node, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = json.loads(json.dumps(sub["default"]))
        if key in node:
            _fill_defaults(node[key], sub)


# --- model ids ---------------------------------------------------------------------------------------------------

def search_model_ids(config: Mapping) -> list[str]:
    search = config["search"]
    if not search["enabled"]:
        return []
    return [SEARCH_PREFIX + s for s in search.get("train_selected", [])]


def model_spec(config: Mapping, model_id: str, selected_path: str | os.PathLike | None = None) -> dict:
    """``{"arch": ..., "overrides": {...}}`` for a configured model or a searched one (read from the selection table)."""
    if model_id in config["models"]:
        spec = config["models"][model_id]
        return {"arch": spec["arch"], "overrides": dict(spec.get("overrides") or {})}
    if not model_id.startswith(SEARCH_PREFIX):
        raise KeyError(f"unknown model id {model_id!r}: not in config 'models' and not a searched model")
    import pandas as pd

    selected = pd.read_parquet(selected_path)
    row = selected.loc[selected["arch_id"] == model_id]
    if row.empty:
        raise KeyError(f"{selected_path}: no selected architecture {model_id!r}; has {list(selected['arch_id'])}")
    overrides = dict(config["search"].get("overrides") or {})
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


def brainscore_filename(identifier: str, kind: str) -> str:
    """Cache file name of a Brain-Score catalog entry; kind: assembly | csv | zip (identifier as in Brain-Score)."""
    from convrnn.data.brainscore_catalog import CATALOG

    want = "assembly" if kind == "assembly" else f"stimulus_{kind}"
    for entry in CATALOG.values():
        if entry.identifier == identifier and entry.kind == want:
            return entry.filename
    known = sorted({e.identifier for e in CATALOG.values() if e.kind == want})
    raise ConfigError(f"config field 'data.brainscore': no {kind} {identifier!r} in the catalog; known: {known}")


def brainscore_entry_for_file(filename: str):
    from convrnn.data.brainscore_catalog import CATALOG

    for entry in CATALOG.values():
        if entry.filename == filename:
            return entry
    raise KeyError(f"{filename}: not a file of the Brain-Score catalog (convrnn.data.brainscore_catalog)")
