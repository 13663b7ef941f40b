"""Update-gate RNN (UGRNN) cell of the NeurIPS 2018 zoo."""
from __future__ import annotations

import torch

from .base import GatedCell, register_cell, zero_state


@register_cell("ugrnn")
class UGRNNCell(GatedCell):
    """Update-gate RNN: [g, c] = conv([x, h]); h' = g*h + (1-g)*tanh(c), g = sigmoid(g + forget_bias)."""

    state_convs = {"conv": 2}

    def forward(self, x, state, res=None, fb=None):
        h = zero_state(x, self.out_ch) if state is None else state
        g, c = self.conv(torch.cat([x, h], 1)).chunk(2, 1)
        g = torch.sigmoid(g + self.cfg["forget_bias"])
        h = g * h + (1 - g) * torch.tanh(c)
        return h, h
