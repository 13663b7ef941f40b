"""Building blocks the workflow scripts share: models from specs, trained models, task datasets, the device."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' requested but no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(device)


def build_from_spec(spec: Mapping[str, Any] | str, num_classes: int) -> torch.nn.Module:
    """``spec`` = {"arch": zoo name, "overrides": {...}} (or its JSON)."""
    from convrnn.models import build

    if isinstance(spec, str):
        spec = json.loads(spec)
    overrides = {"num_classes": num_classes, **(spec.get("overrides") or {})}
    return build(spec["arch"], **overrides)


def load_trained(spec, num_classes: int, weights_path: str | Path) -> torch.nn.Module:
    """The model of ``spec`` with the weights at ``weights_path``; any mismatch is an error naming that file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    spec = json.loads(spec) if isinstance(spec, str) else spec
    model = build_from_spec(spec, num_classes)
    try:
        state = load_file(str(weights_path))
    except SafetensorError as e:  # a truncated or overwritten file: safetensors' message does not name it
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from e
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes differ: another model's weights
        first = str(e).strip().splitlines()[-1].strip()
        raise ValueError(f"{weights_path}: the weights of another model, not of {spec['arch']} with "
                         f"{spec.get('overrides')} ({first})") from e
    if missing or unexpected:
        raise ValueError(f"{weights_path}: weights do not match the model spec (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


def task_datasets(inputs: Mapping[str, str], *, imagenet: Mapping | None, image_size: int, subset: bool = False):
    """(train, val, num_classes) for the classification task.

    Synthetic default: the generated train/val stimulus sets. Real: ImageNet (the search uses a low-resolution subset).
    """
    if "train_images" in inputs:
        from convrnn.data.stimuli import StimulusDataset

        train = StimulusDataset(inputs["train_images"], inputs["train_meta"], augment=True)
        val = StimulusDataset(inputs["val_images"], inputs["val_meta"])
        return train, val, int(train.labels.max()) + 1
    if not imagenet:
        raise ValueError("data.imagenet: required when data.source is 'real'")
    from convrnn.data.imagenet import imagenet_datasets

    kwargs = dict(image_size=image_size, resize_size=imagenet.get("resize_size"),  # None: scales with image_size
                  require_complete=bool(imagenet.get("require_complete", False)))
    if subset:
        kwargs.update(subset_classes=imagenet.get("subset_classes", 100), subset_per_class=imagenet.get("subset_per_class", 260))
    train, val = imagenet_datasets(imagenet["root"], **kwargs)
    return train, val, len(train.classes) if hasattr(train, "classes") else 1000
