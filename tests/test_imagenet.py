"""ImageNet loaders on a tiny fake ILSVRC2012 tree of JPEGs."""
from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image

from convrnn.data import imagenet as inet

WNIDS = ["n01440764", "n01443537", "n01484850"]
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]  # one solid colour per class: planted label truth


@pytest.fixture
def root(tmp_path):
    for split, n in (("train", 4), ("val", 2)):
        for wnid, rgb in zip(WNIDS, COLORS):
            d = tmp_path / split / wnid
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (48 + 8 * i, 40), rgb).save(d / f"{wnid}_{i}.JPEG", quality=95)
    return tmp_path


def test_datasets_shapes_labels_and_normalisation(root):
    train, val = inet.imagenet_datasets(root, image_size=32)
    assert (len(train), len(val)) == (12, 6) and train.wnids == WNIDS and train.class_names == WNIDS
    x, y = train[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 1
    mean, std = torch.tensor(inet.IMAGENET_MEAN)[:, None, None], torch.tensor(inet.IMAGENET_STD)[:, None, None]
    for i in range(len(val)):
        x, y = val[i]
        expected = (torch.tensor(COLORS[y], dtype=torch.float32)[:, None, None] / 255 - mean) / std
        torch.testing.assert_close(x.mean((1, 2), keepdim=True), expected, atol=0.05, rtol=0)  # JPEG error
        torch.testing.assert_close(val[i][0], x)  # eval transform is deterministic


def test_low_resolution_subset_mode(root):
    train, val = inet.imagenet_datasets(root, image_size=16, subset_classes=2, subset_per_class=3)
    assert train.wnids == WNIDS[:2] and len(train) == 6 and len(val) == 4
    assert train[0][0].shape == (3, 16, 16) and sorted(set(train.targets)) == [0, 1]
    train, val = inet.imagenet_datasets(root, image_size=16, subset_classes=[WNIDS[2], WNIDS[0]], subset_per_class=1)
    assert train.wnids == [WNIDS[2], WNIDS[0]] and len(train) == 2
    # labels follow the requested order: label 0 is the blue class
    x, y = val[[t for _, t in val.samples].index(0)]
    assert x[2].mean() > x[0].mean()


def test_class_names_from_meta_bin(root):
    torch.save(({w: (f"name{i}", f"alias{i}") for i, w in enumerate(WNIDS)}, WNIDS), root / "meta.bin")
    train, val = inet.imagenet_datasets(root, image_size=16, subset_classes=[WNIDS[1]])
    assert train.class_names == val.class_names == ["name1"] and train.wnids == [WNIDS[1]]


@pytest.mark.parametrize("breakage,match", [
    (lambda r: shutil.rmtree(r / "train"), r"train: missing split folder \(expected layout root/train/<wnid>"),
    (lambda r: [shutil.rmtree(p) for p in (r / "val").iterdir()], r"val: no class folders"),
    (lambda r: shutil.rmtree(r / "val" / WNIDS[1]), r"class folders differ .* only in train \['n01443537'\]"),
    (lambda r: [p.unlink() for p in (r / "val" / WNIDS[0]).iterdir()], r"val: .*n01440764.*expected layout"),
])
def test_bad_layouts_name_the_path(root, breakage, match):
    breakage(root)
    with pytest.raises((FileNotFoundError, ValueError), match=match):
        inet.imagenet_datasets(root, image_size=16)


def test_bad_arguments(root, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: ImageNet root not found"):
        inet.imagenet_datasets(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"subset_classes not found in train/: \['n99'\]"):
        inet.imagenet_datasets(root, subset_classes=["n99"])
    with pytest.raises(ValueError, match=r"subset_classes must be in \[1, 3\], got 5"):
        inet.imagenet_datasets(root, subset_classes=5)
    with pytest.raises(ValueError, match="resize_size"):
        inet.eval_transform(224, 200)


def test_train_job_trains_on_an_imagenet_tree_with_loader_workers(root, tmp_path):
    """The train_model path on real-format data: JPEG decoding in 2 DataLoader workers, 3 classes from the tree."""
    from convrnn.io import read_parquet
    from convrnn.train_job import run
    from convrnn.training import METRIC_COLUMNS

    out = tmp_path / "model"
    job = {"spec": {"arch": "ff_shallow", "overrides": {"width": 0.125, "times": 6, "image_off": 6}},
           "inputs": {}, "imagenet": {"root": str(root)}, "image_size": 16,
           "training": {"epochs": 2, "batch_size": 4, "optimizer": "adam", "lr": 1e-3, "device": "cpu",
                        "num_workers": 2, "seed": 0},
           "out_dir": str(out)}
    result = run(job)
    assert result["steps"] == 2 * 3 and 0 <= result["val_top1"] <= 1  # 12 train images / batch 4, per epoch
    metrics = read_parquet(out / "metrics.parquet", required=METRIC_COLUMNS)
    assert len(metrics) == 2 and (metrics["train_images_per_s"] > 0).all()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["model"]["head.layer.weight"].shape[0] == 3
