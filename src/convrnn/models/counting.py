"""Model size: parameters and "units" (NC 2022 Pareto analysis)."""
from __future__ import annotations

from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of trainable scalars (works on ``meta``-device models too)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_units(model: nn.Module, image_size: int, times: int | None = None) -> int:
    """Sum over recordable layers (``model.layer_names``) and time steps of the output size C*H*W.

    A unit is one output activation of one layer at one step, so a ConvRNN unrolled for T steps has
    T times the units of one pass; ``times`` defaults to ``model.times`` (1 for ResNets: an FF net
    computes each activation once). Inputs and within-node intermediates (pre-conv, cell memory)
    are not counted; for ResNets the recordable layers are layer1-4 and avgpool.
    """
    T = model.times if times is None else times
    if T < 1:
        raise ValueError(f"times must be >= 1, got {T}")
    shapes = model.layer_shapes(image_size)
    return T * sum(c * h * w for c, h, w in shapes.values())
