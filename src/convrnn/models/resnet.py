"""torchvision ResNets (untrained) behind the same contract as the ConvRNNs.

A feed-forward network has no time: it is ``static`` and its features come from ``static_response`` (one pass, T=1);
how static features are placed on the neural time axis is an analysis setting (``presentation.feedforward``,
docs/neural.md). ``unroll`` exists for the training code's per-step losses: it runs the network once and broadcasts
(``expand``, no copy) over T steps, ignoring the presentation (image_off, blank). Default T is 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from .graph import ReadsSpec, Unrolled

STAGES = ("layer1", "layer2", "layer3", "layer4", "avgpool")


@dataclass
class ResNetSpec:
    """A ResNet's fields (its ``ModelSpec``): the depth and what it is run and read out with."""

    depth: int
    num_classes: int = 1000
    times: int = 1
    image_off: int = 1
    blank_value: float = 0.5
    readout: str = "last"


class ResNetModel(ReadsSpec, nn.Module):
    def __init__(self, depth: int, num_classes: int = 1000, times: int = 1, image_off: int = 1,
                 blank_value: float = 0.5, readout: str = "last"):
        super().__init__()
        from torchvision.models import resnet  # here: torchvision.models pulls in torch._dynamo (~2 s per job)

        self.spec = ResNetSpec(depth, num_classes, times, image_off, blank_value, readout)
        self.net = getattr(resnet, f"resnet{depth}")(weights=None, num_classes=num_classes)
        self.name = f"resnet{depth}"
        self.layer_names = list(STAGES)

    def _run(self, x: Tensor, record: Sequence[str]):
        n, feats = self.net, {}
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        for name in STAGES[:4]:
            x = getattr(n, name)(x)
            if name in record:
                feats[name] = x
        x = n.avgpool(x)
        if "avgpool" in record:
            feats["avgpool"] = x
        return n.fc(torch.flatten(x, 1)), feats

    def unroll(self, x: Tensor, times: int | None = None, image_off: int | None = None,
               record: Sequence[str] = ()) -> Unrolled:
        T = self.times if times is None else times
        if T < 1:
            raise ValueError(f"times must be >= 1, got {T}")
        unknown = [r for r in record if r not in self.layer_names]
        if unknown:
            raise ValueError(f"record: unknown layer(s) {unknown}; layers: {self.layer_names}")
        logits, feats = self._run(x, record)
        expand = lambda t: t.unsqueeze(0).expand(T, *t.shape)  # noqa: E731
        return Unrolled(expand(logits), {k: expand(v) for k, v in feats.items()})

    static = True   # no time: compared with the brain through its one-pass response

    def static_response(self, x: Tensor, record: Sequence[str] = ()) -> Unrolled:
        """One pass: logits and recorded features with a leading step axis of length 1."""
        return self.unroll(x, times=1, record=record)

    def layer_shapes(self, image_size: int | tuple[int, int]) -> dict[str, tuple[int, int, int]]:
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        with torch.no_grad():
            p = next(self.parameters())
            _, feats = self._run(torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype), self.layer_names)
        return {k: tuple(v.shape[1:]) for k, v in feats.items()}

    def unit_shapes(self, image_size: int | tuple[int, int], where: str = "output") -> dict[str, tuple[int, int, int]]:
        """(C, H, W) of the stem, every residual block and the fc logits (``count_units``); the stem at its output
        (``"output"``, after its max-pool) or before the max-pool (``"pre_pool"``; blocks have no pool)."""
        if where not in ("output", "pre_pool"):
            raise ValueError(f"where must be 'output' or 'pre_pool', got {where!r}")
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        n, p = self.net, next(self.parameters())
        with torch.no_grad():
            stem = n.relu(n.bn1(n.conv1(torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype))))
            x = n.maxpool(stem)
            shapes = {"stem": tuple((stem if where == "pre_pool" else x).shape[1:])}
            for stage in STAGES[:4]:
                for i, block in enumerate(getattr(n, stage)):
                    x = block(x)
                    shapes[f"{stage}.{i}"] = tuple(x.shape[1:])
        shapes["fc"] = (self.num_classes, 1, 1)
        return shapes

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, ())[0]

