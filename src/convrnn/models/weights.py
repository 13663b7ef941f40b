"""Trained weights into a zoo model: safetensors files, checked to belong to the model."""
from __future__ import annotations

from pathlib import Path

from torch import nn


def load_weights(model: nn.Module, weights_path: str | Path) -> nn.Module:
    """``model`` with the weights at ``weights_path``, in eval mode; any mismatch is an error naming that file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path))
    except SafetensorError as e:  # a truncated or overwritten file: safetensors' message does not name it
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from e
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes differ: another model's weights
        first = str(e).strip().splitlines()[-1].strip()
        raise ValueError(f"{weights_path}: the weights of another model, not of {getattr(model, 'name', model)} "
                         f"({first})") from e
    if missing or unexpected:
        raise ValueError(f"{weights_path}: weights do not match the model (missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]})")
    return model.eval()
