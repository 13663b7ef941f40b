"""The ``Cell`` base class, the cell registry (``register_cell``) and the conv / activation helpers cells share.

A cell is one module of this package holding one ``@register_cell("name")`` subclass of ``Cell``; the package imports
every module it holds (``cells/__init__.py``), and everything else follows from the registry: the zoo names
``{name}_{backbone}``, how the backbones place the cell, how ``width`` scales it, its weight decay, its figure colour.
See the ``Cell`` docstring for the contract and docs/models.md, "Adding a cell or an edge set".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convrnn.checks import check_int

from ..tf_init import init_conv_
from ..weight_decay import conv_decays

CELLS: dict[str, type["Cell"]] = {}

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "elu": F.elu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}

#: Keys every cell takes (besides its ``defaults``); see the ``Cell`` docstring.
COMMON = {"kernel_init_scale": None, "weight_decay": None}

# A zoo name is ``{cell}_{backbone}[_variant]``: a cell name without "_" is the part before the first "_", which is
# how a name is read back into its cell (e.g. the figures' family of a model).
_NAME = re.compile(r"[a-z][a-z0-9]*")


@dataclass(frozen=True)
class Placement:
    """What a backbone needs from a cell to place it in the backbone's cell layers (``backbones.py``).

    ``configs``: the cell config of every cell layer (one mapping) or of each, shallowest first (a tuple with one
    mapping per cell layer), as the reference trained it; ``pre_activation``: elu on the node's pre-memory conv
    before the cell; ``blocks``: the nodes are ResNet basic blocks around the cell (conv+act -> cell -> conv ->
    + input -> elu), with the backbone's block depths; ``edges``: the model's long-range feedback ``(src, dst)``.
    """

    configs: Mapping[str, Any] | tuple[Mapping[str, Any], ...] = field(default_factory=dict)
    pre_activation: bool = False
    blocks: bool = False
    edges: tuple[tuple[str, str], ...] = ()

    def layer_configs(self, layers: tuple[str, ...], where: str) -> dict[str, dict]:
        """Cell layer -> its own copy of its config; ``where`` names the cell and backbone in errors."""
        if isinstance(self.configs, Mapping):
            return {layer: dict(self.configs) for layer in layers}
        if len(self.configs) != len(layers):
            raise ValueError(f"{where}: {len(self.configs)} layer configs for the {len(layers)} cell layers "
                             f"{list(layers)}")
        return {layer: dict(cfg) for layer, cfg in zip(layers, self.configs)}


def register_cell(name: str):
    """Class decorator: make a ``Cell`` subclass buildable under ``name`` (``NodeSpec.cell``) and give it its zoo
    names ``{name}_{backbone}``. Checks the class's declarations, so a mistake shows when its module is imported."""

    def deco(cls):
        if not _NAME.fullmatch(name):
            raise ValueError(f"cell name {name!r} must be lower-case letters and digits (no '_': zoo names are "
                             f"'{{cell}}_{{backbone}}')")
        if name in CELLS:
            raise ValueError(f"cell {name!r} is already registered ({CELLS[name].__name__})")
        if not (isinstance(cls, type) and issubclass(cls, Cell)):
            raise ValueError(f"cell {name!r}: {cls!r} is not a subclass of Cell")
        known = {**COMMON, **cls.defaults}
        for key in cls.channel_keys:
            if key not in known:
                raise ValueError(f"cell {name!r} channel_keys: {key!r} is not one of its config keys {sorted(known)}")
        for backbone, placement in cls.backbones.items():
            if not isinstance(placement, Placement):
                raise ValueError(f"cell {name!r} backbones[{backbone!r}] must be a Placement, got {placement!r}")
            for cfg in ([placement.configs] if isinstance(placement.configs, Mapping) else placement.configs):
                unknown = sorted(set(cfg) - set(known))
                if unknown:
                    raise ValueError(f"cell {name!r} backbones[{backbone!r}]: unknown config key(s) {unknown}")
        cls.cell_name = name
        CELLS[name] = cls
        return cls

    return deco


def unregister_cell(name: str) -> type["Cell"]:
    """Undo ``register_cell(name)`` (a cell defined for one test or session); returns the class."""
    if name not in CELLS:
        raise ValueError(f"cell {name!r} is not registered; registered: {sorted(CELLS)}")
    return CELLS.pop(name)


def cell_class(name: str, where: str) -> type["Cell"]:
    """The registered cell ``name``; ``where`` (e.g. the node) prefixes the error."""
    if name not in CELLS:
        raise ValueError(f"{where}: unknown cell {name!r}; registered: {sorted(CELLS)}")
    return CELLS[name]


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


def conv_bias(m: nn.Module) -> Tensor | None:
    """The bias of a ``conv()`` module (a bare Conv2d or pad + Conv2d)."""
    return m[-1].bias if isinstance(m, nn.Sequential) else m.bias


def zero_state(x: Tensor, ch: int) -> Tensor:
    """A zero map of ``ch`` channels the size of ``x``: a cell's state before the first step."""
    return x.new_zeros(x.shape[0], ch, *x.shape[2:])


def layer_norm(enabled: bool, ch: int) -> nn.Module:
    """TF ``layer_norm`` over (H, W, C) with per-channel scale/shift == GroupNorm with one group."""
    return nn.GroupNorm(1, ch) if enabled else nn.Identity()


class Cell(nn.Module):
    """A convolutional recurrent cell inside a graph node, after the node's pre-memory conv (``graph.ConvNode``).

    **Construction** (keywords only; ``ConvNode`` passes them so): ``Cell(in_ch=, res_ch=, fb_ch=, map_hw=,
    **config)``.

    - ``in_ch``: depth of ``x``, the node's pre-memory conv output;
    - ``res_ch``: depth of ``res``, the node's feed-forward input (the bypass source);
    - ``fb_ch``: depth of the long-range feedback given to the cell (0 unless ``takes_feedback``);
    - ``map_hw``: (H, W) of the cell's state map at the model's ``image_size``, for parameters that depend on it
      (per-position LSTM peepholes, RGC kernels clipped to the map); None when unknown;
    - ``config``: the keys of ``defaults`` and ``COMMON``; an unknown key raises ``ValueError`` naming it.
      ``COMMON``: ``kernel_init_scale`` (None: TF's Glorot-uniform default; a number: TF variance scaling,
      fan_in, truncated normal) and ``weight_decay`` (None: the training config's coefficient).

    **Step**: ``out, state = cell(x, state, res, fb)``; ``state`` is whatever the cell returned last step, ``None``
    at the first (zero state); ``out`` has ``out_ch`` channels and the size of ``x``.

    **Declarations** (class attributes; the registry, backbones, overrides and optimizer read them):

    - ``defaults``: the config keys and their values;
    - ``channel_keys``: config keys that are channel counts, scaled by the ``width`` override. An ``out_depth`` key
      sets ``out_ch`` (None: ``in_ch``); without it ``out_ch == in_ch``;
    - ``takes_feedback``: feedback maps reach the cell as ``fb`` (the RGC); otherwise the node concatenates them
      onto the pre-memory conv's input, as the reference's harbor does;
    - ``backbones``: backbone name -> ``Placement`` (layer configs, pre-conv activation, basic blocks, edges); a
      backbone the class does not name gets ``Cell.backbones``' entry (the reference's plan for its non-RGC cells);
    - ``decay_biases``: conv biases are regularised like kernels (``weight_decays``); convs the reference creates
      without a regulariser are declared where they are made (``weight_decay.unregularised``).
    """

    cell_name = "?"
    defaults: dict[str, Any] = {}
    channel_keys: tuple[str, ...] = ()
    takes_feedback = False
    backbones: Mapping[str, Placement] = {
        # the reference JSONs of the non-RGC cells: no activation before the cell in the shallow model (the cell
        # applies its own); in the intermediate model a ResNet-18-like basic block per node with an elu pre-conv
        "shallow": Placement(pre_activation=False),
        "intermediate": Placement(pre_activation=True, blocks=True),
    }
    #: regularise conv biases like kernels (the reference cells' ``bias_regularizer``); the median RGC does not
    decay_biases = True

    def __init__(self, *, in_ch: int, res_ch: int = 0, fb_ch: int = 0, map_hw: tuple[int, int] | None = None,
                 **cfg):
        super().__init__()
        known = {**COMMON, **self.defaults}
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise ValueError(f"cell {self.cell_name!r}: unknown config key(s) {unknown}; known: {sorted(known)}")
        self.cfg = {**known, **cfg}
        self.in_ch, self.res_ch, self.fb_ch, self.map_hw = in_ch, res_ch, fb_ch, map_hw
        self.out_ch = self.output_depth(in_ch, self.cfg)
        for key in COMMON:
            v = self.cfg[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise ValueError(f"cell {self.cell_name!r} {key} must be None or a number >= 0, got {v!r}")

    @classmethod
    def output_depth(cls, in_ch: int, cfg: Mapping[str, Any]) -> int:
        """Channels the cell outputs for an ``x`` of ``in_ch`` channels (the graph needs it before building)."""
        out = cfg.get("out_depth")
        return in_ch if out is None else check_int(f"cell {cls.cell_name!r} out_depth", out, 1)

    @classmethod
    def config_keys(cls) -> list[str]:
        """Every key the cell's config takes (``COMMON`` and ``defaults``), sorted."""
        return sorted({**COMMON, **cls.defaults})

    @classmethod
    def placement(cls, backbone: str) -> Placement:
        """How ``backbone`` places this cell: its own declaration, else ``Cell``'s, else the plain default."""
        return cls.backbones.get(backbone) or Cell.backbones.get(backbone) or Placement()

    def make_conv(self, in_ch: int, out_ch: int, k, bias: bool = True, groups: int = 1) -> nn.Module:
        return conv(in_ch, out_ch, k, bias, self.cfg["kernel_init_scale"], groups)

    def weight_decays(self, default: float) -> dict[str, float]:
        """L2 coefficient per parameter name (``named_parameters``): conv kernels (and biases if ``decay_biases``)
        get ``weight_decay`` (None: ``default``); norms, peepholes, scalars and convs declared ``unregularised``
        get 0, as in the reference, which creates those variables without a regulariser."""
        wd = default if self.cfg["weight_decay"] is None else float(self.cfg["weight_decay"])
        return conv_decays(self, wd, biases=self.decay_biases)

    def forward(self, x: Tensor, state, res: Tensor | None = None, fb: Tensor | None = None):
        raise NotImplementedError


class GatedCell(Cell):
    """The reference's gated cells (UGRNN, IntersectionRNN, GRU, LSTM): their gates and candidates are convs over
    ``[x, h]`` (``filter_size``; ``out_depth`` channels of state, None: the input's).

    ``state_convs``: attribute -> number of ``out_ch`` maps of each such conv, created in this order (the order
    draws the initial weights, and the attribute names the state-dict keys the checkpoint converter maps).
    """

    defaults = {"out_depth": None, "filter_size": 3, "forget_bias": 1.0}
    channel_keys = ("out_depth",)
    state_convs: Mapping[str, int] = {}

    def __init__(self, **kw):
        super().__init__(**kw)
        for attr, maps in self.state_convs.items():
            setattr(self, attr, self.state_conv(maps))

    def state_conv(self, maps: int) -> nn.Module:
        """One ``filter_size`` conv over ``[x, h]`` to ``maps`` * ``out_ch`` channels: gates and candidates computed
        together, as the reference does."""
        k = check_int(f"cell {self.cell_name!r} filter_size", self.cfg["filter_size"], 1)
        return self.make_conv(self.in_ch + self.out_ch, maps * self.out_ch, k)
