"""torchvision ResNets (untrained) behind the same ``unroll`` contract as the ConvRNNs.

A feed-forward network has no time: ``unroll`` runs it once and returns logits and features
broadcast (``expand``, no copy) over T steps, so downstream per-time-step code treats it like a
ConvRNN. The presentation (image_off, blank) is ignored: an FF model's response is its response to
the image. Default T is 1.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .graph import Unrolled

STAGES = ("layer1", "layer2", "layer3", "layer4", "avgpool")


class ResNetModel(nn.Module):
    def __init__(self, depth: int, num_classes: int = 1000, times: int = 1, image_off: int = 1,
                 blank_value: float = 0.5, readout: str = "last"):
        super().__init__()
        from torchvision.models import resnet  # here: torchvision.models pulls in torch._dynamo (~2 s per job)

        self.net = getattr(resnet, f"resnet{depth}")(weights=None, num_classes=num_classes)
        self.name = f"resnet{depth}"
        self.layer_names = list(STAGES)
        self.times, self.image_off, self.blank_value = times, image_off, blank_value
        self.readout, self.num_classes = readout, num_classes

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

    def layer_shapes(self, image_size: int | tuple[int, int]) -> dict[str, tuple[int, int, int]]:
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        with torch.no_grad():
            p = next(self.parameters())
            _, feats = self._run(torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype), self.layer_names)
        return {k: tuple(v.shape[1:]) for k, v in feats.items()}

    def unit_shapes(self, image_size: int | tuple[int, int]) -> dict[str, tuple[int, int, int]]:
        """(C, H, W) of the stem (after max-pool), every residual block and the fc logits (``count_units``)."""
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        n, p = self.net, next(self.parameters())
        with torch.no_grad():
            x = n.maxpool(n.relu(n.bn1(n.conv1(torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype)))))
            shapes = {"stem": tuple(x.shape[1:])}
            for stage in STAGES[:4]:
                for i, block in enumerate(getattr(n, stage)):
                    x = block(x)
                    shapes[f"{stage}.{i}"] = tuple(x.shape[1:])
        shapes["fc"] = (self.num_classes, 1, 1)
        return shapes

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, ())[0]

