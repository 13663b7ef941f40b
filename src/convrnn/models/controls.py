"""Feed-forward and minimal-unroll controls (NeurIPS 2018; their exact published sizes were not found).

- ``ff_<backbone>``: the backbone with every cell and feedback edge removed (elu after every
  pre-conv), unrolled with the same T / image_off, so its logits arrive at the same step.
- ``ff_wide_<backbone>``: ``ff_<backbone>`` with every conv depth multiplied by one factor f, found by
  bisection so that the parameter count matches the target ConvRNN (same width/num_classes) within 5%.
- ``ff_deep_<backbone>``: ``ff_<backbone>`` plus extra 3x3 conv+elu layers (same depth) inside the
  target's cell layers, added round-robin from the shallowest cell layer (skipping a layer whose
  conv would overshoot) until the count is within 5% of the target. The node count, hence the unrolling timing, is unchanged.
- ``rgc_<backbone>_minunroll``: the ConvRNN with T = number of nodes and the image always on, the
  fewest steps in which every parameter is used at least once on an image-driven path.
Parameter counts are computed by building on the ``meta`` device (no memory, no init cost).
"""
from __future__ import annotations

import copy
import torch

from .graph import ConvRNN, ModelSpec

TOLERANCE = 0.05


def spec_params(spec: ModelSpec) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in ConvRNN(spec).parameters())


def widened(spec: ModelSpec, factor: float) -> ModelSpec:
    out = copy.deepcopy(spec)
    for n in out.nodes:
        n.out = max(1, round(n.out * factor))
    return out


def match_wide(ff: ModelSpec, target: int) -> ModelSpec:
    lo, hi = 1.0, 8.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if spec_params(widened(ff, mid)) < target:
            lo = mid
        else:
            hi = mid
    best = min((widened(ff, f) for f in (lo, hi)), key=lambda s: abs(spec_params(s) - target))
    _check(best, target, "ff_wide")
    return best


def match_deep(ff: ModelSpec, target: int, cell_layers: tuple[str, ...]) -> ModelSpec:
    spec = copy.deepcopy(ff)
    nodes = [n for n in spec.nodes if n.name in cell_layers]
    count, k = spec_params(spec), 0
    while count < (1 - TOLERANCE) * target:
        # round-robin; skip a layer whose extra conv would overshoot the window (cheaper ones next)
        for step in range(len(nodes)):
            node = nodes[(k + step) % len(nodes)]
            node.extra_convs += 1
            new = spec_params(spec)
            if new <= (1 + TOLERANCE) * target:
                count, k = new, k + step + 1
                break
            node.extra_convs -= 1
        else:
            break
    _check(spec, target, "ff_deep")
    return spec


def _check(spec: ModelSpec, target: int, what: str):
    n = spec_params(spec)
    if abs(n - target) > TOLERANCE * target:
        raise ValueError(f"{what}: could not match {target} parameters within 5% (got {n}); adjust width")


def control(kind: str, ff: ModelSpec, target_spec: ModelSpec, cell_layers: tuple[str, ...]) -> ModelSpec:
    target = spec_params(target_spec)
    if kind == "wide":
        return match_wide(ff, target)
    if kind == "deep":
        return match_deep(ff, target, cell_layers)
    raise ValueError(f"unknown control kind {kind!r}")


def minunroll(spec: ModelSpec) -> ModelSpec:
    out = copy.deepcopy(spec)
    out.times = out.image_off = len(spec.nodes) + 1   # + imnetds
    out.static = True
    return out

