"""Convolutional GRU cell of the NeurIPS 2018 zoo."""
from __future__ import annotations

import torch
from torch import nn

from .base import GatedCell, conv_bias, register_cell, zero_state


@register_cell("gru")
class GRUCell(GatedCell):
    """Conv GRU: r, u = sigmoid(conv([x, h])) (gate bias init 1.0); h' = u*h + (1-u)*tanh(conv([x, r*h]))."""

    state_convs = {"gates": 2, "cand": 1}

    def __init__(self, **kw):
        super().__init__(**kw)
        nn.init.constant_(conv_bias(self.gates), 1.0)

    def forward(self, x, state, res=None, fb=None):
        h = zero_state(x, self.out_ch) if state is None else state
        r, u = self.gates(torch.cat([x, h], 1)).chunk(2, 1)
        r, u = torch.sigmoid(r + self.cfg["forget_bias"]), torch.sigmoid(u)
        c = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        h = u * h + (1 - u) * c
        return h, h
