"""Reciprocal Gated Cell (RGC), general form (Nayebi et al. 2018, §2.1; docs/references.md, Models).

State = (c, h): a cell memory c (``cell_depth`` channels) and the output h (out depth = the node's
pre-memory conv depth). With x = input_activation(pre-conv output [+ feedback if entry 'input']):

    c' = f_c( (tau_offset + tau_multiplier*s_tau(Conv_tau(c)))  * c + (gate_offset + gate_multiplier*s_g(Conv_g(h->C))) * cin )
    h' = f_o( (tau_offset + tau_multiplier*s_tau(Conv_tau(h)))  * h + (gate_offset + gate_multiplier*s_g(Conv_g(c->D))) * hin )

    cin = [input_to_cell] Conv_ff(x) + [cell_residual] Conv_ff(res) + [entry 'cell'] fb
    hin = ([input_to_out] Conv_io(x) else x) + [cell_to_out] Conv(c) + [out_residual] res (1x1 proj if depths differ)
          + [entry 'out'] fb,      fb = feedback_activation(Conv_fb(resized, concatenated feedback))

The gates read the *other* state (c gates h, h gates c): the "reciprocal" part. With offset 1 and
multiplier -1 a gate is 1 - sigmoid(.), so a very negative gate pre-activation opens the bypass:
from zero state h' = f_o(hin) (tested).

Reference quirks kept (so parameter counts match the released checkpoints):
(a) ``tau_bias``/``gate_bias`` are constants added to the gate pre-activation only for
    non-depth-separable gate convs (the median cell's DS biases 4.147/2.777 are unused);
(b) ``conv_bias`` (extra key): the 2018 TNN cell (``rgc_shallow``) creates no conv biases; the
    median cell does. Depth-separable convs always end in a biased 1x1 pointwise conv.
(c) kernels larger than the state map (``map_hw``) are clipped to it, per axis, where the reference clips
    (``clip_kernels``): "separable" (median cell) = depthwise kernels only (``_ds_conv``; its plain convs are
    bare ``get_variable``s); "temporal" (2018 cell) = also the plain tau / gate / residual-gate convs
    (``_apply_temporal_op`` -> ``_conv``). At 128 px the 4x4 maps of conv8-10 get 4x4 depthwise gates, so models
    built at another image size have other parameters (at 224 px nothing is clipped).
(d) with ``gate_filter_size == 0`` there is no cell memory, and with ``cell_to_out`` the cell feeds h's
    input instead of its gate: in both cases the out gate's pre-activation is the constant 0 (no conv).
Initialisation and weight decay as the reference: cell kernels Glorot-uniform, or TF variance scaling with
``kernel_init_scale`` (median cell: 0.6393, TF fans, so depthwise kernels count k*k*C inputs); all biases 0;
the residual projection Glorot. ``weight_decay`` applies to kernels only (biases, depth-separable biases and
the projection are unregularised). ``layer_norm``: GroupNorm(1) on the pre-activation of c' and of h'.

In the backbones (``backbones``): the shallow model has the 2018 cell in conv3-5 after an elu pre-conv; the
intermediate model is the searched median model: plain conv nodes (no basic blocks), the median cell in conv4-10
after a pre-conv without activation (the cell applies elu, ``input_activation``), and the feedback ``EDGES_5``.
"""
from __future__ import annotations

import torch
from torch import nn

from convrnn.checks import check_int

from ..tf_init import init_conv_
from ..weight_decay import unregularised
from .base import Cell, Placement, activation, register_cell

GATE_NONLINEARITIES = ("sigmoid", "tanh")
CLIP_KERNELS = ("separable", "temporal")
FEEDBACK_ENTRIES = ("input", "cell", "out")

#: NeurIPS 2018 hand-designed RGC (CR ``rgc_shallow.json``); cell_depth None = the node's out depth.
RGC_2018 = dict(
    cell_depth=None, tau_filter_size=3, gate_filter_size=3, ff_filter_size=3,
    tau_depth_separable=False, gate_depth_separable=False,
    tau_nonlinearity="sigmoid", gate_nonlinearity="sigmoid",
    tau_offset=1.0, tau_multiplier=-1.0, gate_offset=1.0, gate_multiplier=-1.0, tau_bias=0.0, gate_bias=0.0,
    input_to_cell=True, input_to_out=False, out_residual=False, cell_residual=False, cell_to_out=False,
    residual_to_out_gate=True, feedback_entry="out", feedback_filter_size=1, feedback_depth_separable=False,
    feedback_activation="identity", layer_norm=False, conv_bias=False,
    input_activation="identity", cell_activation="elu", out_activation="elu", clip_kernels="temporal",
)

#: Searched "median" RGC (CR ``median_rgcell_cfg.py`` + the feedback overrides of ``model_func.py``).
MEDIAN_RGC = dict(
    cell_depth=64, tau_filter_size=7, gate_filter_size=7, tau_depth_separable=True, gate_depth_separable=True,
    tau_nonlinearity="sigmoid", gate_nonlinearity="tanh",
    tau_offset=0.9219348, tau_multiplier=-0.9219348, gate_offset=0.7006567, gate_multiplier=-0.7006567,
    tau_bias=4.1473, gate_bias=2.7765, ff_filter_size=2, in_out_filter_size=3,
    input_to_cell=True, input_to_out=True, out_residual=True, cell_residual=False, cell_to_out=False,
    residual_to_out_gate=False, feedback_entry="out", feedback_filter_size=1, feedback_depth_separable=False,
    feedback_activation="identity", layer_norm=False, conv_bias=True,
    input_activation="elu", cell_activation="elu", out_activation="elu",
    kernel_init_scale=0.6393378386273998, weight_decay=0.0002033999204146308, clip_kernels="separable",
)

#: The median model's long-range feedback (CR ``model_func.py``, ``edges_5``): conv8->5, 9->6, 10->7, 7->6, 10->9.
EDGES_5 = (("conv8", "conv5"), ("conv9", "conv6"), ("conv10", "conv7"), ("conv7", "conv6"), ("conv10", "conv9"))


@register_cell("rgc")
class ReciprocalGatedCell(Cell):
    takes_feedback = True
    decay_biases = False
    defaults = {**RGC_2018, "in_out_filter_size": 3}
    channel_keys = ("cell_depth",)   # the out depth is the node's (its pre-conv depth, scaled with the node)
    backbones = {
        "shallow": Placement(configs=RGC_2018, pre_activation=True),
        "intermediate": Placement(configs=MEDIAN_RGC, pre_activation=False, blocks=False, edges=EDGES_5),
    }

    def __init__(self, **kw):
        super().__init__(**kw)
        k, in_ch, res_ch, fb_ch = self.cfg, self.in_ch, self.res_ch, self.fb_ch
        for key in ("tau_nonlinearity", "gate_nonlinearity"):
            if k[key] not in GATE_NONLINEARITIES:
                raise ValueError(f"cell 'rgc' {key} must be one of {GATE_NONLINEARITIES}, got {k[key]!r}")
        if k["clip_kernels"] not in CLIP_KERNELS:
            raise ValueError(f"cell 'rgc' clip_kernels must be one of {CLIP_KERNELS}, got {k['clip_kernels']!r}")
        if k["feedback_entry"] not in FEEDBACK_ENTRIES:
            raise ValueError(f"cell 'rgc' feedback_entry must be one of {FEEDBACK_ENTRIES}, got {k['feedback_entry']!r}")
        for key in ("tau_filter_size", "ff_filter_size", "in_out_filter_size", "feedback_filter_size"):
            check_int(f"cell 'rgc' {key}", k[key], 1)
        check_int("cell 'rgc' gate_filter_size", k["gate_filter_size"], 0)
        self.f_in = activation(k["input_activation"], "cell 'rgc' input_activation")
        self.f_c = activation(k["cell_activation"], "cell 'rgc' cell_activation")
        self.f_o = activation(k["out_activation"], "cell 'rgc' out_activation")
        self.f_fb = activation(k["feedback_activation"], "cell 'rgc' feedback_activation")
        self.s_tau = activation(k["tau_nonlinearity"], "tau_nonlinearity")
        self.s_gate = activation(k["gate_nonlinearity"], "gate_nonlinearity")
        # quirk (a): the constant gate biases only exist on the non-separable branch
        self.tau_const = 0.0 if k["tau_depth_separable"] else float(k["tau_bias"])
        self.gate_const = 0.0 if k["gate_depth_separable"] else float(k["gate_bias"])

        D, bias = self.out_ch, k["conv_bias"]
        self.use_cell = k["gate_filter_size"] > 0
        C = self.cell_ch = D if k["cell_depth"] is None else int(k["cell_depth"])
        tk, gk, tds, gds = k["tau_filter_size"], k["gate_filter_size"], k["tau_depth_separable"], k["gate_depth_separable"]

        entry = k["feedback_entry"]
        if entry == "cell" and not self.use_cell:
            raise ValueError("cell 'rgc' feedback_entry='cell' needs a cell memory (gate_filter_size > 0)")
        fb_to = {"input": in_ch, "cell": C, "out": D}[entry]
        self.conv_fb = (self._tconv(fb_ch, fb_to, k["feedback_filter_size"], k["feedback_depth_separable"], True,
                                    temporal=False) if fb_ch else None)
        self.conv_io = self._conv(in_ch, D, k["in_out_filter_size"], bias) if k["input_to_out"] else None
        if not k["input_to_out"] and in_ch != D:
            raise ValueError(f"cell 'rgc': input depth {in_ch} != out depth {D} needs input_to_out=True")
        self.tau_h = self._tconv(D, D, tk, tds, bias)
        if self.use_cell:
            self.conv_ff = self._conv(in_ch, C, k["ff_filter_size"], bias) if k["input_to_cell"] else None
            self.conv_res_cell = self._conv(res_ch, C, k["ff_filter_size"], bias) if k["cell_residual"] else None
            self.tau_c = self._tconv(C, C, tk, tds, bias)
            self.gate_c = self._tconv(D, C, gk, gds, bias)
            # quirk (d): with cell_to_out the cell enters h's input and the out gate is 0
            self.gate_h = None if k["cell_to_out"] else self._tconv(C, D, gk, gds, bias)
            self.conv_c_out = self._conv(C, D, k["in_out_filter_size"], bias) if k["cell_to_out"] else None
            self.norm_c = nn.GroupNorm(1, C) if k["layer_norm"] else nn.Identity()
        else:
            self.gate_h = None
        self.conv_res_gate = (self._conv(res_ch, D, gk or tk, bias, clip=self.clip_temporal)
                              if k["residual_to_out_gate"] else None)
        # residual_add: 1x1 projection without bias when depths differ (TF Glorot), created without a regulariser
        self.proj = (unregularised(init_conv_(nn.Conv2d(res_ch, D, 1, bias=False)))
                     if k["out_residual"] and res_ch != D else None)
        self.norm_h = nn.GroupNorm(1, D) if k["layer_norm"] else nn.Identity()

    def _clip(self, k: int) -> tuple[int, int]:
        if self.map_hw is None:
            return k, k
        return min(k, self.map_hw[0]), min(k, self.map_hw[1])

    def _conv(self, i: int, o: int, ksize: int, bias: bool, groups: int = 1, clip: bool = False) -> nn.Module:
        return self.make_conv(i, o, self._clip(ksize) if clip else ksize, bias, groups)

    @property
    def clip_temporal(self) -> bool:
        return self.cfg["clip_kernels"] == "temporal"

    def _tconv(self, i: int, o: int, ksize: int, separable: bool, bias: bool, temporal: bool = True) -> nn.Module:
        """A tau / gate (temporal) conv, or the feedback conv (``temporal=False``)."""
        if separable:  # depthwise kxk (multiplier 1) + biased pointwise 1x1, as the reference _ds_conv
            return nn.Sequential(self._conv(i, i, ksize, False, groups=i, clip=True), self._conv(i, o, 1, True))
        return self._conv(i, o, ksize, bias, clip=temporal and self.clip_temporal)

    def tau_factor(self, pre: torch.Tensor) -> torch.Tensor:
        k = self.cfg
        return k["tau_offset"] + k["tau_multiplier"] * self.s_tau(pre + self.tau_const)

    def gate_factor(self, pre: torch.Tensor) -> torch.Tensor:
        k = self.cfg
        return k["gate_offset"] + k["gate_multiplier"] * self.s_gate(pre)

    def forward(self, x, state, res=None, fb=None):
        k = self.cfg
        if state is None:
            h = x.new_zeros(x.shape[0], self.out_ch, *x.shape[2:])
            c = x.new_zeros(x.shape[0], self.cell_ch, *x.shape[2:]) if self.use_cell else None
        else:
            c, h = state
        fbx = self.f_fb(self.conv_fb(fb)) if (fb is not None and self.conv_fb is not None) else None
        entry = k["feedback_entry"]
        if fbx is not None and entry == "input":
            x = x + fbx
        x = self.f_in(x)
        hin = self.conv_io(x) if self.conv_io is not None else x

        c_new = None
        if self.use_cell:
            cin = 0.0
            if self.conv_ff is not None:
                cin = cin + self.conv_ff(x)
            if self.conv_res_cell is not None:
                cin = cin + self.conv_res_cell(res)
            if fbx is not None and entry == "cell":
                cin = cin + fbx
            c_new = self.f_c(self.norm_c(self.tau_factor(self.tau_c(c)) * c
                                         + self.gate_factor(self.gate_c(h) + self.gate_const) * cin))
            if self.conv_c_out is not None:
                hin = hin + self.conv_c_out(c)
        # quirk (d): no out-gate conv -> a zero pre-activation, without the constant gate bias of the conv branch
        gh_pre = self.gate_h(c) + self.gate_const if self.gate_h is not None else torch.zeros_like(h)
        if self.conv_res_gate is not None:
            gh_pre = gh_pre + self.conv_res_gate(res)
        if k["out_residual"]:
            hin = hin + (self.proj(res) if self.proj is not None else res)
        if fbx is not None and entry == "out":
            hin = hin + fbx
        h_new = self.f_o(self.norm_h(self.tau_factor(self.tau_h(h)) * h + self.gate_factor(gh_pre) * hin))
        return h_new, (c_new, h_new)
