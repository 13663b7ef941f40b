"""The classification task's datasets: the generated stimulus sets offline, ImageNet with real data."""
from __future__ import annotations

from typing import Mapping


def task_datasets(inputs: Mapping[str, str], *, imagenet: Mapping | None, image_size: int, subset: bool = False):
    """(train, val, num_classes) for the classification task.

    Synthetic default: the generated train/val stimulus sets. Real: ImageNet (the search uses a low-resolution subset).
    """
    if "train_images" in inputs:
        from convrnn.data.stimuli import StimulusDataset

        train = StimulusDataset(inputs["train_images"], inputs["train_meta"], augment=True)
        val = StimulusDataset(inputs["val_images"], inputs["val_meta"])
        return train, val, int(train.labels.max()) + 1
    if not imagenet:
        raise ValueError("data.imagenet: required when data.source is 'real'")
    from convrnn.data.imagenet import imagenet_datasets

    kwargs = dict(image_size=image_size, resize_size=imagenet.get("resize_size"),  # None: scales with image_size
                  require_complete=bool(imagenet.get("require_complete", False)))
    if subset:
        kwargs.update(subset_classes=imagenet.get("subset_classes", 100), subset_per_class=imagenet.get("subset_per_class", 260))
    train, val = imagenet_datasets(imagenet["root"], **kwargs)
    return train, val, len(train.classes) if hasattr(train, "classes") else 1000
