"""ConvRNN model zoo (Nayebi et al. 2018/2022). See docs/models.md."""
from .cells import CELLS, Cell, GatedCell, Placement, register_cell, unregister_cell
from .cells.rgc import EDGES_5, MEDIAN_RGC, RGC_2018, ReciprocalGatedCell
from .counting import count_params, count_units
from .graph import ConvRNN, ModelSpec, NodeSpec, Unrolled
from .registry import MODELS, build, names, register_model
from .resnet import ResNetModel

__all__ = [
    "CELLS", "Cell", "GatedCell", "Placement", "register_cell", "unregister_cell", "count_params", "count_units",
    "ConvRNN", "ModelSpec", "NodeSpec", "Unrolled", "MODELS", "build", "names", "register_model", "ResNetModel",
    "EDGES_5", "MEDIAN_RGC", "RGC_2018", "ReciprocalGatedCell",
]
