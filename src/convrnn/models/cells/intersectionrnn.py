"""Intersection RNN cell of the NeurIPS 2018 zoo."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import GatedCell, register_cell, zero_state


@register_cell("intersectionrnn")
class IntersectionRNNCell(GatedCell):
    """Intersection RNN: a gated memory h and a gated *output* y that can pass x through unchanged."""

    state_convs = {"conv": 4}

    @classmethod
    def output_depth(cls, in_ch, cfg):
        out = super().output_depth(in_ch, cfg)
        if out != in_ch:  # y = g*x + ... needs matching depth (as in the reference)
            raise ValueError(f"cell 'intersectionrnn': out_depth ({out}) must equal its input depth ({in_ch})")
        return out

    def forward(self, x, state, res=None, fb=None):
        h = zero_state(x, self.out_ch) if state is None else state
        gh, hh, gy, yy = self.conv(torch.cat([x, h], 1)).chunk(4, 1)
        fbias = self.cfg["forget_bias"]
        gh, gy = torch.sigmoid(gh + fbias), torch.sigmoid(gy + fbias)
        h = gh * h + (1 - gh) * torch.tanh(hh)
        y = gy * x + (1 - gy) * F.relu(yy)
        return y, h
