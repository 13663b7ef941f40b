"""Simple (normalised) RNN cell, the reference's ``ConvNormBasicCell``."""
from __future__ import annotations

import torch.nn.functional as F

from convrnn.checks import check_int

from .base import Cell, Placement, conv_bias, layer_norm, register_cell


@register_cell("simplernn")
class SimpleRNNCell(Cell):
    """Reference ``ConvNormBasicCell``: h' = elu(LN(conv(x) + conv(h)))."""

    defaults = {"out_depth": None, "filter_size": 3, "layer_norm": False}
    channel_keys = ("out_depth",)
    backbones = {
        # neuroailab/convrnns ``simplernn_shallow.json``: out 128/256/256 with layer norm in conv3-5
        "shallow": Placement(configs=tuple(dict(out_depth=d, layer_norm=True) for d in (128, 256, 256))),
    }

    def __init__(self, **kw):
        super().__init__(**kw)
        k = check_int("cell 'simplernn' filter_size", self.cfg["filter_size"], 1)
        self.conv_x = self.make_conv(self.in_ch, self.out_ch, k)
        self.conv_h = self.make_conv(self.out_ch, self.out_ch, k)
        self.norm = layer_norm(self.cfg["layer_norm"], self.out_ch)

    def forward(self, x, state, res=None, fb=None):
        pre = self.conv_x(x)
        if state is not None:  # conv_h(0) is just its bias: add it so t=0 matches the equation
            pre = pre + self.conv_h(state)
        else:
            pre = pre + conv_bias(self.conv_h).view(1, -1, 1, 1)
        h = F.elu(self.norm(pre))
        return h, h
