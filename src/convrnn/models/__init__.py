"""ConvRNN model zoo (Nayebi et al. 2018/2022). See docs/models.md."""
from .cells import CELLS, Cell, register_cell
from .counting import count_params, count_units
from .graph import ConvRNN, ModelSpec, NodeSpec, Unrolled
from .registry import MODELS, build, names, register_model
from .resnet import ResNetModel
from .rgc import MEDIAN_RGC, RGC_2018, ReciprocalGatedCell

__all__ = [
    "CELLS", "Cell", "register_cell", "count_params", "count_units", "ConvRNN", "ModelSpec", "NodeSpec",
    "Unrolled", "MODELS", "build", "names", "register_model", "ResNetModel", "MEDIAN_RGC", "RGC_2018",
    "ReciprocalGatedCell",
]
