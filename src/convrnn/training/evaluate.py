"""Classification accuracy of a model on a labelled dataset: the trainer's validation pass and the released models'
ImageNet check (rule evaluate_pretrained) share it."""
from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from convrnn.io import write_parquet

PRETRAINED_ACCURACY_COLUMNS = ["model", "arch", "released_top1", "released_top5", "top1", "top5", "loss", "n_images"]


def topk_correct(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Number of top-1 and top-5 hits (top-k for fewer than 5 classes)."""
    k = min(5, logits.shape[-1])
    hit = logits.topk(k, dim=-1).indices == y[:, None]
    return float(hit[:, 0].sum()), float(hit.any(-1).sum())


@torch.no_grad()
def classification_sums(model, loader, device, *, to_device=None, autocast: dict | None = None) -> torch.Tensor:
    """(summed cross-entropy, top-1 hits, top-5 hits, images) of ``model`` (in eval mode) over ``loader``."""
    autocast = autocast or {"device_type": device.type, "enabled": False}
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    for x, y in loader:
        x = to_device(x) if to_device else x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True).long()
        with torch.autocast(**autocast):
            logits = model(x)
        logits = logits.float()
        top1, top5 = topk_correct(logits, y)
        sums += torch.tensor([F.cross_entropy(logits, y, reduction="sum").item(), top1, top5, y.shape[0]],
                             dtype=torch.float64, device=device)
    return sums


def pretrained_accuracy_job(weights, out, *, model: str, arch: str, spec, num_classes: int, imagenet, image_size: int,
                            device, batch_size: int = 64, num_workers: int = 0) -> dict:
    """One row of ``PRETRAINED_ACCURACY_COLUMNS``: accuracies in [0, 1]; ``released_*`` NaN for an arch the authors
    did not report."""
    from convrnn.data.pretrained_catalog import RELEASED_ACCURACY
    from convrnn.data.tasks import task_datasets
    from convrnn.models import build
    from convrnn.models.weights import load_weights

    _, val, _ = task_datasets({}, imagenet=imagenet, image_size=image_size)
    net = load_weights(build(spec, num_classes=num_classes), weights).to(device)
    loader = DataLoader(val, batch_size=batch_size, num_workers=num_workers, pin_memory=device.type == "cuda")
    loss, top1, top5, n = classification_sums(net, loader, device).tolist()
    released = RELEASED_ACCURACY.get(arch, (math.nan, math.nan))
    row = {"model": model, "arch": arch, "released_top1": released[0], "released_top5": released[1],
           "top1": top1 / n, "top5": top5 / n, "loss": loss / n, "n_images": int(n)}
    write_parquet(pd.DataFrame([row])[PRETRAINED_ACCURACY_COLUMNS], out)
    return row
