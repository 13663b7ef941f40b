"""Time-decay cell (the reference's ``memory``) of the NeurIPS 2018 zoo."""
from __future__ import annotations

import torch
from torch import nn

from .base import Cell, register_cell


@register_cell("timedecay")
class TimeDecayCell(Cell):
    """Reference ``memory``: s' = m*s + x with one trainable scalar m per layer (init ``memory_decay``).

    Linear on purpose: the reference shallow time-decay JSON has no activation around it. The scalar is
    unregularised (not a conv), as the reference creates it.
    """

    defaults = {"memory_decay": 0.0}

    def __init__(self, **kw):
        super().__init__(**kw)
        self.decay = nn.Parameter(torch.tensor(float(self.cfg["memory_decay"])))

    def forward(self, x, state, res=None, fb=None):
        s = x if state is None else self.decay * state + x
        return s, s
