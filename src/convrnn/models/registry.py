"""The model zoo: one ``build(name, **overrides)`` for every name, driven by ``ModelSpec`` factories.

Add a model in one line: ``register_model("gru_shallow_fb", lambda: with_edges(shallow("gru"), [("conv5", "conv3")]))``.
"""
from __future__ import annotations

import copy
from typing import Callable, Mapping

from torch import nn

from . import controls
from .backbones import INTERMEDIATE_CELL_LAYERS, SHALLOW_CELL_LAYERS, intermediate, shallow
from .graph import READOUTS, ConvRNN, ModelSpec
from .resnet import ResNetModel

CELL_TYPES = ("timedecay", "simplernn", "gru", "lstm", "intersectionrnn", "ugrnn", "rgc")
BACKBONES = {"shallow": (shallow, SHALLOW_CELL_LAYERS), "intermediate": (intermediate, INTERMEDIATE_CELL_LAYERS)}
OVERRIDES = ("num_classes", "width", "times", "image_off", "blank_value", "readout", "cell", "edges", "cell_layers",
             "image_size")
CHANNEL_KEYS = ("out_depth", "cell_depth")   # cell config keys scaled by ``width``

MODELS: dict[str, Callable[[], ModelSpec]] = {}
_CONSTANT: set[str] = set()   # constant-presentation models: image_off follows times


def register_model(name: str, factory: Callable[[], ModelSpec], constant: bool = False):
    if name in MODELS or name.startswith("resnet"):
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = factory
    if constant:
        _CONSTANT.add(name)


def _constant(spec: ModelSpec, times: int) -> ModelSpec:
    spec.times = spec.image_off = times
    return spec


for _bb, (_make, _) in BACKBONES.items():
    for _cell in CELL_TYPES:
        register_model(f"{_cell}_{_bb}", lambda m=_make, c=_cell: m(c))
    register_model(f"ff_{_bb}", lambda m=_make: m(None))
    register_model(f"rgc_{_bb}_minunroll", lambda m=_make: controls.minunroll(m("rgc")), constant=True)
register_model("ugrnn_intermediate_t30", lambda: _constant(intermediate("ugrnn"), 30), constant=True)
register_model("rgc_intermediate_t22", lambda: _constant(intermediate("rgc"), 22), constant=True)


def _decoded(spec: ModelSpec, readout: str) -> ModelSpec:
    spec.readout = readout
    return spec


# the released temporal-decoder models (reference loader: *_tmaxconf = max_conf, *_dthresh = thresh)
for _base in ("rgc_intermediate", "rgc_intermediate_t22", "ugrnn_intermediate_t30"):
    for _suffix, _readout in (("tmaxconf", "max_conf"), ("dthresh", "thresh")):
        if f"{_base}_{_suffix}" != "rgc_intermediate_t22_dthresh":   # not released
            register_model(f"{_base}_{_suffix}", lambda b=_base, r=_readout: _decoded(MODELS[b](), r),
                           constant=_base in _CONSTANT)

# parameter-matched controls depend on the overrides (width, num_classes): resolved in build()
MATCHED = {f"ff_{kind}_{bb}": (kind, bb) for kind in ("wide", "deep") for bb in BACKBONES}
RESNETS = {"resnet18": 18, "resnet34": 34, "resnet50": 50}


def names() -> list[str]:
    return sorted([*MODELS, *MATCHED, *RESNETS])


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
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {names()}")
    return ConvRNN(apply_overrides(MODELS[name](), overrides, name), name)


def _reject_cell_overrides(name, overrides):
    for key in ("cell", "cell_layers", "edges"):
        if key in overrides:
            raise ValueError(f"{key}: not supported for the feed-forward control {name!r}")


def _build_resnet(name, overrides):
    kw = {}
    for key in ("num_classes", "times", "image_off"):
        if key in overrides:
            kw[key] = _int(overrides[key], key, 1 if key != "image_off" else 0)
    if "blank_value" in overrides:
        kw["blank_value"] = _float(overrides["blank_value"], "blank_value")
    if "readout" in overrides:
        if overrides["readout"] != "last":
            raise ValueError(f"readout: {name!r} is feed-forward; only 'last' applies, got {overrides['readout']!r}")
        kw["readout"] = "last"
    if "image_size" in overrides:
        _int(overrides["image_size"], "image_size", 1)   # a ResNet's parameters do not depend on it
    bad = [k for k in overrides if k in ("width", "cell", "edges", "cell_layers")]
    if bad:
        raise ValueError(f"{bad[0]}: not supported for {name!r} (a torchvision ResNet)")
    return ResNetModel(RESNETS[name], **kw)


def apply_overrides(spec: ModelSpec, o: dict, name: str) -> ModelSpec:
    spec = copy.deepcopy(spec)
    conv_names = [n.name for n in spec.nodes]
    if "num_classes" in o:
        spec.num_classes = _int(o["num_classes"], "num_classes", 1)
    if "image_size" in o:
        spec.image_size = _int(o["image_size"], "image_size", 1)
    if "times" in o:
        spec.times = _int(o["times"], "times", 1)
        if name in _CONSTANT and "image_off" not in o:
            spec.image_off = spec.times
    if "image_off" in o:
        spec.image_off = _int(o["image_off"], "image_off", 0)
    if "blank_value" in o:
        spec.blank_value = _float(o["blank_value"], "blank_value")
    if "readout" in o:
        spec.readout = _readout(o["readout"])
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
        w = _float(o["width"], "width")
        if w <= 0:
            raise ValueError(f"width must be > 0, got {w}")
        for n in spec.nodes:
            n.out = max(1, round(n.out * w))
            for key in CHANNEL_KEYS:
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


def _int(v, key, lo):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{key} must be an int >= {lo}, got {v!r}")
    return v


def _float(v, key):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{key} must be a number, got {v!r}")
    return float(v)


def _readout(v):
    if v not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {v!r}")
    return v
