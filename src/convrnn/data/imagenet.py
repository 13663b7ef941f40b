"""ILSVRC2012 in the standard folder layout, with the train/eval transforms (loading: ``convrnn.training.fit``).

Layout (``root`` comes from the config): ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``.
If ``ILSVRC2012_devkit_t12.tar.gz`` is in ``root`` and a split folder is missing, torchvision's
ImageNet helpers build it from the official tars (``ILSVRC2012_img_{train,val}.tar``; the flat val
tar is sorted into wnid folders with the devkit labels) and write ``meta.bin``, which also gives
human-readable class names (``dataset.class_names``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets import imagenet as tv_imagenet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT = "root/train/<wnid>/*.JPEG and root/val/<wnid>/*.JPEG"
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"


def train_transform(image_size: int) -> transforms.Compose:
    """Standard torchvision ImageNet augmentation. The paper's own recipe was not found
    (docs/references.md, Real data: random crop and flip, unverified)."""
    return transforms.Compose([
        transforms.RandomResizedCrop(image_size, antialias=True),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_transform(image_size: int, resize_size: int | None = None) -> transforms.Compose:
    """Shorter side to ``resize_size`` (default ``image_size * 256/224``), centre crop, normalise
    (the ConvRNN eval preprocessing: 256 -> 224, docs/references.md, Real data)."""
    resize_size = resize_size or round(image_size * 256 / 224)
    if resize_size < image_size:
        raise ValueError(f"resize_size ({resize_size}) must be >= image_size ({image_size})")
    return transforms.Compose([
        transforms.Resize(resize_size, antialias=True),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class ImageNetFolder(ImageFolder):
    """ImageFolder over a fixed, ordered list of class folders (labels 0..len(wnids)-1),
    optionally keeping only the first ``per_class`` images (sorted file order) of each class."""

    def __init__(self, split_dir: str | os.PathLike, wnids: Sequence[str], per_class: int | None = None,
                 transform=None, class_names: Sequence[str] | None = None):
        self.wnids = list(wnids)  # read by find_classes during super().__init__
        try:
            super().__init__(str(split_dir), transform=transform)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{split_dir}: {e} (expected layout {LAYOUT})") from e
        if per_class is not None:
            kept, seen = [], [0] * len(self.wnids)
            for path, label in self.samples:
                if seen[label] < per_class:
                    kept.append((path, label))
                    seen[label] += 1
            self.samples = self.imgs = kept
            self.targets = [label for _, label in kept]
        self.class_names = list(class_names) if class_names is not None else list(self.wnids)

    def find_classes(self, directory):
        return list(self.wnids), {w: i for i, w in enumerate(self.wnids)}


def _class_folders(split_dir: Path) -> list[str]:
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{split_dir}: missing split folder (expected layout {LAYOUT})")
    wnids = sorted(e.name for e in os.scandir(split_dir) if e.is_dir())
    if not wnids:
        raise FileNotFoundError(f"{split_dir}: no class folders (expected layout {LAYOUT})")
    return wnids


def _prepare_from_archives(root: Path) -> dict[str, tuple[str, ...]] | None:
    """Extract missing split folders from the official tars (needs the devkit); return wnid -> names."""
    has_meta = (root / tv_imagenet.META_FILE).is_file()
    if not has_meta and not (root / DEVKIT).is_file():
        return None
    if not has_meta:
        tv_imagenet.parse_devkit_archive(str(root))  # md5-checked; writes meta.bin
    for split, parse in (("train", tv_imagenet.parse_train_archive), ("val", tv_imagenet.parse_val_archive)):
        if not (root / split).is_dir():
            parse(str(root))  # md5-checked tar -> root/<split>/<wnid>/
    return tv_imagenet.load_meta_file(str(root))[0]  # torch.load(weights_only=True) inside


def imagenet_datasets(root: str | os.PathLike, *, image_size: int = 224, resize_size: int | None = None,
                      train_augment: bool = True, subset_classes: int | Sequence[str] | None = None,
                      subset_per_class: int | None = None) -> tuple[ImageNetFolder, ImageNetFolder]:
    """(train, val) datasets of ``(normalised float image (3, S, S), label)``.

    ``subset_classes``: the first k wnids (sorted) or an explicit list of wnids; labels are
    renumbered 0..k-1 in that order. ``subset_per_class`` caps images per class in both splits.
    Together with a small ``image_size`` (e.g. 128) this is the low-resolution search-stage mode.
    ``train_augment=False`` gives the train split the eval transform (feature extraction, debugging).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: ImageNet root not found (expected layout {LAYOUT})")
    names = _prepare_from_archives(root)
    train_wnids, val_wnids = _class_folders(root / "train"), _class_folders(root / "val")
    if train_wnids != val_wnids:
        only_t, only_v = sorted(set(train_wnids) - set(val_wnids)), sorted(set(val_wnids) - set(train_wnids))
        raise ValueError(f"{root}: class folders differ between train ({len(train_wnids)}) and val "
                         f"({len(val_wnids)}): only in train {only_t[:5]}, only in val {only_v[:5]}")
    if subset_classes is None:
        wnids = train_wnids
    elif isinstance(subset_classes, int):
        if not 1 <= subset_classes <= len(train_wnids):
            raise ValueError(f"subset_classes must be in [1, {len(train_wnids)}], got {subset_classes}")
        wnids = train_wnids[:subset_classes]
    else:
        wnids = list(subset_classes)
        if unknown := sorted(set(wnids) - set(train_wnids)):
            raise ValueError(f"{root}: subset_classes not found in train/: {unknown[:5]}")
    if subset_per_class is not None and subset_per_class < 1:
        raise ValueError(f"subset_per_class must be >= 1, got {subset_per_class}")
    class_names = [names[w][0] for w in wnids] if names else None
    evaluate = eval_transform(image_size, resize_size)
    train = ImageNetFolder(root / "train", wnids, subset_per_class,
                           train_transform(image_size) if train_augment else evaluate, class_names)
    val = ImageNetFolder(root / "val", wnids, subset_per_class, evaluate, class_names)
    return train, val
