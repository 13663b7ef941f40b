"""A model's features on a stimulus set, on disk: written by ``extract_features``, read by the neural and behaviour
jobs (torch-free, so those jobs do not pay for importing torch).

One safetensors file with a ``(T, N, D)`` float32 tensor per layer (plus ``logits`` ``(T, N, K)``), the stimulus order
in its metadata, and a Parquet index with one row per (layer, step) (see docs/data_formats.md). safetensors rather
than Parquet fixed-size lists: the regression stage needs whole 3-D arrays back, which safetensors memory-maps without
a copy and without pickle.

The index has no clock: a step lasts ``presentation.step_ms``, which only the scripts know (the neural fits record
each step's time as ``model_time_ms``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from convrnn.io import load_tensors, read_parquet, save_tensors, tensor_metadata, write_parquet


@dataclass
class FeatureSet:
    features: dict[str, np.ndarray]  # layer -> (T, N, D) float32
    logits: np.ndarray  # (T, N, K)
    index: pd.DataFrame
    stimulus_ids: list[str]


def save_feature_set(fs: FeatureSet, tensors_path, index_path, model_id: str) -> None:
    tensors = dict(fs.features)
    tensors["logits"] = fs.logits
    save_tensors(tensors, tensors_path, metadata={"model": model_id, "stimulus_ids": json.dumps(fs.stimulus_ids)})
    write_parquet(fs.index.assign(model=model_id), index_path)


def feature_stimulus_ids(tensors_path, model: str | None = None) -> list[str]:
    """The stimulus order a features file records; with ``model``, refused unless the file is that model's (its
    header names the model that wrote it: another model's file in its place would be scored silently)."""
    meta = tensor_metadata(tensors_path)
    if "stimulus_ids" not in meta:
        raise ValueError(f"{tensors_path}: no 'stimulus_ids' in the safetensors metadata")
    if model is not None and meta.get("model") != model:
        raise ValueError(f"{tensors_path}: holds the features of model {meta.get('model')!r}, not of {model!r}")
    return json.loads(meta["stimulus_ids"])


def check_feature_images(tensors_path, name: str, array: np.ndarray, stimulus_ids) -> None:
    """A (T, N, D) tensor of a features file must hold one row per stimulus its header lists."""
    if array.ndim != 3 or array.shape[1] != len(stimulus_ids):
        raise ValueError(f"{tensors_path}: tensor {name!r} of shape {tuple(array.shape)} does not hold the "
                         f"{len(stimulus_ids)} images its header lists (expected (T, {len(stimulus_ids)}, D))")


def load_feature_set(tensors_path, index_path, model: str | None = None) -> FeatureSet:
    """``model``: the model the features must belong to (see ``feature_stimulus_ids``)."""
    index = read_parquet(index_path, required=["layer", "model_step", "n_features"])
    ids = feature_stimulus_ids(tensors_path, model)
    arrays = load_tensors(tensors_path)
    for name, array in arrays.items():
        check_feature_images(tensors_path, name, array, ids)
    logits = arrays.pop("logits")
    missing = sorted(set(index["layer"]) - set(arrays))
    if missing:
        raise ValueError(f"{tensors_path}: layers {missing} listed in {index_path} are missing")
    return FeatureSet(arrays, logits, index, ids)
