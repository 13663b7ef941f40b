"""Graph of conv nodes unrolled in time exactly as the reference ``main.unroll`` (docs/references.md, Models).

Biological unrolling: every edge costs one step. At step t each node reads its predecessors'
outputs from step t-1 (feed-forward and feedback alike); ``conv1`` reads the input frame of step t;
at t=0 the predecessors' outputs are zeros. So conv_k first sees the image at t = k-1, the readout
``imnetds`` (node N) at t = N-1, and a feedback edge j->i delivers at the next step.
The frame is the image for t < image_off and a constant ``blank_value`` frame afterwards.

Harbor (input combination): feedback maps are bilinearly resized (align_corners=True, as TF's
resize_images) to the node's feed-forward input size and concatenated on channels. Nodes whose cell
``takes_feedback`` (the RGC) hand it to the cell; other nodes concatenate it onto the pre-memory conv input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cells import cell_class
from .tf_init import init_conv_
from .weight_decay import conv_decays, unregularised

READOUTS = ("last", "mean", "max_conf", "thresh")
THRESHOLD = 0.9   # the reference ``thresh`` decoder's fixed confidence threshold


@dataclass
class NodeSpec:
    """One conv node: harbor -> conv (+act) -> [cell] -> [extra convs] -> [basic-block tail] -> [maxpool]."""

    name: str
    out: int                      # pre-memory conv depth
    ksize: int = 3
    stride: int = 1
    act: bool = True              # elu after the pre-memory conv
    pool: bool = False            # 2x2/2 'SAME' max pool after the node
    cell: str | None = None       # registered cell name
    cell_cfg: dict = field(default_factory=dict)
    block: bool = False           # ResNet basic-block tail: conv3x3 -> + res (1x1 proj) -> elu
    extra_convs: int = 0          # 3x3 conv+elu layers after the cell (the "deeper" FF control)


@dataclass
class ModelSpec:
    nodes: list[NodeSpec]
    readout_kind: str = "fc"      # "fc": GAP -> linear; "conv": 2x2 VALID conv -> GAP (shallow)
    edges: list[tuple[str, str]] = field(default_factory=list)   # long-range feedback (src deeper than dst)
    times: int = 17
    image_off: int = 12
    blank_value: float = 0.5      # gray in normalised space (reference make_movie)
    readout: str = "last"
    num_classes: int = 1000
    image_size: int = 224         # the size the cells' map-dependent parameters are built for (cells.py)
    static: bool = False          # trained as a static map (minimal unroll): compared with the brain like an FF net


class Unrolled(NamedTuple):
    logits: Tensor                 # (T, B, K)
    features: dict[str, Tensor]    # name -> (T, B, C, H, W), only recorded layers


def _resize(x: Tensor, size) -> Tensor:
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def _ff_init_(layer: nn.Conv2d) -> nn.Conv2d:
    """The reference's feed-forward kernels: TF variance_scaling (scale 1, fan_in, truncated normal), zero bias."""
    return init_conv_(layer, 1.0)


def _tf_same_pad(x: Tensor, k: int, stride: int) -> Tensor:
    """TF 'SAME' for a strided conv: total padding max((ceil(n/s)-1)*s + k - n, 0), the extra pixel after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _cell_hw(spec: NodeSpec, h: int, w: int) -> tuple[int, int]:
    """Size of the pre-memory conv output (the cell's state map) for an input map of (h, w)."""
    return (math.ceil(h / spec.stride), math.ceil(w / spec.stride))


def _half(n: int) -> int:
    return math.ceil(n / 2)


class ConvNode(nn.Module):
    def __init__(self, spec: NodeSpec, in_ch: int, fb_ch: int, map_hw: tuple[int, int] | None = None):
        super().__init__()
        self.spec = spec
        cell_cls = cell_class(spec.cell, spec.name) if spec.cell is not None else None
        self.fb_to_cell = cell_cls is not None and cell_cls.takes_feedback
        conv_in = in_ch + (0 if self.fb_to_cell else fb_ch)
        # strided convs pad TF-'SAME' in forward: (2, 3) for conv1 at 224 px, where a symmetric 3 shifts the grid
        pad = "same" if spec.stride == 1 else 0
        self.conv = _ff_init_(nn.Conv2d(conv_in, spec.out, spec.ksize, stride=spec.stride, padding=pad))
        # the cell's keyword contract (``Cell`` docstring): its input is this node's pre-memory conv output, its
        # bypass source the node's feed-forward input
        self.cell = (cell_cls(in_ch=spec.out, res_ch=in_ch, fb_ch=fb_ch if self.fb_to_cell else 0, map_hw=map_hw,
                              **spec.cell_cfg) if cell_cls else None)
        ch = self.cell.out_ch if self.cell is not None else spec.out
        # the deeper FF control's added layers have no reference code; at its scale-1 init the signal would shrink
        # ~0.65x per conv+elu and vanish over the 8 added layers (chance-level training), so they keep the variance
        # (scale 2, He) instead
        self.extra = nn.ModuleList(init_conv_(nn.Conv2d(ch, ch, 3, padding="same"), 2.0)
                                   for _ in range(spec.extra_convs))
        if spec.block:
            self.post = _ff_init_(nn.Conv2d(ch, ch, 3, padding="same"))
            # residual_add's 1x1 projection: TF Glorot, no bias, created without a regulariser
            self.proj = unregularised(init_conv_(nn.Conv2d(in_ch, ch, 1, bias=False))) if in_ch != ch else None
        self.out_ch = ch

    def weight_decays(self, default: float) -> dict[str, float]:
        """Per-parameter L2 coefficients: feed-forward convs ``default``, the cell its own, projections 0."""
        out = conv_decays(self, default, skip=self.cell)
        if self.cell is not None:
            out.update({f"cell.{k}": v for k, v in self.cell.weight_decays(default).items()})
        return out

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        h, w = _cell_hw(self.spec, h, w)
        return (_half(h), _half(w)) if self.spec.pool else (h, w)

    def forward(self, ff: Tensor, fbs: Sequence[Tensor], state):
        fb = torch.cat([_resize(f, ff.shape[-2:]) for f in fbs], 1) if fbs else None
        x = torch.cat([ff, fb], 1) if (fb is not None and not self.fb_to_cell) else ff
        if self.spec.stride != 1:
            x = _tf_same_pad(x, self.spec.ksize, self.spec.stride)
        x = self.conv(x)
        if self.spec.act:
            x = F.elu(x)
        if self.cell is not None:
            x, state = self.cell(x, state, ff, fb if self.fb_to_cell else None)
        for c in self.extra:
            x = F.elu(c(x))
        if self.spec.block:
            x = F.elu(self.post(x) + (self.proj(ff) if self.proj is not None else ff))
        if self.spec.pool:
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        return x, state


class Readout(nn.Module):
    """``imnetds``: logits (B, K) from the last conv node."""

    def __init__(self, kind: str, in_ch: int, num_classes: int):
        super().__init__()
        if kind not in ("fc", "conv"):
            raise ValueError(f"readout_kind must be 'fc' or 'conv', got {kind!r}")
        self.kind = kind
        self.layer = nn.Linear(in_ch, num_classes) if kind == "fc" else nn.Conv2d(in_ch, num_classes, 2)
        # reference imnetds: kernel N(0, 0.01); fc bias 1.0 (model_tool.fc's default), conv bias 0
        nn.init.normal_(self.layer.weight, std=0.01)
        nn.init.constant_(self.layer.bias, 1.0 if kind == "fc" else 0.0)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "conv":
            # 2x2 VALID conv; maps smaller than 2x2 (tiny inputs) are zero-padded bottom/right first
            ph, pw = max(0, 2 - x.shape[-2]), max(0, 2 - x.shape[-1])
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph))
            x = self.layer(x)
            return x.mean((-2, -1))
        return self.layer(x.mean((-2, -1)))


class ReadsSpec:
    """The fields a model is run and read out with, read from its ``spec`` (a ``ModelSpec`` or a ResNet's), never
    copied: a model built from a spec unrolls for the spec's ``times``."""

    times = property(lambda self: self.spec.times, doc="steps of ``unroll`` (and of ``forward``)")
    image_off = property(lambda self: self.spec.image_off, doc="the first step showing the blank frame")
    blank_value = property(lambda self: self.spec.blank_value, doc="the blank frame's value")
    readout = property(lambda self: self.spec.readout, doc="how ``forward`` reads the logits over time")
    num_classes = property(lambda self: self.spec.num_classes, doc="the readout's outputs")


class ConvRNN(ReadsSpec, nn.Module):
    """A biologically unrolled conv graph; see the module docstring and docs/models.md."""

    def __init__(self, spec: ModelSpec, name: str = "convrnn"):
        super().__init__()
        self.spec, self.name = spec, name
        names = [n.name for n in spec.nodes]
        self.layer_names = names + ["imnetds"]
        index = {n: i for i, n in enumerate(names)}
        # reference harbor iterates predecessors in sorted() name order: keep that concat layout
        self.fb_src = [[index[s] for s in sorted(s for s, d in spec.edges if d == n)] for n in names]
        for i, srcs in enumerate(self.fb_src):
            if any(j <= i for j in srcs):
                raise ValueError(f"edges: feedback into {names[i]} must come from a deeper node")
        depth = self._node_depths(spec)
        self.nodes = nn.ModuleList()
        hw = (spec.image_size, spec.image_size)
        for i, ns in enumerate(spec.nodes):
            in_ch = 3 if i == 0 else depth[i - 1]
            fb_ch = sum(depth[j] for j in self.fb_src[i])
            node = ConvNode(ns, in_ch, fb_ch, _cell_hw(ns, *hw))
            self.nodes.append(node)
            hw = node.out_hw(*hw)
        self.head = Readout(spec.readout_kind, depth[-1], spec.num_classes)
        if spec.readout == "max_conf":   # the reference's one trainable softmax beta (TF random_uniform init)
            self.softmax_beta = nn.Parameter(torch.rand(1))
        if spec.readout == "thresh":     # kept in the state dict, as the reference's non-trainable variable
            self.register_buffer("threshold", torch.tensor([THRESHOLD]))

    @staticmethod
    def _node_depths(spec: ModelSpec) -> list[int]:
        return [cell_class(ns.cell, ns.name).output_depth(ns.out, ns.cell_cfg) if ns.cell else ns.out
                for ns in spec.nodes]

    def layer_shapes(self, image_size: int | tuple[int, int]) -> dict[str, tuple[int, int, int]]:
        """Output (C, H, W) of every recordable layer for a given input size (no compute)."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        shapes = {}
        for node in self.nodes:
            h, w = node.out_hw(h, w)
            shapes[node.spec.name] = (node.out_ch, h, w)
        shapes["imnetds"] = (self.num_classes, 1, 1)
        return shapes

    def unit_shapes(self, image_size: int | tuple[int, int], where: str = "output") -> dict[str, tuple[int, int, int]]:
        """(C, H, W) of every node whose activations count as units (``count_units``): the conv nodes and the
        readout, at the node's output (``"output"``, after its max-pool) or before its max-pool (``"pre_pool"``)."""
        if where == "output":
            return self.layer_shapes(image_size)
        if where != "pre_pool":
            raise ValueError(f"where must be 'output' or 'pre_pool', got {where!r}")
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        shapes = {}
        for node in self.nodes:
            shapes[node.spec.name] = (node.out_ch, *_cell_hw(node.spec, h, w))
            h, w = node.out_hw(h, w)
        shapes["imnetds"] = (self.num_classes, 1, 1)
        return shapes

    @property
    def static(self) -> bool:
        """Compared with the brain through its response to the image, not through time: a graph with no cell and no
        feedback edge (its layers' responses do not change once the image has reached them), or a model trained as
        a static map (the minimal-unroll control)."""
        return self.spec.static or (not self.spec.edges and all(n.cell is None for n in self.spec.nodes))

    def static_response(self, x: Tensor, record: Sequence[str] = ()) -> Unrolled:
        """The recorded layers' response to ``x`` shown for as long as the model was trained to see it (its ``times``
        steps with the image on; at least one step per node, so that every layer has received the image), read at
        the last step: one "step" (T=1). For a feed-forward graph this is its one-pass response."""
        T = max(self.times, len(self.layer_names))
        out = self.unroll(x, times=T, image_off=T, record=record)
        return Unrolled(out.logits[-1:], {k: v[-1:] for k, v in out.features.items()})

    def unroll(self, x: Tensor, times: int | None = None, image_off: int | None = None,
               record: Sequence[str] = ()) -> Unrolled:
        T = self.times if times is None else times
        off = self.image_off if image_off is None else image_off
        if T < 1:
            raise ValueError(f"times must be >= 1, got {T}")
        if off < 0:
            raise ValueError(f"image_off must be >= 0, got {off}")
        record = list(record)
        unknown = [r for r in record if r not in self.layer_names]
        if unknown:
            raise ValueError(f"record: unknown layer(s) {unknown}; layers: {self.layer_names}")
        B = x.shape[0]
        shapes = self.layer_shapes(tuple(x.shape[-2:]))
        # zero outputs before t=0 in the input's memory format (NHWC under channels_last training)
        fmt = torch.channels_last if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last) else torch.contiguous_format
        prev = [x.new_zeros(B, *shapes[n.spec.name]).contiguous(memory_format=fmt) for n in self.nodes]
        states = [None] * len(self.nodes)
        rec_idx = {self.layer_names.index(r): r for r in record if r != "imnetds"}
        feats: dict[str, list[Tensor]] = {r: [] for r in record}
        blank = None
        logits = []
        for t in range(T):
            if t < off:
                frame = x
            else:
                if blank is None:
                    blank = torch.full_like(x, self.blank_value)
                frame = blank
            new = []
            for i, node in enumerate(self.nodes):
                ff = frame if i == 0 else prev[i - 1]
                out, states[i] = node(ff, [prev[j] for j in self.fb_src[i]], states[i])
                new.append(out)
            logit = self.head(prev[-1])   # imnetds reads the last conv's output from t-1
            prev = new
            logits.append(logit)
            for i, r in rec_idx.items():
                feats[r].append(new[i])
            if "imnetds" in feats:
                feats["imnetds"].append(logit[:, :, None, None])
        return Unrolled(torch.stack(logits), {r: torch.stack(v) for r, v in feats.items()})

    def read(self, logits: Tensor) -> Tensor:
        """(T, B, K) -> (B, K) with the configured readout (``docs/models.md``, Readouts).

        last: logits at T-1. mean: mean over t >= N-1, the first image-driven step. The reference's temporal
        decoders look at t in [N, T) (N = number of nodes with the readout): max_conf = the logits at the step
        whose softmax(beta * logits) is most confident; thresh = the first step whose max softmax >= 0.9, else
        the most confident one. Ties go to the earliest step, as TF's argmax.
        """
        if self.readout == "last":
            return logits[-1]
        n = len(self.layer_names)
        start = n - 1 if self.readout == "mean" else n
        if logits.shape[0] <= start:
            raise ValueError(f"readout {self.readout!r} needs times > {start}, got {logits.shape[0]}")
        window = logits[start:]
        if self.readout == "mean":
            return window.mean(0)
        beta = self.softmax_beta if self.readout == "max_conf" else 1.0
        conf = torch.softmax(beta * window, -1).amax(-1)              # (T', B)
        t = conf.argmax(0)
        if self.readout == "thresh":
            crossed = conf >= self.threshold
            first = crossed.float().argmax(0)                           # first True (argmax returns the first max)
            t = torch.where(crossed.any(0), first, t)
        return window[t, torch.arange(window.shape[1], device=window.device)]

    def weight_decays(self, default: float) -> dict[str, float]:
        """L2 coefficient of every parameter, as the reference's regularisers (docs/models.md, Training recipe):
        feed-forward convs and the readout ``default``; each cell its own (``Cell.weight_decays``); residual
        projections, norms and the decoder's beta 0."""
        out = {}
        for i, node in enumerate(self.nodes):
            out.update({f"nodes.{i}.{k}": v for k, v in node.weight_decays(default).items()})
        out.update({f"head.{k}": default for k, _ in self.head.named_parameters()})
        if hasattr(self, "softmax_beta"):
            out["softmax_beta"] = 0.0
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.read(self.unroll(x).logits)
