"""Convolutional recurrent cells (Nayebi et al. 2018/2022 zoo): one module per cell, registered on import.

``base`` holds the ``Cell`` contract, the registry and the shared helpers; every other module of this package
defines one ``@register_cell("name")`` class. This ``__init__`` imports every module it finds here, so a new cell
is one new file and nothing else (docs/models.md, "Adding a cell or an edge set"). The workflow's code
dependencies count such a package as all of its modules (``convrnn.workflow.code_deps``), so adding or editing a
cell reruns what builds models.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import (ACTIVATIONS, CELLS, COMMON, Cell, GatedCell, Placement, activation, cell_class, conv, conv_bias,
                   register_cell, same_pad, unregister_cell, zero_state)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ACTIVATIONS", "CELLS", "COMMON", "Cell", "GatedCell", "Placement", "activation", "cell_class", "conv",
           "conv_bias", "register_cell", "same_pad", "unregister_cell", "zero_state"]
