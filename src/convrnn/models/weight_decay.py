"""Which parameters carry weight decay, as the reference's regularisers (docs/models.md, Training recipe).

The reference regularises its conv kernels (and, in most cells, their biases) and creates every other variable
without a regulariser: layer norms, peepholes, scalars, residual projections. Kinds of parameter follow from the
module type (a conv or not); the exceptions among convs are declared by the code that creates them
(``unregularised(conv)``), so that no rule depends on what a parameter happens to be called.
"""
from __future__ import annotations

from torch import nn

_FLAG = "unregularised"


def unregularised(module: nn.Module) -> nn.Module:
    """Declare ``module`` (and everything inside it) free of weight decay; returns it, to wrap a constructor."""
    for m in module.modules():
        setattr(m, _FLAG, True)
    return module


def conv_decays(module: nn.Module, coefficient: float, biases: bool = True,
                skip: nn.Module | None = None) -> dict[str, float]:
    """L2 coefficient per parameter name of ``module``: conv kernels (and conv biases with ``biases``) get
    ``coefficient`` unless declared ``unregularised``; every other parameter 0. ``skip``: a submodule whose
    parameters are left out (it reports its own)."""
    skipped = {id(m) for m in skip.modules()} if skip is not None else set()
    out = {}
    for mname, m in module.named_modules():
        if id(m) in skipped:
            continue
        for pname, _ in m.named_parameters(recurse=False):
            decayed = isinstance(m, nn.Conv2d) and not getattr(m, _FLAG, False) and (pname == "weight" or biases)
            out[f"{mname}.{pname}" if mname else pname] = coefficient if decayed else 0.0
    return out
