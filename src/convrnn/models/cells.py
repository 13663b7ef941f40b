"""Convolutional recurrent cells (Nayebi et al. 2018/2022 zoo) and the cell registry.

A cell sits inside a graph node, after the node's pre-memory convolution (see ``graph.py``):

    out, state = cell(x, state, res, fb)

- ``x``   (B, in_ch, H, W): the pre-memory conv output.
- ``state``: whatever the cell returned last step, or ``None`` at the first step (zero state).
- ``res`` (B, res_ch, H, W): the node's feed-forward harbor input (the bypass source; RGC only).
- ``fb``  (B, fb_ch, H, W) or None: long-range feedback, resized and concatenated. Only cells with
  ``takes_feedback = True`` (the RGC) receive it; for the others the node concatenates feedback
  onto the pre-memory conv input, as the reference harbor does.

Every cell declares its config keys in ``defaults``; an unknown key raises ``ValueError`` naming it. Keys every
cell takes (``COMMON``): ``kernel_init_scale`` (None: TF's Glorot-uniform default; a number: TF variance scaling,
fan_in, truncated normal, as the median cell 0.6393 and the lstm_shallow npz) and ``weight_decay`` (None: the
training config's coefficient; see ``weight_decays``). Biases start at zero except where the reference fixes them
(GRU gates 1.0, LSTM ``bias_init``).

``map_hw``: the (H, W) of the cell's state at the model's image size (``ModelSpec.image_size``). Cells whose
parameters depend on it use it: per-position LSTM peepholes, RGC kernels clipped to the map.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .tf_init import glorot_uniform_, init_conv_, variance_scaling_

CELLS: dict[str, type["Cell"]] = {}

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "elu": F.elu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def register_cell(name: str):
    """Class decorator: make a ``Cell`` subclass buildable under ``name`` (``NodeSpec.cell``)."""

    def deco(cls):
        if name in CELLS:
            raise ValueError(f"cell {name!r} is already registered ({CELLS[name].__name__})")
        cls.cell_name = name
        CELLS[name] = cls
        return cls

    return deco


def activation(name: str, key: str) -> Callable[[Tensor], Tensor]:
    if name not in ACTIVATIONS:
        raise ValueError(f"{key} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def conv(in_ch: int, out_ch: int, k: int | tuple[int, int], bias: bool = True, scale: float | None = None,
         groups: int = 1) -> nn.Module:
    """Stride-1 TF-'SAME' conv; even kernels pad one more at the bottom/right, as TF does (explicit pad: torch's
    padding='same' would copy the input for even kernels anyway, with a warning). Initialised by ``init_conv_``.
    """
    kh, kw = (k, k) if isinstance(k, int) else k
    layer = init_conv_(nn.Conv2d(in_ch, out_ch, (kh, kw), bias=bias, groups=groups), scale)
    if kh % 2 and kw % 2:
        layer.padding = (kh // 2, kw // 2)
        return layer
    return nn.Sequential(nn.ZeroPad2d(same_pad(kw) + same_pad(kh)), layer)


def same_pad(k: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of a stride-1 kernel of size k."""
    return (k - 1) // 2, k // 2


COMMON = {"kernel_init_scale": None, "weight_decay": None}


class Cell(nn.Module):
    """Base class: config handling. Subclasses set ``defaults`` and implement ``forward``."""

    cell_name = "?"
    takes_feedback = False
    defaults: dict[str, Any] = {}

    def __init__(self, in_ch: int, res_ch: int = 0, fb_ch: int = 0, map_hw: tuple[int, int] | None = None, **cfg):
        super().__init__()
        known = {**COMMON, **self.defaults}
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise ValueError(f"cell {self.cell_name!r}: unknown config key(s) {unknown}; known: {sorted(known)}")
        self.cfg = {**known, **cfg}
        self.in_ch, self.res_ch, self.fb_ch, self.map_hw = in_ch, res_ch, fb_ch, map_hw
        out = self.cfg.get("out_depth")
        self.out_ch = in_ch if out is None else _positive_int(out, f"cell {self.cell_name!r} out_depth")
        for key in COMMON:
            v = self.cfg[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise ValueError(f"cell {self.cell_name!r} {key} must be None or a number >= 0, got {v!r}")

    def make_conv(self, in_ch: int, out_ch: int, k, bias: bool = True, groups: int = 1) -> nn.Module:
        return conv(in_ch, out_ch, k, bias, self.cfg["kernel_init_scale"], groups)

    #: regularise conv biases like kernels (the reference cells' ``bias_regularizer``); the median RGC does not
    decay_biases = True

    def weight_decays(self, default: float) -> dict[str, float]:
        """L2 coefficient per parameter name (``named_parameters``): conv kernels (and biases if ``decay_biases``)
        get ``weight_decay`` (None: ``default``); norms, peepholes, scalars and residual projections get 0,
        as in the reference, which creates those variables without a regulariser."""
        wd = default if self.cfg["weight_decay"] is None else float(self.cfg["weight_decay"])
        out = {}
        for mname, m in self.named_modules():
            for pname, _ in m.named_parameters(recurse=False):
                full = f"{mname}.{pname}" if mname else pname
                regularised = isinstance(m, nn.Conv2d) and not mname.endswith("proj") and (
                    pname == "weight" or self.decay_biases)
                out[full] = wd if regularised else 0.0
        return out

    def forward(self, x: Tensor, state, res: Tensor | None = None, fb: Tensor | None = None):
        raise NotImplementedError


def _positive_int(v, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{key} must be an int >= 1, got {v!r}")
    return v


def conv_bias(m: nn.Module) -> Tensor | None:
    """The bias of a ``conv()`` module (a bare Conv2d or pad + Conv2d)."""
    return m[-1].bias if isinstance(m, nn.Sequential) else m.bias


def _zeros(x: Tensor, ch: int) -> Tensor:
    return x.new_zeros(x.shape[0], ch, *x.shape[2:])


def _groupnorm(enabled: bool, ch: int) -> nn.Module:
    """TF ``layer_norm`` over (H, W, C) with per-channel scale/shift == GroupNorm with one group."""
    return nn.GroupNorm(1, ch) if enabled else nn.Identity()


@register_cell("ugrnn")
class UGRNNCell(Cell):
    """Update-gate RNN: [g, c] = conv([x, h]); h' = g*h + (1-g)*tanh(c), g = sigmoid(g + forget_bias)."""

    defaults = {"out_depth": None, "filter_size": 3, "forget_bias": 1.0}

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        self.conv = self.make_conv(in_ch + self.out_ch, 2 * self.out_ch, self.cfg["filter_size"])

    def forward(self, x, state, res=None, fb=None):
        h = _zeros(x, self.out_ch) if state is None else state
        g, c = self.conv(torch.cat([x, h], 1)).chunk(2, 1)
        g = torch.sigmoid(g + self.cfg["forget_bias"])
        h = g * h + (1 - g) * torch.tanh(c)
        return h, h


@register_cell("intersectionrnn")
class IntersectionRNNCell(Cell):
    """Intersection RNN: a gated memory h and a gated *output* y that can pass x through unchanged."""

    defaults = {"out_depth": None, "filter_size": 3, "forget_bias": 1.0}

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        if self.out_ch != in_ch:  # y = g*x + ... needs matching depth (as in the reference)
            raise ValueError(f"cell 'intersectionrnn': out_depth ({self.out_ch}) must equal its input depth ({in_ch})")
        self.conv = self.make_conv(in_ch + self.out_ch, 4 * self.out_ch, self.cfg["filter_size"])

    def forward(self, x, state, res=None, fb=None):
        h = _zeros(x, self.out_ch) if state is None else state
        gh, hh, gy, yy = self.conv(torch.cat([x, h], 1)).chunk(4, 1)
        fbias = self.cfg["forget_bias"]
        gh, gy = torch.sigmoid(gh + fbias), torch.sigmoid(gy + fbias)
        h = gh * h + (1 - gh) * torch.tanh(hh)
        y = gy * x + (1 - gy) * F.relu(yy)
        return y, h


@register_cell("gru")
class GRUCell(Cell):
    """Conv GRU: r, u = sigmoid(conv([x, h])) (gate bias init 1.0); h' = u*h + (1-u)*tanh(conv([x, r*h]))."""

    defaults = {"out_depth": None, "filter_size": 3, "forget_bias": 1.0}

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        k = self.cfg["filter_size"]
        self.gates = self.make_conv(in_ch + self.out_ch, 2 * self.out_ch, k)
        self.cand = self.make_conv(in_ch + self.out_ch, self.out_ch, k)
        nn.init.constant_(conv_bias(self.gates), 1.0)

    def forward(self, x, state, res=None, fb=None):
        h = _zeros(x, self.out_ch) if state is None else state
        r, u = self.gates(torch.cat([x, h], 1)).chunk(2, 1)
        r, u = torch.sigmoid(r + self.cfg["forget_bias"]), torch.sigmoid(u)
        c = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        h = u * h + (1 - u) * c
        return h, h


@register_cell("lstm")
class LSTMCell(Cell):
    """Conv LSTM: [i, j, f, o] = conv([x, h]); c' = c*sig(f + fb) + sig(i)*tanh(j); h' = tanh(c')*sig(o).

    ``layer_norm``: one GroupNorm(1) on each of i, j, f, o and one on c', as the reference ConvLSTMCell
    (convrnns/utils/cells.py). ``peephole``: weights on the *previous* c for i, f and o (the reference also
    feeds the old c to the output gate, unlike TF's LSTMCell): ``"position"`` (or True) = one weight per
    position and channel (3, C, H, W) on the state map ``map_hw``, as the reference (initialised like the
    kernels, TF fans of an [H, W, C] variable); ``"channel"`` = one per channel, zero-initialised, a
    size-independent option of ours.
    """

    defaults = {"out_depth": None, "filter_size": 3, "forget_bias": 1.0, "bias_init": None,
                "layer_norm": False, "peephole": False}
    PEEPHOLES = (False, True, "position", "channel")

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        out = self.out_ch
        self.conv = self.make_conv(in_ch + out, 4 * out, self.cfg["filter_size"])
        if self.cfg["bias_init"] is not None:
            nn.init.constant_(conv_bias(self.conv), float(self.cfg["bias_init"]))
        ln = self.cfg["layer_norm"]
        self.gate_norms = nn.ModuleList(_groupnorm(ln, out) for _ in range(4))
        self.cell_norm = _groupnorm(ln, out)
        peep = self.cfg["peephole"]
        if peep not in self.PEEPHOLES:
            raise ValueError(f"cell 'lstm' peephole must be one of {self.PEEPHOLES}, got {peep!r}")
        self.peep = None
        if peep == "channel":   # (3, C, 1, 1): rank 4 so that model.to(memory_format=channels_last) accepts it
            self.peep = nn.Parameter(torch.zeros(3, out, 1, 1))
        elif peep:
            if map_hw is None:
                raise ValueError("cell 'lstm' peephole='position' needs the state map size (build with image_size)")
            H, W = map_hw
            self.peep = nn.Parameter(torch.empty(3, out, H, W))
            scale = self.cfg["kernel_init_scale"]
            if scale is None:   # TF's Glorot on [H, W, C]: fan_in = W*H, fan_out = C*H
                glorot_uniform_(self.peep, W * H, out * H)
            else:
                variance_scaling_(self.peep, scale, W * H)

    def forward(self, x, state, res=None, fb=None):
        if state is None:
            c = h = _zeros(x, self.out_ch)
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


@register_cell("simplernn")
class SimpleRNNCell(Cell):
    """Reference ``ConvNormBasicCell``: h' = elu(LN(conv(x) + conv(h)))."""

    defaults = {"out_depth": None, "filter_size": 3, "layer_norm": False}

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        k = self.cfg["filter_size"]
        self.conv_x = self.make_conv(in_ch, self.out_ch, k)
        self.conv_h = self.make_conv(self.out_ch, self.out_ch, k)
        self.norm = _groupnorm(self.cfg["layer_norm"], self.out_ch)

    def forward(self, x, state, res=None, fb=None):
        pre = self.conv_x(x)
        if state is not None:  # conv_h(0) is just its bias: add it so t=0 matches the equation
            pre = pre + self.conv_h(state)
        else:
            pre = pre + conv_bias(self.conv_h).view(1, -1, 1, 1)
        h = F.elu(self.norm(pre))
        return h, h


@register_cell("timedecay")
class TimeDecayCell(Cell):
    """Reference ``memory``: s' = m*s + x with one trainable scalar m per layer (init ``memory_decay``).

    Linear on purpose: the reference shallow time-decay JSON has no activation around it.
    """

    defaults = {"memory_decay": 0.0}

    def __init__(self, in_ch, res_ch=0, fb_ch=0, map_hw=None, **cfg):
        super().__init__(in_ch, res_ch, fb_ch, map_hw, **cfg)
        self.decay = nn.Parameter(torch.tensor(float(self.cfg["memory_decay"])))

    def forward(self, x, state, res=None, fb=None):
        s = x if state is None else self.decay * state + x
        return s, s
