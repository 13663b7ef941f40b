"""Checks before any job of what the config points at on disk, and of what the config files themselves say.

``convrnn.preflight`` checks the config's values; this module checks the files around them, each error one line
naming the file and the config field:

- the config files as written: a key given twice in one mapping is refused (YAML keeps only the last one);
- Brain-Score files already in ``data.brainscore.cache_dir``: sources of the DAG, pinned by their sha1
  (``convrnn.data.staged``);
- ``data.imagenet.root``: a folder, while some job still has to read ImageNet;
- model ids against the DAG's own file names (``summary`` would make ``results/behavior/{model}.parquet`` the
  behaviour summary).

Torch-free: the Snakefile calls it on every invocation.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from convrnn.workflow.preflight import brainscore_files
from convrnn.errors import ConfigError

#: The shipped value of data.imagenet.root (config/paper.yaml): stands for "not set yet".
IMAGENET_PLACEHOLDER = "/path/to/ILSVRC2012"


# --- the config files ------------------------------------------------------------------------------------------------

def _duplicate_key(node: yaml.Node, path: tuple = ()) -> str | None:
    """The first key given twice in one mapping of a composed YAML document, as 'field (lines a and b)'."""
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = ".".join(map(str, (*path, key)))
            if key is not None and key in seen and key != "<<":
                return f"'{where}' (lines {seen[key] + 1} and {key_node.start_mark.line + 1})"
            seen[key] = key_node.start_mark.line
            found = _duplicate_key(value, (*path, key))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            found = _duplicate_key(value, (*path, i))
            if found:
                return found
    return None


def check_config_files(paths: Iterable[str | os.PathLike]) -> None:
    """Refuse a config file (YAML, or JSON: a subset of it) that gives a key twice in one mapping: YAML keeps only
    the last value, silently (a model defined twice, ``lr`` twice). The error names the file, the field and lines."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in paths:
        try:
            node = yaml.compose(Path(path).read_text(), Loader=loader)
        except yaml.YAMLError:
            continue  # Snakemake has read it already and reports its own syntax errors
        found = _duplicate_key(node) if node is not None else None
        if found:
            raise ConfigError(f"{path}: config field {found} is given twice; YAML would keep only the last value")


# --- Brain-Score files in the cache ----------------------------------------------------------------------------------

def present_brainscore_files(config: Mapping, memo_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of this config's Brain-Score files already in ``data.brainscore.cache_dir``, each checked against the
    catalog's sha1 (remembered in ``memo_dir``); a wrong one is a ConfigError naming the file, both sha1s and the
    config field it serves. The DAG plans no job for these files (rules/data.smk)."""
    from convrnn.data.staged import StagedFileError, check_cache_file

    present = []
    for field, name in brainscore_files(config).items():
        path = Path(config["data"]["brainscore"]["cache_dir"]) / name
        if path.is_file():
            try:
                check_cache_file(path, memo_dir)
            except StagedFileError as e:
                raise ConfigError(f"{e} (config field '{field.split(':')[0]}')") from None
            present.append(name)
    return present


# --- ImageNet --------------------------------------------------------------------------------------------------------

def check_imagenet_root(config: Mapping, needed: bool) -> str | None:
    """Real data: ``data.imagenet.root`` must be a folder when ``needed`` (some training, search or evaluation job
    has yet to read it). Returns a note when it is still the shipped placeholder; a finished run keeps planning
    nothing wherever its ImageNet went."""
    if config["data"]["source"] != "real" or not needed:
        return None
    root = str((config["data"].get("imagenet") or {}).get("root", ""))
    if root == IMAGENET_PLACEHOLDER:
        return (f"Note: data.imagenet.root is still the placeholder {root}: set it to your ILSVRC2012 folder "
                "(docs/real_data.md) before the training, search or pretrained-evaluation jobs start")
    path = Path(root).expanduser()
    if path.is_file():
        raise ConfigError(f"config field 'data.imagenet.root': {root} is a file (an archive?), not a folder: extract "
                          "it, or name the folder that holds ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and the "
                          "devkit (docs/real_data.md)")
    if not path.is_dir():
        raise ConfigError(f"config field 'data.imagenet.root': {root} does not exist")
    return None


# --- model ids and the DAG's own files -------------------------------------------------------------------------------

_MODEL_WILDCARD = re.compile(r"\{model(?:,[^{}]*)?\}")
_ANY_WILDCARD = re.compile(r"\{[^{}]*\}")


def check_model_ids(ids: Iterable[str], paths: Iterable[str], fields: Mapping[str, str] | None = None) -> None:
    """Refuse a model id that turns a per-model file of the DAG (a path with the ``{model}`` wildcard) into one of
    the DAG's fixed files: Snakemake would take the model's file for the other (``summary``: the behaviour
    summary). ``paths``: every output and log path of the workflow's rules; ``fields``: id -> its config field."""
    paths = list(paths)
    fixed = {p for p in paths if not _ANY_WILDCARD.search(p)}
    per_model = [p for p in paths if _MODEL_WILDCARD.search(p)]
    for model_id in ids:
        for pattern in per_model:
            path = _MODEL_WILDCARD.sub(model_id, pattern)
            if path in fixed:
                field = (fields or {}).get(model_id, f"models.{model_id}")
                raise ConfigError(f"config field '{field}': model id {model_id!r} would make {pattern} the DAG's own "
                                  f"{path}; choose another id")
