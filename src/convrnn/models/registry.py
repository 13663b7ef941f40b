"""The model zoo: one ``build(name_or_spec, **overrides)`` for every name, driven by ``ModelSpec`` factories.

The names follow from what is registered, computed when asked (``names()``, ``build()``):
- ``{cell}_{backbone}`` for every registered cell (``cells/``) and every backbone (``backbones.BACKBONES``), so a cell
  registered at any time is in the zoo;
- the variants registered here with ``register_model`` (the feed-forward controls ``ff_{backbone}``, the
  minimal-unroll and constant-presentation models, the released temporal decoders) and by users, e.g.
  ``register_model("gru_shallow_fb", lambda: replace(shallow("gru"), edges=[("conv5", "conv3")]))``;
- the parameter-matched controls ``ff_{wide,deep}_{backbone}`` (resolved at build time) and the torchvision ResNets.
"""
from __future__ import annotations

import copy
from typing import Callable, Mapping

from torch import nn

from convrnn.checks import check_int, check_number

from . import controls
from .backbones import BACKBONES, intermediate
from .cells import CELLS, cell_class
from .graph import READOUTS, ConvRNN, ModelSpec
from .resnet import ResNetModel

OVERRIDES = ("num_classes", "width", "times", "image_off", "blank_value", "readout", "cell", "edges", "cell_layers",
             "image_size")
# parameter-matched controls depend on the overrides (width, num_classes): resolved in build()
MATCHED = {f"ff_{kind}_{bb}": (kind, bb) for kind in ("wide", "deep") for bb in BACKBONES}
RESNETS = {"resnet18": 18, "resnet34": 34, "resnet50": 50}

MODELS: dict[str, Callable[[], ModelSpec]] = {}   # registered variants; the cells' models are computed (_zoo)
_CONSTANT: set[str] = set()   # constant-presentation models: image_off follows times


def _cell_models() -> dict[str, Callable[[], ModelSpec]]:
    """``{cell}_{backbone}`` -> factory, for the cells registered now."""
    return {f"{cell}_{bb}": (lambda b=backbone, c=cell: b.make(c)) for bb, backbone in BACKBONES.items()
            for cell in CELLS}


def _zoo() -> dict[str, Callable[[], ModelSpec]]:
    """Every ConvRNN name -> its spec factory: the registered cells' models and the registered variants."""
    cells = _cell_models()
    clash = sorted(set(cells) & set(MODELS))
    if clash:
        raise ValueError(f"zoo name(s) {clash} belong both to a registered cell and to a registered model: rename one")
    return {**cells, **MODELS}


def register_model(name: str, factory: Callable[[], ModelSpec], constant: bool = False):
    """Add ``name`` to the zoo; ``constant``: the image stays on for the whole unroll (``times`` moves image_off)."""
    if name in MODELS or name in _cell_models() or name in MATCHED or name.startswith("resnet"):
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = factory
    if constant:
        _CONSTANT.add(name)


def _spec(name: str) -> ModelSpec:
    return _zoo()[name]()


def _constant(spec: ModelSpec, times: int) -> ModelSpec:
    spec.times = spec.image_off = times
    return spec


def _decoded(spec: ModelSpec, readout: str) -> ModelSpec:
    spec.readout = readout
    return spec


for _bb, _backbone in BACKBONES.items():
    register_model(f"ff_{_bb}", lambda b=_backbone: b.make(None))
    register_model(f"rgc_{_bb}_minunroll", lambda b=_backbone: controls.minunroll(b.make("rgc")), constant=True)
register_model("ugrnn_intermediate_t30", lambda: _constant(intermediate("ugrnn"), 30), constant=True)
register_model("rgc_intermediate_t22", lambda: _constant(intermediate("rgc"), 22), constant=True)

# the released temporal-decoder models (reference loader: *_tmaxconf = max_conf, *_dthresh = thresh)
for _base in ("rgc_intermediate", "rgc_intermediate_t22", "ugrnn_intermediate_t30"):
    for _suffix, _readout in (("tmaxconf", "max_conf"), ("dthresh", "thresh")):
        if f"{_base}_{_suffix}" != "rgc_intermediate_t22_dthresh":   # not released
            register_model(f"{_base}_{_suffix}", lambda b=_base, r=_readout: _decoded(_spec(b), r),
                           constant=_base in _CONSTANT)


def names() -> list[str]:
    """Every buildable name, for the cells registered now."""
    return sorted([*_zoo(), *MATCHED, *RESNETS])


def build(spec: str | Mapping, **overrides) -> nn.Module:
    """Build a zoo model (untrained) from its name or from a model spec ``{"arch": name, "overrides": {...}}`` (a
    config's ``models.<id>``); keyword overrides apply on top. See docs/models.md for names and overrides."""
    if isinstance(spec, Mapping):
        name, overrides = spec["arch"], {**(spec.get("overrides") or {}), **overrides}
    else:
        name = spec
    unknown = [k for k in overrides if k not in OVERRIDES]
    if unknown:
        raise ValueError(f"unknown override(s) {unknown} for {name!r}; allowed: {list(OVERRIDES)}")
    if name in RESNETS:
        return _build_resnet(name, overrides)
    if name in MATCHED:
        kind, bb = MATCHED[name]
        make, cell_layers = BACKBONES[bb]
        target = apply_overrides(make("rgc"), overrides, f"rgc_{bb}")
        ff_over = {k: v for k, v in overrides.items() if k not in ("cell", "edges", "cell_layers")}
        _reject_cell_overrides(name, overrides)
        ff = apply_overrides(make(None), ff_over, name)
        return ConvRNN(controls.control(kind, ff, target, cell_layers), name)
    zoo = _zoo()
    if name not in zoo:
        raise ValueError(f"unknown model {name!r}; known: {names()}")
    return ConvRNN(apply_overrides(zoo[name](), overrides, name), name)


def _reject_cell_overrides(name, overrides):
    for key in ("cell", "cell_layers", "edges"):
        if key in overrides:
            raise ValueError(f"{key}: not supported for the feed-forward control {name!r}")


def _build_resnet(name, overrides):
    kw = {}
    for key in ("num_classes", "times", "image_off"):
        if key in overrides:
            kw[key] = check_int(key, overrides[key], 1 if key != "image_off" else 0)
    if "blank_value" in overrides:
        kw["blank_value"] = check_number("blank_value", overrides["blank_value"])
    if "readout" in overrides:
        if overrides["readout"] != "last":
            raise ValueError(f"readout: {name!r} is feed-forward; only 'last' applies, got {overrides['readout']!r}")
        kw["readout"] = "last"
    if "image_size" in overrides:
        check_int("image_size", overrides["image_size"], 1)   # a ResNet's parameters do not depend on it
    bad = [k for k in overrides if k in ("width", "cell", "edges", "cell_layers")]
    if bad:
        raise ValueError(f"{bad[0]}: not supported for {name!r} (a torchvision ResNet)")
    return ResNetModel(RESNETS[name], **kw)


def apply_overrides(spec: ModelSpec, o: dict, name: str) -> ModelSpec:
    spec = copy.deepcopy(spec)
    conv_names = [n.name for n in spec.nodes]
    if "num_classes" in o:
        spec.num_classes = check_int("num_classes", o["num_classes"], 1)
    if "image_size" in o:
        spec.image_size = check_int("image_size", o["image_size"], 1)
    if "times" in o:
        spec.times = check_int("times", o["times"], 1)
        if name in _CONSTANT and "image_off" not in o:
            spec.image_off = spec.times
    if "image_off" in o:
        spec.image_off = check_int("image_off", o["image_off"], 0)
    if "blank_value" in o:
        spec.blank_value = check_number("blank_value", o["blank_value"])
    if "readout" in o:
        if o["readout"] not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {o['readout']!r}")
        spec.readout = o["readout"]
    cell_type = next((n.cell for n in spec.nodes if n.cell), None)
    if "cell_layers" in o:
        layers = o["cell_layers"]
        if cell_type is None:
            raise ValueError(f"cell_layers: {name!r} has no recurrent cell")
        if isinstance(layers, str) or not all(l in conv_names for l in layers):
            raise ValueError(f"cell_layers must be a list of layers from {conv_names}, got {layers!r}")
        template = next(n for n in spec.nodes if n.cell)
        for n in spec.nodes:
            if n.name in layers and n.cell is None:
                n.cell, n.cell_cfg, n.act = cell_type, copy.deepcopy(template.cell_cfg), template.act
            elif n.name not in layers and n.cell is not None:
                n.cell, n.cell_cfg, n.act = None, {}, True
    if "cell" in o:
        if not isinstance(o["cell"], dict):
            raise ValueError(f"cell must be a dict of cell config keys, got {type(o['cell']).__name__}")
        if cell_type is None:
            raise ValueError(f"cell: {name!r} has no recurrent cell")
        for n in spec.nodes:
            if n.cell:
                n.cell_cfg = {**n.cell_cfg, **o["cell"]}
    if "edges" in o:
        spec.edges = _edges(o["edges"], conv_names)
    if "width" in o:
        w = check_number("width", o["width"], 0, strict=True)
        for n in spec.nodes:
            n.out = max(1, round(n.out * w))
            # the cell's own channel counts (``Cell.channel_keys``) scale with the node
            for key in cell_class(n.cell, n.name).channel_keys if n.cell else ():
                if n.cell_cfg.get(key) is not None:
                    n.cell_cfg[key] = max(1, round(n.cell_cfg[key] * w))
    return spec


def _edges(edges, conv_names) -> list[tuple[str, str]]:
    out = []
    try:
        pairs = [tuple(e) for e in edges]
    except TypeError:
        raise ValueError(f"edges must be a list of [src, dst] pairs, got {edges!r}") from None
    for e in pairs:
        if len(e) != 2 or any(n not in conv_names for n in e):
            raise ValueError(f"edges: {list(e)} must be [src, dst] with both in {conv_names}")
        src, dst = e
        if conv_names.index(src) <= conv_names.index(dst):
            raise ValueError(f"edges: {src}->{dst} is not feedback (src must be deeper than dst)")
        if e in out:
            raise ValueError(f"edges: duplicate edge {src}->{dst}")
        out.append(e)
    return out
