"""The reference's TensorFlow initialisers, with TF's fan convention (docs/references.md, Models).

TF computes fans from the variable's own shape [kh, kw, in, out]: a depthwise kernel [k, k, C, 1] has
fan_in = k*k*C, where torch (weight (C, 1, k, k)) would say k*k. The median cell's tiny depthwise
std (0.007-0.014 at 7x7) comes from that quirk, so we reproduce it rather than use torch's fans.
"""
from __future__ import annotations

import math

from torch import Tensor, nn

_TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]: TF divides by it


def tf_fans(layer: nn.Conv2d) -> tuple[int, int]:
    """(fan_in, fan_out) of the TF variable that ``layer`` stands for."""
    kh, kw = layer.kernel_size
    if layer.groups == layer.in_channels and layer.groups > 1:   # depthwise [kh, kw, C, out/C]
        return kh * kw * layer.in_channels, kh * kw * (layer.out_channels // layer.groups)
    return kh * kw * layer.in_channels // layer.groups, kh * kw * layer.out_channels


def variance_scaling_(w: Tensor, scale: float, fan_in: int) -> Tensor:
    """``tf.variance_scaling_initializer(scale, mode='fan_in', distribution='truncated_normal')``."""
    std = math.sqrt(scale / fan_in) / _TRUNC_STD
    return nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)


def glorot_uniform_(w: Tensor, fan_in: int, fan_out: int) -> Tensor:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return nn.init.uniform_(w, -limit, limit)


def init_conv_(layer: nn.Conv2d, scale: float | None = None) -> nn.Conv2d:
    """Kernel: variance scaling with ``scale``, or Glorot-uniform (TF's default) when ``scale`` is None; bias 0."""
    fan_in, fan_out = tf_fans(layer)
    if scale is None:
        glorot_uniform_(layer.weight, fan_in, fan_out)
    else:
        variance_scaling_(layer.weight, scale, fan_in)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer
