"""The two published backbones (docs/references.md, Models) as ``ModelSpec`` factories.

shallow (6 nodes, T=16): conv1 7x7/2 64, conv2 3x3 128, conv3-5 3x3 256/256/512, maxpool after
every conv; cells in conv3-5; readout = 2x2 VALID conv -> global average pool.

intermediate (11 nodes, T=17), cells in conv4-10, pools after conv1, 4, 6, 7, 10, readout global average pool -> fc:
- plain conv nodes 64,128,128 | 128,128,256,256,256,512,512 (the RGC "median" model, and the feed-forward control);
- ResNet-18-like basic-block nodes 64,64,64 | 128,128,256,256,512,512,512 for a cell placed in blocks (the
  reference's non-RGC cells).

What a cell changes in a backbone (its layer configs, the pre-conv activation before it, plain or block nodes, its
feedback edges) is the cell's own declaration (``Cell.backbones``, a ``Placement`` per backbone): nothing here
depends on which cell it is. ``cell=None`` builds the feed-forward control: elu after every pre-conv, plain nodes,
no feedback.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .cells import Placement, cell_class
from .graph import ModelSpec, NodeSpec

SHALLOW_DEPTHS = (64, 128, 256, 256, 512)
SHALLOW_CELL_LAYERS = ("conv3", "conv4", "conv5")
SHALLOW_POOLS = ("conv1", "conv2", "conv3", "conv4", "conv5")
INTERMEDIATE_DEPTHS = (64, 128, 128, 128, 128, 256, 256, 256, 512, 512)
INTERMEDIATE_BLOCK_DEPTHS = (64, 64, 64, 128, 128, 256, 256, 512, 512, 512)
INTERMEDIATE_POOLS = ("conv1", "conv4", "conv6", "conv7", "conv10")
INTERMEDIATE_CELL_LAYERS = tuple(f"conv{i}" for i in range(4, 11))

#: the feed-forward control's nodes: a conv with elu, no cell
FEEDFORWARD = Placement(pre_activation=True)


def _placement(cell: str | None, backbone: str) -> Placement:
    return FEEDFORWARD if cell is None else cell_class(cell, f"{backbone} backbone").placement(backbone)


def _nodes(cell: str | None, place: Placement, backbone: str, depths, cell_layers, pools) -> list[NodeSpec]:
    cfgs = place.layer_configs(cell_layers, f"cell {cell!r} in the {backbone} backbone") if cell else {}
    nodes = []
    for i, d in enumerate(depths):
        name = f"conv{i + 1}"
        has_cell = name in cfgs
        nodes.append(NodeSpec(name, d, ksize=7 if i == 0 else 3, stride=2 if i == 0 else 1,
                              act=place.pre_activation if has_cell else True, pool=name in pools,
                              cell=cell if has_cell else None, cell_cfg=cfgs.get(name, {}),
                              block=place.blocks and i > 0))
    return nodes


def shallow(cell: str | None) -> ModelSpec:
    """Shallow backbone; ``cell=None`` is the feed-forward control (elu in every pre-conv)."""
    place = _placement(cell, "shallow")
    if place.blocks:
        raise ValueError(f"cell {cell!r}: the shallow backbone has no basic-block form (its Placement asks for blocks)")
    nodes = _nodes(cell, place, "shallow", SHALLOW_DEPTHS, SHALLOW_CELL_LAYERS, SHALLOW_POOLS)
    return ModelSpec(nodes, readout_kind="conv", edges=list(place.edges), times=16, image_off=12)


def intermediate(cell: str | None) -> ModelSpec:
    """Intermediate backbone; ``cell=None`` is the feed-forward control on the plain (median model's) nodes."""
    place = _placement(cell, "intermediate")
    depths = INTERMEDIATE_BLOCK_DEPTHS if place.blocks else INTERMEDIATE_DEPTHS
    nodes = _nodes(cell, place, "intermediate", depths, INTERMEDIATE_CELL_LAYERS, INTERMEDIATE_POOLS)
    return ModelSpec(nodes, readout_kind="fc", edges=list(place.edges), times=17, image_off=12)


class Backbone(NamedTuple):
    make: Callable[[str | None], ModelSpec]   # cell name (None: feed-forward control) -> spec
    cell_layers: tuple[str, ...]              # the nodes that carry the cell


#: every backbone: the zoo has ``{cell}_{backbone}`` for each registered cell, and the search space's candidate
#: feedback edges run between a backbone's cell layers
BACKBONES = {"shallow": Backbone(shallow, SHALLOW_CELL_LAYERS),
             "intermediate": Backbone(intermediate, INTERMEDIATE_CELL_LAYERS)}
