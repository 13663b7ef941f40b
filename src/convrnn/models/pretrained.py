"""The released TF1 checkpoints of neuroailab/convrnns -> our state dicts (docs/models.md, Pretrained weights).

The reference builds every model under ``tnn_model/<node>/`` (``model_func.py``, ``utils/main.py``); its variable
names per part (``utils/cells.py``, ``utils/median_rgcell.py``, ``utils/cell_utils.py``, ``utils/model_tool.py``,
``utils/decoders.py``):

- pre-memory conv (``component_conv``, scope ``pre_0``): ``pre_0/weights_basenet`` [k, k, in, out], ``pre_0/bias``;
- ResNet-block tail of the intermediate non-RGC nodes: ``post_0/weights`` + ``post_0/bias`` (3x3 conv),
  ``post_1/residual_add_weights`` [1, 1, in, out] (only where the depth changes);
- readout ``imnetds``: fc ``pre_3/weights`` [in, K] + ``pre_3/bias`` (intermediate), 2x2 conv ``pre_1/weights``
  + ``pre_1/bias`` (shallow);
- cells, under ``<node>/<CellClass>/``: ``ConvUGRNNCell/{weights,bias}``, ``ConvIntersectionRNNCell/{weights,bias}``,
  ``ConvGRUCell/{gates,candidates}/{weights,bias}``, ``ConvLSTMCell/{weights,bias}`` + layer norms
  ``{input,transform,forget,output,state}/{gamma,beta}`` + peepholes ``peepholes/w_{i,f,o}_diag`` [H, W, C],
  ``ConvNormBasicCell/{i,s}/{weights,bias}`` + ``layer_norm/{gamma,beta}``; the time-decay cell is the node's
  trainable ``memory_decay`` [1]; RGC see ``_rgc_targets`` (median cell in the 11-node models, the 2018 cell in
  the 6-node one: the reference's ``str_to_cell`` rule);
- decoders: ``tnn_model/normalize/softmax_beta`` [1] (trainable in ``*_tmaxconf``), ``tnn_model/decoder_threshold``.

Layouts: TF conv [kh, kw, in, out] -> torch [out, in, kh, kw]; depthwise [kh, kw, C, 1] -> [C, 1, kh, kw];
fc [in, out] -> [out, in]; peepholes [H, W, C] -> one slot of our (3, C, H, W) (order i, f, o).
Non-trainable constants the reference also saves (``memory_decay`` = 0 of the nodes without a time-decay cell,
the decoders' fixed softmax betas = 1 and threshold 0.9) are checked against their value when present and not
required. ``global_step`` and optimizer slots (``*/Momentum``) are ignored. Every other missing, extra or
misshaped variable is an error naming it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .tf_checkpoint import list_variables, read_checkpoint

from convrnn.data.pretrained_catalog import BASE_URL, FILES, PREFIX, RELEASED, SOURCES, checkpoint_urls  # noqa: F401

IGNORED_SUFFIXES = ("/Momentum",)
IGNORED = ("global_step",)


@dataclass(frozen=True)
class Target:
    tf_name: str
    param: str            # our state_dict key
    layout: str           # conv | depthwise | fc | vector | scalar | peephole
    slot: int = 0         # peephole: index in our (3, C, H, W) tensor


def tf_shape(layout: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The TF variable shape for our parameter shape."""
    if layout == "conv":
        o, i, kh, kw = shape
        return (kh, kw, i, o)
    if layout == "depthwise":
        c, _, kh, kw = shape
        return (kh, kw, c, 1)
    if layout == "fc":
        return (shape[1], shape[0])
    if layout == "vector":
        return tuple(shape)
    if layout == "scalar":
        return (1,)
    if layout == "peephole":
        _, c, h, w = shape
        return (h, w, c)
    raise ValueError(layout)


def to_torch(layout: str, a: np.ndarray) -> np.ndarray:
    if layout == "conv":
        return a.transpose(3, 2, 0, 1)
    if layout == "depthwise":
        return a.transpose(2, 3, 0, 1)
    if layout == "fc":
        return a.T
    if layout == "peephole":
        return a.transpose(2, 0, 1)
    return a


class _Names:
    """Our state-dict key of a module's parameter."""

    def __init__(self, model: nn.Module):
        self.names = {id(m): n for n, m in model.named_modules()}

    def conv(self, m: nn.Module) -> nn.Conv2d:
        if isinstance(m, nn.Sequential):    # ``cells.base.conv``: (ZeroPad2d, Conv2d) for even kernels
            m = m[-1]
        if not isinstance(m, nn.Conv2d):
            raise TypeError(type(m).__name__)
        return m

    def of(self, m: nn.Module, attr: str) -> str:
        return f"{self.names[id(m)]}.{attr}"


def _conv_targets(nm: _Names, m, scope: str, weight: str = "weights", bias: str | None = "bias") -> list[Target]:
    c = nm.conv(m)
    out = [Target(f"{scope}/{weight}", nm.of(c, "weight"), "conv")]
    if c.bias is not None:
        if bias is None:
            raise ValueError(f"{nm.of(c, 'bias')}: the reference has no bias here ({scope})")
        out.append(Target(f"{scope}/{bias}", nm.of(c, "bias"), "vector"))
    return out


def _flat_conv(nm: _Names, m, scope: str, stem: str) -> list[Target]:
    """A non-separable median-cell conv: ``<scope>/<stem>_weights`` (+ ``<stem>_bias``)."""
    return _conv_targets(nm, m, scope, f"{stem}_weights", f"{stem}_bias")


def _ds_targets(nm: _Names, m: nn.Sequential, scope: str) -> list[Target]:
    """``cell_utils._ds_conv``: ``<scope>/{depthwise_weights, pointwise_weights, bias}``."""
    dw, pw = nm.conv(m[0]), nm.conv(m[1])
    out = [Target(f"{scope}/depthwise_weights", nm.of(dw, "weight"), "depthwise"),
           Target(f"{scope}/pointwise_weights", nm.of(pw, "weight"), "conv")]
    if pw.bias is not None:
        out.append(Target(f"{scope}/bias", nm.of(pw, "bias"), "vector"))
    return out


def _norm_targets(nm: _Names, m, scope: str) -> list[Target]:
    if isinstance(m, nn.Identity):
        return []
    return [Target(f"{scope}/gamma", nm.of(m, "weight"), "vector"), Target(f"{scope}/beta", nm.of(m, "bias"), "vector")]


def _rgc_targets(nm: _Names, cell, s: str, median: bool) -> list[Target]:
    k = cell.cfg
    base = f"{s}/ReciprocalGateCell"
    out: list[Target] = []
    if cell.norm_h is not None and not isinstance(cell.norm_h, nn.Identity):
        raise ValueError(f"{nm.names[id(cell)]}: layer_norm RGCs were not released (no TF names mapped)")
    if cell.conv_fb is not None:
        entry = k["feedback_entry"]
        scope = f"{base}/{entry}"
        if k["feedback_depth_separable"]:
            out += _ds_targets(nm, cell.conv_fb, f"{scope}/feedback")
        elif median:
            out += _flat_conv(nm, cell.conv_fb, scope, f"feedback_to_{entry}")
        else:
            out += _conv_targets(nm, cell.conv_fb, f"{scope}/feedback")
    if median:
        if cell.conv_io is not None:
            out += _flat_conv(nm, cell.conv_io, f"{base}/out", "input_to_out")
        out += (_ds_targets(nm, cell.tau_h, f"{base}/out/tau") if k["tau_depth_separable"]
                else _flat_conv(nm, cell.tau_h, f"{base}/out", "out_to_out"))
        if cell.use_cell:
            if cell.conv_ff is not None:
                out += _flat_conv(nm, cell.conv_ff, f"{base}/cell", "input_to_cell")
            if cell.conv_res_cell is not None:
                out += _flat_conv(nm, cell.conv_res_cell, f"{base}/cell", "residual_to_cell")
            out += (_ds_targets(nm, cell.tau_c, f"{base}/cell/tau") if k["tau_depth_separable"]
                    else _flat_conv(nm, cell.tau_c, f"{base}/cell", "cell_to_cell"))
            out += (_ds_targets(nm, cell.gate_c, f"{base}/cell/out_to_cell") if k["gate_depth_separable"]
                    else _flat_conv(nm, cell.gate_c, f"{base}/cell", "out_to_cell"))
            if cell.gate_h is not None:
                out += (_ds_targets(nm, cell.gate_h, f"{base}/out/gate") if k["gate_depth_separable"]
                        else _flat_conv(nm, cell.gate_h, f"{base}/out", "cell_to_out"))
            if cell.conv_c_out is not None:
                raise ValueError(f"{nm.names[id(cell)]}: cell_to_out RGCs were not released (no TF names mapped)")
        if cell.conv_res_gate is not None:
            out += _conv_targets(nm, cell.conv_res_gate, f"{base}/out", "residual_to_out_gate_weights", None)
        if cell.proj is not None:
            out.append(Target(f"{base}/out/residual_add_weights", nm.of(cell.proj, "weight"), "conv"))
        return out
    # the 2018 cell (cells.ReciprocalGateCell): every conv through ``_conv``/``_ds_conv`` under its own scope
    if cell.conv_io is not None:
        out += _flat_conv(nm, cell.conv_io, f"{base}/out", "input_to_out")
    if k["tau_depth_separable"] or k["gate_depth_separable"]:
        raise ValueError(f"{nm.names[id(cell)]}: depth-separable 2018 RGCs were not released (no TF names mapped)")
    out += _conv_targets(nm, cell.tau_h, f"{base}/out/tau")
    if cell.use_cell:
        if cell.conv_ff is not None:
            out += _conv_targets(nm, cell.conv_ff, f"{base}/cell/input_to_cell")
        if cell.conv_res_cell is not None:
            out += _conv_targets(nm, cell.conv_res_cell, f"{base}/cell/res_to_cell")
        out += _conv_targets(nm, cell.tau_c, f"{base}/cell/tau")
        out += _conv_targets(nm, cell.gate_c, f"{base}/cell/gate")
        if cell.gate_h is not None:
            out += _conv_targets(nm, cell.gate_h, f"{base}/out/gate")
        if cell.conv_c_out is not None:
            out += _conv_targets(nm, cell.conv_c_out, f"{base}/out/gate")
    if cell.conv_res_gate is not None:
        out += _conv_targets(nm, cell.conv_res_gate, f"{base}/out/residual_to_out_gate")
    if cell.proj is not None:
        out.append(Target(f"{base}/out/res_add/residual_add_weights", nm.of(cell.proj, "weight"), "conv"))
    return out


def _cell_targets(nm: _Names, node, s: str, n_layers: int) -> tuple[list[Target], dict[str, float]]:
    cell = node.cell
    kind = cell.cell_name
    consts: dict[str, float] = {}
    if kind == "rgc":
        return _rgc_targets(nm, cell, s, median=n_layers == 11), consts
    if kind == "timedecay":
        return [Target(f"{s}/memory_decay", nm.of(cell, "decay"), "scalar")], consts
    if kind == "ugrnn":
        return _conv_targets(nm, cell.conv, f"{s}/ConvUGRNNCell"), consts
    if kind == "intersectionrnn":
        return _conv_targets(nm, cell.conv, f"{s}/ConvIntersectionRNNCell"), consts
    if kind == "gru":
        return (_conv_targets(nm, cell.gates, f"{s}/ConvGRUCell/gates")
                + _conv_targets(nm, cell.cand, f"{s}/ConvGRUCell/candidates")), consts
    if kind == "simplernn":
        b = f"{s}/ConvNormBasicCell"
        return (_conv_targets(nm, cell.conv_x, f"{b}/i") + _conv_targets(nm, cell.conv_h, f"{b}/s")
                + _norm_targets(nm, cell.norm, f"{b}/layer_norm")), consts
    if kind == "lstm":
        b = f"{s}/ConvLSTMCell"
        out = _conv_targets(nm, cell.conv, b)
        for norm, scope in zip(cell.gate_norms, ("input", "transform", "forget", "output")):
            out += _norm_targets(nm, norm, f"{b}/{scope}")
        out += _norm_targets(nm, cell.cell_norm, f"{b}/state")
        if cell.peep is not None:
            if cell.peep.shape[-2:] == (1, 1) and cell.cfg["peephole"] == "channel":
                raise ValueError(f"{nm.of(cell, 'peep')}: per-channel peepholes are ours; the reference's are per "
                                 "position (peephole: position)")
            for slot, gate in enumerate("ifo"):
                out.append(Target(f"{b}/peepholes/w_{gate}_diag", nm.of(cell, "peep"), "peephole", slot))
        return out, consts
    raise ValueError(f"{nm.names[id(cell)]}: no TF variable names known for cell {kind!r}")


def variable_map(model: nn.Module) -> tuple[list[Target], dict[str, float]]:
    """(targets, constants): every trainable TF variable of the reference model with our parameter for it, and
    the non-trainable TF constants {name: value} the reference saves beside them."""
    from .graph import ConvRNN

    if not isinstance(model, ConvRNN):
        raise ValueError(f"pretrained weights exist only for the ConvRNN zoo models, not {type(model).__name__}")
    nm = _Names(model)
    n_layers = len(model.layer_names)
    targets: list[Target] = []
    consts: dict[str, float] = {}
    for i, node in enumerate(model.nodes):
        name = node.spec.name
        s = f"tnn_model/{name}"
        if model.fb_src[i] and not node.fb_to_cell:
            raise ValueError(f"{name}: feedback into a non-RGC node has no released TF counterpart")
        if len(node.extra):
            raise ValueError(f"{name}: extra convs (ff_deep controls) have no released TF counterpart")
        targets += _conv_targets(nm, node.conv, f"{s}/pre_0", "weights_basenet")
        if node.cell is not None:
            t, c = _cell_targets(nm, node, s, n_layers)
            targets += t
            consts.update(c)
        if node.cell is None or node.cell.cell_name != "timedecay":
            consts[f"{s}/memory_decay"] = 0.0   # GenFuncCell's non-trainable memory (tnn wrappers create none)
        if node.spec.block:
            targets += _conv_targets(nm, node.post, f"{s}/post_0")
            if node.proj is not None:
                targets.append(Target(f"{s}/post_1/residual_add_weights", nm.of(node.proj, "weight"), "conv"))
    head = model.head.layer
    scope = "tnn_model/imnetds/pre_3" if model.head.kind == "fc" else "tnn_model/imnetds/pre_1"
    targets.append(Target(f"{scope}/weights", nm.of(head, "weight"), "fc" if model.head.kind == "fc" else "conv"))
    targets.append(Target(f"{scope}/bias", nm.of(head, "bias"), "vector"))
    consts["tnn_model/imnetds/memory_decay"] = 0.0
    if model.readout in ("max_conf", "thresh"):
        consts["tnn_model/probs/softmax_beta"] = 1.0   # compute_alpha's fixed betas
        consts["tnn_model/alpha/softmax_beta"] = 1.0
    if model.readout == "max_conf":
        targets.append(Target("tnn_model/normalize/softmax_beta", "softmax_beta", "vector"))
    if model.readout == "thresh":
        consts["tnn_model/normalize/softmax_beta"] = 1.0
        consts["tnn_model/decoder_threshold"] = float(model.threshold.item())
    return targets, consts


def _ignored(name: str) -> bool:
    return name in IGNORED or name.endswith(IGNORED_SUFFIXES)


def convert(model: nn.Module, prefix: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` from the TF checkpoint ``prefix`` (every tensor crc32c-checked).

    Raises ``ValueError`` listing every missing, extra or misshaped variable by name (and our parameter for it).
    """
    targets, consts = variable_map(model)
    state = model.state_dict()
    shapes = list_variables(prefix)
    errors = []
    mapped = {t.param for t in targets}
    unmapped = [k for k in state if k not in mapped and k != "threshold"]
    if unmapped:
        errors += [f"{k}: no reference variable maps to this parameter" for k in unmapped]
    expected: dict[str, tuple[int, ...]] = {}
    for t in targets:
        expected[t.tf_name] = tf_shape(t.layout, tuple(state[t.param].shape))
    for name, shape in sorted(expected.items()):
        if name not in shapes:
            errors.append(f"{name}: missing from the checkpoint (for {next(t.param for t in targets if t.tf_name == name)})")
        elif tuple(shapes[name]) != shape:
            errors.append(f"{name}: shape {list(shapes[name])} in the checkpoint, the model needs {list(shape)}")
    for name, shape in sorted(shapes.items()):
        if name in expected or _ignored(name):
            continue
        if name in consts:
            if int(np.prod(shape)) != 1:
                errors.append(f"{name}: shape {list(shape)} in the checkpoint, the model needs [1]")
            continue
        errors.append(f"{name}: in the checkpoint but not in the model {getattr(model, 'name', '')!r}")
    if errors:
        raise ValueError(f"{prefix}: checkpoint does not match the model:\n  " + "\n  ".join(errors))
    wanted = list(expected) + [c for c in consts if c in shapes]
    arrays = read_checkpoint(prefix, wanted)
    bad = [f"{c}: {float(arrays[c].reshape(-1)[0])} in the checkpoint, the model fixes {v}"
           for c, v in consts.items() if c in arrays and not np.isclose(float(arrays[c].reshape(-1)[0]), v)]
    if bad:
        raise ValueError(f"{prefix}: checkpoint does not match the model:\n  " + "\n  ".join(bad))
    out = {k: v.clone() for k, v in state.items()}
    for t in targets:
        a = to_torch(t.layout, arrays[t.tf_name])
        ref = out[t.param]
        if t.layout == "peephole":
            ref[t.slot] = torch.from_numpy(np.ascontiguousarray(a)).to(ref.dtype)
        else:
            out[t.param] = torch.from_numpy(np.ascontiguousarray(a)).to(ref.dtype).reshape(ref.shape)
    return out


def load_pretrained(model: nn.Module, prefix: str | os.PathLike) -> nn.Module:
    model.load_state_dict(convert(model, prefix), strict=True)
    return model
