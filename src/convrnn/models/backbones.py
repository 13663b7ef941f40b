"""The two published backbones (docs/references.md, Models) as ``ModelSpec`` factories.

shallow (6 nodes, T=16): conv1 7x7/2 64, conv2 3x3 128, conv3-5 3x3 256/256/512, maxpool after
every conv; cells in conv3-5; readout = 2x2 VALID conv -> global average pool.

intermediate (11 nodes, T=17), cells in conv4-10:
- RGC ("median" model): plain conv nodes 64,128,128 | 128,128,256,256,256,512,512 (pools after
  conv1, 4, 6, 7, 10); the pre-memory conv of cell layers has no activation (the cell applies elu);
  long-range feedback = ``EDGES_5``.
- other cells: a ResNet-18-like basic block per node, depths 64,64,64 | 128,128,256,256,512,512,512,
  pools after conv1, 4, 6, 7, 10; no long-range feedback (the reference adds edges only to RGC).
Both readouts of intermediate: global average pool -> fc.
"""
from __future__ import annotations

import copy

from .graph import ModelSpec, NodeSpec
from .rgc import MEDIAN_RGC, RGC_2018

EDGES_5 = [("conv8", "conv5"), ("conv9", "conv6"), ("conv10", "conv7"), ("conv7", "conv6"), ("conv10", "conv9")]

SHALLOW_DEPTHS = (64, 128, 256, 256, 512)
SHALLOW_CELL_LAYERS = ("conv3", "conv4", "conv5")
INTERMEDIATE_CELL_LAYERS = tuple(f"conv{i}" for i in range(4, 11))

# Per-layer cell configs of the shallow models (neuroailab/convrnns `convrnns/models/*_shallow.json`; lstm from `configs/lstm_shallow.npz`).
SHALLOW_CELL_CFG = {
    "rgc": [dict(RGC_2018)] * 3,
    "simplernn": [dict(out_depth=d, layer_norm=True) for d in (128, 256, 256)],
    "lstm": [
        dict(filter_size=2, out_depth=128, layer_norm=True, forget_bias=1.356, bias_init=1.643,
             kernel_init_scale=0.7009, weight_decay=5.434e-6),
        dict(filter_size=3, out_depth=256, layer_norm=True, peephole="position", forget_bias=0.978, bias_init=-1.166,
             kernel_init_scale=1.8315, weight_decay=7.613e-6),
        dict(filter_size=4, out_depth=256, layer_norm=True, forget_bias=0.925, bias_init=-1.350,
             kernel_init_scale=0.8938, weight_decay=3.038e-6),
    ],
}


def shallow(cell: str | None) -> ModelSpec:
    """Shallow backbone; ``cell=None`` is the feed-forward control (elu in every pre-conv)."""
    nodes = []
    cfgs = SHALLOW_CELL_CFG.get(cell, [{}] * 3)
    for i, d in enumerate(SHALLOW_DEPTHS):
        name = f"conv{i + 1}"
        has_cell = cell is not None and name in SHALLOW_CELL_LAYERS
        # reference JSONs: pre-conv elu in conv1-2 and in every rgc/FF layer; none before the other cells
        act = not has_cell or cell == "rgc"
        nodes.append(NodeSpec(name, d, ksize=7 if i == 0 else 3, stride=2 if i == 0 else 1, act=act, pool=True,
                              cell=cell if has_cell else None,
                              cell_cfg=copy.deepcopy(cfgs[i - 2]) if has_cell else {}))
    return ModelSpec(nodes, readout_kind="conv", times=16, image_off=12)


def intermediate(cell: str | None) -> ModelSpec:
    """Intermediate backbone; ``cell=None`` is the feed-forward control on the RGC (median) backbone."""
    pools = {"conv1", "conv4", "conv6", "conv7", "conv10"}
    if cell in (None, "rgc"):
        depths = (64, 128, 128, 128, 128, 256, 256, 256, 512, 512)
        block = False
    else:
        depths = (64, 64, 64, 128, 128, 256, 256, 512, 512, 512)
        block = True
    nodes = []
    for i, d in enumerate(depths):
        name = f"conv{i + 1}"
        has_cell = cell is not None and name in INTERMEDIATE_CELL_LAYERS
        cfg = dict(MEDIAN_RGC) if (has_cell and cell == "rgc") else {}
        nodes.append(NodeSpec(name, d, ksize=7 if i == 0 else 3, stride=2 if i == 0 else 1,
                              act=not (has_cell and cell == "rgc"), pool=name in pools,
                              cell=cell if has_cell else None, cell_cfg=cfg, block=block and i > 0))
    return ModelSpec(nodes, readout_kind="fc", edges=list(EDGES_5) if cell == "rgc" else [], times=17, image_off=12)
