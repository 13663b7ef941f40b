"""Convolutional LSTM cell of the NeurIPS 2018 zoo, with the reference's layer norms and peepholes."""
from __future__ import annotations

import torch
from torch import nn

from ..tf_init import glorot_uniform_, variance_scaling_
from .base import GatedCell, Placement, conv_bias, layer_norm, register_cell, zero_state


@register_cell("lstm")
class LSTMCell(GatedCell):
    """Conv LSTM: [i, j, f, o] = conv([x, h]); c' = c*sig(f + fb) + sig(i)*tanh(j); h' = tanh(c')*sig(o).

    ``layer_norm``: one GroupNorm(1) on each of i, j, f, o and one on c', as the reference ConvLSTMCell
    (convrnns/utils/cells.py). ``peephole``: weights on the *previous* c for i, f and o (the reference also
    feeds the old c to the output gate, unlike TF's LSTMCell): ``"position"`` (or True) = one weight per
    position and channel (3, C, H, W) on the state map ``map_hw``, as the reference (initialised like the
    kernels, TF fans of an [H, W, C] variable); ``"channel"`` = one per channel, zero-initialised, a
    size-independent option of ours. Norms and peepholes are unregularised (not convs), as the reference's.
    """

    defaults = {**GatedCell.defaults, "bias_init": None, "layer_norm": False, "peephole": False}
    state_convs = {"conv": 4}   # [i, j, f, o]
    PEEPHOLES = (False, True, "position", "channel")
    backbones = {
        # the searched per-layer settings of neuroailab/convrnns ``configs/lstm_shallow.npz`` (conv3-5)
        "shallow": Placement(configs=(
            dict(filter_size=2, out_depth=128, layer_norm=True, forget_bias=1.356, bias_init=1.643,
                 kernel_init_scale=0.7009, weight_decay=5.434e-6),
            dict(filter_size=3, out_depth=256, layer_norm=True, peephole="position", forget_bias=0.978,
                 bias_init=-1.166, kernel_init_scale=1.8315, weight_decay=7.613e-6),
            dict(filter_size=4, out_depth=256, layer_norm=True, forget_bias=0.925, bias_init=-1.350,
                 kernel_init_scale=0.8938, weight_decay=3.038e-6),
        )),
    }

    def __init__(self, **kw):
        super().__init__(**kw)
        out = self.out_ch
        if self.cfg["bias_init"] is not None:
            nn.init.constant_(conv_bias(self.conv), float(self.cfg["bias_init"]))
        ln = self.cfg["layer_norm"]
        self.gate_norms = nn.ModuleList(layer_norm(ln, out) for _ in range(4))
        self.cell_norm = layer_norm(ln, out)
        peep = self.cfg["peephole"]
        if peep not in self.PEEPHOLES:
            raise ValueError(f"cell 'lstm' peephole must be one of {self.PEEPHOLES}, got {peep!r}")
        self.peep = None
        if peep == "channel":   # (3, C, 1, 1): rank 4 so that model.to(memory_format=channels_last) accepts it
            self.peep = nn.Parameter(torch.zeros(3, out, 1, 1))
        elif peep:
            if self.map_hw is None:
                raise ValueError("cell 'lstm' peephole='position' needs the state map size (build with image_size)")
            H, W = self.map_hw
            self.peep = nn.Parameter(torch.empty(3, out, H, W))
            scale = self.cfg["kernel_init_scale"]
            if scale is None:   # TF's Glorot on [H, W, C]: fan_in = W*H, fan_out = C*H
                glorot_uniform_(self.peep, W * H, out * H)
            else:
                variance_scaling_(self.peep, scale, W * H)

    def forward(self, x, state, res=None, fb=None):
        if state is None:
            c = h = zero_state(x, self.out_ch)
        else:
            c, h = state
        i, j, f, o = (n(g) for n, g in zip(self.gate_norms, self.conv(torch.cat([x, h], 1)).chunk(4, 1)))
        if self.peep is not None:
            if self.peep.shape[-2:] not in ((1, 1), c.shape[-2:]):
                raise ValueError(f"cell 'lstm': per-position peepholes are for a {tuple(self.peep.shape[-2:])} map, "
                                 f"got {tuple(c.shape[-2:])}: build the model with the image_size it runs at")
            i, f, o = i + self.peep[0] * c, f + self.peep[1] * c, o + self.peep[2] * c
        c = self.cell_norm(c * torch.sigmoid(f + self.cfg["forget_bias"]) + torch.sigmoid(i) * torch.tanh(j))
        h = torch.tanh(c) * torch.sigmoid(o)
        return h, (c, h)
