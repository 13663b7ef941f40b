"""Model size: parameters and units (the NC 2022 Pareto analysis of performance vs size)."""
from __future__ import annotations

from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of trainable scalars (works on ``meta``-device models too)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


UNIT_DEFINITIONS = ("output", "pre_pool")


def count_units(model: nn.Module, image_size: int, where: str = "output") -> int:
    """Neurons: the activations C*H*W of every node and of the readout, each counted once; ``where`` = ``"output"``
    (the node's output, after its max-pool: the default, what the next node reads) or ``"pre_pool"`` (the node's
    map before its max-pool).

    A node is what a model unit of the papers' graphs is: a ConvRNN layer (its conv plus its cell; the cell's
    memory is internal to that neuron, as a biological neuron's state is) or a ResNet stem / residual block (its
    convs and shortcut form one computation whose output the next block reads). Time is not a factor: unrolling
    reuses the same neurons at every step, so a recurrent network of the same units is not "larger" for being run
    longer; this is what lets the 2022 comparison (performance per unit) favour recurrence.
    """
    return sum(c * h * w for c, h, w in model.unit_shapes(image_size, where).values())


SIZE_COLUMNS = ["model", "n_params", "n_units", "n_units_pre_pool", "image_size"]


def size_row(model_id: str, model: nn.Module, image_size: int) -> dict:
    """One row of ``results/models/{model}/size.parquet``: parameters and units (at the nodes' outputs, the default,
    and before their max-pools)."""
    return {"model": model_id, "n_params": count_params(model), "n_units": count_units(model, image_size),
            "n_units_pre_pool": count_units(model, image_size, "pre_pool"), "image_size": image_size}
