"""ILSVRC2012 (ImageNet-1k) train/val datasets and transforms (loading: ``convrnn.training.fit``).

Accepted layouts (``root`` comes from the config, ``data.imagenet.root``):

1. torchvision class folders: ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``.
2. raw ILSVRC2012: ``root/train/<wnid>/*.JPEG`` and a flat ``root/val/ILSVRC2012_val_<8 digits>.JPEG``,
   labelled by, in this order of preference,
   - ``root/LOC_val_solution.csv`` (``ImageId,PredictionString``; the first wnid of the prediction string), or
   - the devkit, extracted (``root/ILSVRC2012_devkit_t12/data/``) or as ``root/ILSVRC2012_devkit_t12.tar.gz``:
     ``ILSVRC2012_validation_ground_truth.txt`` (line i = 1-based ILSVRC2012_ID of val image i) and
     ``meta.mat`` (``synsets`` with ``ILSVRC2012_ID`` -> ``WNID``).
3. Kaggle (``imagenet-object-localization-challenge``): ``root/ILSVRC/Data/CLS-LOC/{train,val}`` (val flat),
   ``root/LOC_val_solution.csv`` for the val labels and ``root/LOC_synset_mapping.txt`` for class names.

Nothing is moved: each split is a list of ``(path, label)``. Labels are always the torchvision order (sorted
train wnids -> 0..K-1, as ``torchvision.datasets.ImageFolder``). Hidden folders and files (names starting
with ``.``, e.g. ``.ipynb_checkpoints``) are ignored everywhere. Files count as images by torchvision's
``IMG_EXTENSIONS``.

If ``ILSVRC2012_devkit_t12.tar.gz`` (or torchvision's ``meta.bin``) is in ``root`` and a split folder is missing,
torchvision's ImageNet helpers build it from the official tars (``ILSVRC2012_img_{train,val}.tar``, md5-checked;
val sorted into wnid folders). Extraction holds a lock file in ``root`` (one job extracts, the others wait and
then reuse it) and goes to a hidden temp folder renamed into place when complete, so a half-extracted split is
never read. Class names (``dataset.class_names``) come from ``meta.bin``, ``LOC_synset_mapping.txt`` or the
devkit's ``meta.mat``, else they are the wnids.

``check_imagenet_complete`` (also run by ``imagenet_datasets(..., require_complete=True)``) fails before
training when the tree is not the full ILSVRC2012 (1000 classes, 1,281,167 train / 50,000 val images).
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from torchvision import transforms
from torchvision.datasets import VisionDataset
from torchvision.datasets import imagenet as tv_imagenet
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader, has_file_allowed_extension

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT = ("root/train/<wnid>/*.JPEG with root/val/<wnid>/*.JPEG or a flat root/val/ILSVRC2012_val_*.JPEG "
          "(+ LOC_val_solution.csv or ILSVRC2012_devkit_t12), or Kaggle root/ILSVRC/Data/CLS-LOC/{train,val}")
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
DEVKIT_DIR = "ILSVRC2012_devkit_t12"
LOC_SOLUTION = "LOC_val_solution.csv"
LOC_SYNSETS = "LOC_synset_mapping.txt"
KAGGLE_DATA = Path("ILSVRC", "Data", "CLS-LOC")
LOCK_FILE = ".imagenet_extract.lock"
FULL_CLASSES, FULL_TRAIN, FULL_VAL = 1000, 1_281_167, 50_000
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d+)$")


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


class ImageNetFolder(VisionDataset):
    """``(image, label)`` over a fixed list of ``(path, label)`` samples; labels index ``wnids``.

    Same attributes as ``ImageFolder``: ``samples``/``imgs``, ``targets``, ``classes``, ``class_to_idx``, plus
    ``wnids`` and ``class_names``."""

    def __init__(self, split_dir: str | os.PathLike, samples: Sequence[tuple[str, int]], wnids: Sequence[str],
                 transform=None, class_names: Sequence[str] | None = None, loader=default_loader):
        super().__init__(str(split_dir), transform=transform)
        self.wnids = self.classes = list(wnids)
        self.class_to_idx = {w: i for i, w in enumerate(self.wnids)}
        self.samples = self.imgs = list(samples)
        self.targets = [label for _, label in self.samples]
        self.class_names = list(class_names) if class_names is not None else list(self.wnids)
        self.loader = loader

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        image = self.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label


@dataclass
class ImageNetTree:
    """What was found under ``root``: per-split ``{wnid: sorted image paths}`` and where the labels came from."""
    root: Path
    data_dir: Path  # folder holding train/ and val/
    train: dict[str, list[str]]
    val: dict[str, list[str]]
    val_labels: str  # "class folders", LOC_val_solution.csv or the devkit file
    names: dict[str, tuple[str, ...]] | None = None


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _is_image(name: str) -> bool:
    return _visible(name) and has_file_allowed_extension(name, IMG_EXTENSIONS)


def _split_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing split folder (expected layout {LAYOUT})")
    return path


def _class_files(class_dir: str) -> list[str]:
    """Image files under one class folder (recursively, as ImageFolder), hidden entries skipped, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if _visible(d))
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if _is_image(f))
    return found


def _class_folder_split(split_dir: Path) -> dict[str, list[str]]:
    wnids = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and _visible(e.name))
    if not wnids:
        raise FileNotFoundError(f"{split_dir}: no class folders (expected layout {LAYOUT})")
    return {w: _class_files(str(split_dir / w)) for w in wnids}


def _read_loc_solution(path: Path) -> dict[str, str]:
    """LOC_val_solution.csv: ImageId (no extension) -> first wnid of PredictionString."""
    labels = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not {"ImageId", "PredictionString"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: expected columns ImageId,PredictionString, got {reader.fieldnames}")
        for row in reader:
            tokens = row["PredictionString"].split()
            if not tokens:
                raise ValueError(f"{path}: empty PredictionString for {row['ImageId']}")
            labels[row["ImageId"]] = tokens[0]
    return labels


def _synsets(meta_mat) -> tuple[dict[int, str], dict[str, tuple[str, ...]]]:
    """Devkit meta.mat (path or file object) -> (ILSVRC2012_ID -> wnid, wnid -> names)."""
    from scipy.io import loadmat

    synsets = loadmat(meta_mat, squeeze_me=True)["synsets"]
    ids, wnids = synsets["ILSVRC2012_ID"].ravel(), synsets["WNID"].ravel()
    words = synsets["words"].ravel() if "words" in synsets.dtype.names else wnids
    id_to_wnid = {int(i): str(w) for i, w in zip(ids, wnids)}
    names = {str(w): tuple(s.strip() for s in str(t).split(",")) for w, t in zip(wnids, words)}
    return id_to_wnid, names


def _read_devkit(root: Path) -> tuple[list[str], dict[str, tuple[str, ...]], str] | None:
    """Val labels in val-image order (entry i is the wnid of ILSVRC2012_val_{i+1:08d}) from the devkit folder or
    tarball; None when neither is there."""
    gt_name, meta_name = "ILSVRC2012_validation_ground_truth.txt", "meta.mat"
    folder = root / DEVKIT_DIR / "data"
    if (folder / gt_name).is_file() and (folder / meta_name).is_file():
        gt_text, source = (folder / gt_name).read_text(), str(folder / gt_name)
        id_to_wnid, names = _synsets(str(folder / meta_name))
    elif (root / DEVKIT).is_file():
        with tarfile.open(root / DEVKIT) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            if gt_name not in members or meta_name not in members:
                raise FileNotFoundError(f"{root / DEVKIT}: no data/{gt_name} or data/{meta_name}")
            gt_text = tar.extractfile(members[gt_name]).read().decode()
            id_to_wnid, names = _synsets(io.BytesIO(tar.extractfile(members[meta_name]).read()))
        source = f"{root / DEVKIT}:{gt_name}"
    else:
        return None
    try:
        labels = [id_to_wnid[int(line)] for line in gt_text.split()]
    except KeyError as e:
        raise ValueError(f"{source}: ILSVRC2012_ID {e} not in meta.mat") from None
    return labels, names, source


def _flat_val(root: Path, val_dir: Path, files: list[str]) -> tuple[dict[str, list[str]], str, dict | None]:
    """Label a flat val folder: {wnid: paths}, label source, class names from the devkit (or None)."""
    names = None
    if (root / LOC_SOLUTION).is_file():
        source, by_id = str(root / LOC_SOLUTION), _read_loc_solution(root / LOC_SOLUTION)
        lookup = lambda stem: by_id.get(stem)  # noqa: E731
    elif (devkit := _read_devkit(root)) is not None:
        ordered, names, source = devkit

        def lookup(stem):
            m = _VAL_NAME.match(stem)
            return ordered[int(m.group(1)) - 1] if m and 1 <= int(m.group(1)) <= len(ordered) else None
    else:
        raise FileNotFoundError(
            f"{val_dir}: flat val folder ({len(files)} images) but no labels: put {LOC_SOLUTION}, {DEVKIT_DIR}/ or "
            f"{DEVKIT} in {root} (expected layout {LAYOUT})")
    by_class: dict[str, list[str]] = {}
    unlabelled = []
    for name in sorted(files):
        wnid = lookup(Path(name).stem)
        if wnid is None:
            unlabelled.append(name)
        else:
            by_class.setdefault(wnid, []).append(str(val_dir / name))
    if unlabelled:
        raise ValueError(f"{val_dir}: {len(unlabelled)} val images have no label in {source}: {unlabelled[:5]}")
    return dict(sorted(by_class.items())), source, names


def _read_names(root: Path) -> dict[str, tuple[str, ...]] | None:
    if (root / tv_imagenet.META_FILE).is_file():
        return tv_imagenet.load_meta_file(str(root))[0]  # torch.load(weights_only=True) inside
    if (root / LOC_SYNSETS).is_file():
        names = {}
        for line in (root / LOC_SYNSETS).read_text().splitlines():
            if line.strip():
                wnid, _, words = line.strip().partition(" ")
                names[wnid] = tuple(s.strip() for s in words.split(",")) if words else (wnid,)
        return names
    return None


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive inter-process lock on ``path`` (filelock when installed, else fcntl.flock)."""
    try:
        from filelock import FileLock
    except ImportError:
        import fcntl

        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    else:
        with FileLock(str(path)):
            yield


def _prepare_from_archives(root: Path) -> None:
    """Extract missing split folders from the official tars (needs the devkit or meta.bin), one job at a time."""
    has_meta = (root / tv_imagenet.META_FILE).is_file()
    if not has_meta and not (root / DEVKIT).is_file():
        return
    if (root / "train").is_dir() and (root / "val").is_dir():
        return
    with _locked(root / LOCK_FILE):  # the state is re-read under the lock: another job may have finished it
        if not (root / tv_imagenet.META_FILE).is_file():
            tv_imagenet.parse_devkit_archive(str(root))  # md5-checked; writes meta.bin
        for split, parse in (("train", tv_imagenet.parse_train_archive), ("val", tv_imagenet.parse_val_archive)):
            if (root / split).is_dir():
                continue
            partial = root / f".{split}.partial"  # hidden: never taken for a split
            shutil.rmtree(partial, ignore_errors=True)  # left by a killed job
            parse(str(root), folder=partial.name)  # md5-checked tar -> root/.<split>.partial/<wnid>/
            os.rename(partial, root / split)


def scan_imagenet(root: str | os.PathLike) -> ImageNetTree:
    """Find the layout under ``root`` (see the module docstring) and list both splits; no images are opened."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: ImageNet root not found (expected layout {LAYOUT})")
    data_dir = root / KAGGLE_DATA
    if not data_dir.is_dir():
        data_dir = root
        _prepare_from_archives(root)
    train_dir, val_dir = _split_dir(data_dir / "train"), _split_dir(data_dir / "val")
    train = _class_folder_split(train_dir)
    entries = [e for e in os.scandir(val_dir) if _visible(e.name)]
    val_classes = [e.name for e in entries if e.is_dir()]
    loose = [e.name for e in entries if e.is_file() and _is_image(e.name)]
    devkit_names = None
    if val_classes and loose:
        raise ValueError(f"{val_dir}: mixes {len(val_classes)} class folders and {len(loose)} loose images "
                         f"(e.g. {sorted(loose)[:3]}); a half-sorted val? (expected layout {LAYOUT})")
    if loose:
        val, source, devkit_names = _flat_val(root, val_dir, loose)
    else:
        val, source = _class_folder_split(val_dir), "class folders"
    names = _read_names(root) or devkit_names
    if names is None and (devkit := _read_devkit(root)) is not None:
        names = devkit[1]
    return ImageNetTree(root, data_dir, train, val, source, names)


def check_imagenet_complete(root: str | os.PathLike | ImageNetTree, expect_classes: int = FULL_CLASSES,
                            expect_val: int | None = FULL_VAL, expect_train: int | None = FULL_TRAIN) -> ImageNetTree:
    """Raise ``ValueError`` naming every shortfall unless the tree has ``expect_classes`` train class folders, none
    empty, the same classes in val, and (when not None) ``expect_train`` / ``expect_val`` images. Returns the tree."""
    tree = root if isinstance(root, ImageNetTree) else scan_imagenet(root)
    problems = []
    train_wnids, val_wnids = set(tree.train), {w for w, files in tree.val.items() if files}
    n_train, n_val = sum(map(len, tree.train.values())), sum(map(len, tree.val.values()))
    if len(train_wnids) != expect_classes:
        known = sorted(val_wnids - train_wnids)
        problems.append(f"train/ has {len(train_wnids)} of {expect_classes} class folders"
                        + (f" ({expect_classes - len(train_wnids)} missing"
                           + (f", e.g. {known[:5]} seen in val)" if known else ")")
                           if len(train_wnids) < expect_classes else ""))
    if empty := sorted(w for w, files in tree.train.items() if not files):
        problems.append(f"{len(empty)} empty train class folders {empty[:5]}")
    if only_val := sorted(val_wnids - train_wnids):
        problems.append(f"{len(only_val)} classes in val not in train {only_val[:5]}")
    if only_train := sorted(train_wnids - val_wnids):
        problems.append(f"{len(only_train)} train classes with no val image {only_train[:5]}")
    if expect_train is not None and n_train != expect_train:
        problems.append(f"{n_train} train images, expected {expect_train}")
    if expect_val is not None and n_val != expect_val:
        problems.append(f"{n_val} val images, expected {expect_val} (labels: {tree.val_labels})")
    if problems:
        raise ValueError(f"{tree.root}: not the complete ImageNet (train {tree.data_dir / 'train'}, val "
                         f"{tree.data_dir / 'val'}): " + "; ".join(problems))
    return tree


def _samples(split: dict[str, list[str]], wnids: Sequence[str], per_class: int | None) -> list[tuple[str, int]]:
    """(path, label) in ImageFolder order (classes by sorted wnid, files sorted), first ``per_class`` of each."""
    index = {w: i for i, w in enumerate(wnids)}
    return [(path, index[w]) for w in sorted(index) for path in split.get(w, [])[:per_class]]


def imagenet_datasets(root: str | os.PathLike, *, image_size: int = 224, resize_size: int | None = None,
                      train_augment: bool = True, subset_classes: int | Sequence[str] | None = None,
                      subset_per_class: int | None = None,
                      require_complete: bool = False) -> tuple[ImageNetFolder, ImageNetFolder]:
    """(train, val) datasets of ``(normalised float image (3, S, S), label)`` for any layout of the module docstring.

    ``subset_classes``: the first k wnids (sorted) or an explicit list of wnids; labels are
    renumbered 0..k-1 in that order. ``subset_per_class`` caps images per class in both splits.
    Together with a small ``image_size`` (e.g. 128) this is the low-resolution search-stage mode.
    ``train_augment=False`` gives the train split the eval transform (feature extraction, debugging).
    ``require_complete``: run ``check_imagenet_complete`` on the whole tree first (before any subsetting).
    """
    tree = scan_imagenet(root)
    root = tree.root
    if require_complete:
        check_imagenet_complete(tree)
    train_wnids, val_wnids = list(tree.train), list(tree.val)
    if train_wnids != val_wnids:
        only_t, only_v = sorted(set(train_wnids) - set(val_wnids)), sorted(set(val_wnids) - set(train_wnids))
        raise ValueError(f"{root}: class folders differ between train ({len(train_wnids)}) and val "
                         f"({len(val_wnids)}, {tree.val_labels}): only in train {only_t[:5]}, only in val {only_v[:5]}")
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
    for split, files in (("train", tree.train), ("val", tree.val)):
        if empty := [w for w in wnids if not files[w]]:
            raise FileNotFoundError(f"{tree.data_dir / split}: found no valid image file for the classes {empty[:5]} "
                                    f"(extensions {', '.join(IMG_EXTENSIONS)}; expected layout {LAYOUT})")
    names = tree.names or {}
    class_names = [names.get(w, (w,))[0] for w in wnids]
    evaluate = eval_transform(image_size, resize_size)
    train = ImageNetFolder(tree.data_dir / "train", _samples(tree.train, wnids, subset_per_class), wnids,
                           train_transform(image_size) if train_augment else evaluate, class_names)
    val = ImageNetFolder(tree.data_dir / "val", _samples(tree.val, wnids, subset_per_class), wnids,
                         evaluate, class_names)
    return train, val


def pca_image_table(root: str | os.PathLike, n_images: int = 1000):
    """ImageNet validation images the feature PCA is fitted on (as Brain-Score fits its layer PCA on 1000 validation
    images): one per class in sorted-wnid order (each class's first file), cycling through the classes for more than
    one per class. Columns ``stimulus_id`` (file stem), ``object``, ``object_id``, ``category`` (the wnid and its
    index), ``image_path``."""
    import pandas as pd

    tree = scan_imagenet(root)
    wnids = [w for w in sorted(tree.val) if tree.val[w]]
    if not wnids:
        raise FileNotFoundError(f"{tree.data_dir / 'val'}: no validation images (expected layout {LAYOUT})")
    rows, round_ = [], 0
    while len(rows) < n_images:
        added = False
        for i, w in enumerate(wnids):
            if round_ < len(tree.val[w]) and len(rows) < n_images:
                path = tree.val[w][round_]
                rows.append({"stimulus_id": Path(path).stem, "object": w, "object_id": i, "category": w,
                             "image_path": str(path)})
                added = True
        if not added:
            break
        round_ += 1
    return pd.DataFrame(rows)
