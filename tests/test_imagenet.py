"""ImageNet loaders on a tiny fake ILSVRC2012 tree of JPEGs."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import tarfile
import time

import numpy as np
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
    from convrnn.workflow.train_job import run
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


# --- other layouts: raw ILSVRC2012 flat val (LOC csv / devkit), Kaggle; hidden entries; completeness; extraction

VAL_LABELS = [2, 0, 1, 1, 2, 0]  # class index (into WNIDS) of ILSVRC2012_val_00000001.. 06: not class-ordered
DEVKIT_IDS = {WNIDS[2]: 1, WNIDS[0]: 2, WNIDS[1]: 3}  # ILSVRC2012_ID order differs from the sorted-wnid order


def _jpeg(path, rgb, i=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40 + 8 * i, 40), rgb).save(path, quality=95)


def _val_name(n):
    return f"ILSVRC2012_val_{n:08d}"


def _raw_tree(data_dir):
    """train/<wnid>/ folders and a flat val/ of ILSVRC2012_val_*.JPEG (the raw ILSVRC2012 / Kaggle shape)."""
    for k, (wnid, rgb) in enumerate(zip(WNIDS, COLORS)):
        for i in range(2):
            _jpeg(data_dir / "train" / wnid / f"{wnid}_{i}.JPEG", rgb, i)
    for n, k in enumerate(VAL_LABELS, 1):
        _jpeg(data_dir / "val" / f"{_val_name(n)}.JPEG", COLORS[k], n)


def _reference(tmp_path):
    """The same images sorted into class folders, read by torchvision's ImageFolder: the label truth."""
    from torchvision.datasets import ImageFolder

    ref = tmp_path / "reference"
    _raw_tree(ref)
    for n, k in enumerate(VAL_LABELS, 1):
        (ref / "val" / WNIDS[k]).mkdir(exist_ok=True)
        (ref / "val" / f"{_val_name(n)}.JPEG").rename(ref / "val" / WNIDS[k] / f"{_val_name(n)}.JPEG")
    return [[(os.path.basename(p), y) for p, y in ImageFolder(str(ref / s)).samples] for s in ("train", "val")]


def _loc_csv(path, extra_rows=True):
    rows = [f"{_val_name(n)},{WNIDS[k]} 1 2 30 40 {WNIDS[k]} 5 6 20 30" for n, k in enumerate(VAL_LABELS, 1)]
    if extra_rows:  # images of the full set that are not on disk are fine
        rows.append(f"{_val_name(49999)},n09999999 1 2 3 4")
    path.write_text("ImageId,PredictionString\n" + "\n".join(rows[::-1]) + "\n")


def _devkit_files(data_dir):
    """meta.mat in the devkit's struct format (synsets: ILSVRC2012_ID, WNID, words, ..., num_children; non-leaf
    synsets after the 1000 leaves) and the 1-based ground truth, one ILSVRC2012_ID per val image."""
    from scipy.io import savemat

    data_dir.mkdir(parents=True)
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    rows = [(i, w, f"name of {w}, alias", "gloss", 0, np.zeros((1, 0)), 0, 2) for w, i in DEVKIT_IDS.items()]
    rows.append((4, "n00001740", "entity", "root", 3, np.array([1, 2, 3]), 5, 0))
    synsets = np.empty((len(rows), 1), dtype=[(f, "O") for f in fields])
    for r, row in enumerate(rows):
        synsets[r, 0] = row
    savemat(str(data_dir / "meta.mat"), {"synsets": synsets})
    (data_dir / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{DEVKIT_IDS[WNIDS[k]]}\n" for k in VAL_LABELS))


def _devkit_folder(root):
    _devkit_files(root / "ILSVRC2012_devkit_t12" / "data")


def _devkit_tarball(root):
    _devkit_files(root / "tmp_devkit" / "ILSVRC2012_devkit_t12" / "data")
    with tarfile.open(root / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tar:
        tar.add(root / "tmp_devkit" / "ILSVRC2012_devkit_t12", arcname="ILSVRC2012_devkit_t12")
    shutil.rmtree(root / "tmp_devkit")


def _kaggle(root):
    shutil.move(root / "train", root / "tmp_train")
    shutil.move(root / "val", root / "tmp_val")
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    data.mkdir(parents=True)
    shutil.move(root / "tmp_train", data / "train")
    shutil.move(root / "tmp_val", data / "val")
    _loc_csv(root / "LOC_val_solution.csv")
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} name of {w}, alias\n" for w in WNIDS))


LAYOUTS = {
    "flat_val_loc_csv": (lambda r: _loc_csv(r / "LOC_val_solution.csv"), None),
    "flat_val_devkit_folder": (_devkit_folder, "name of"),
    "flat_val_devkit_tarball": (_devkit_tarball, "name of"),
    "kaggle": (_kaggle, "name of"),
}


def _as_names(dataset):
    return [(os.path.basename(p), y) for p, y in dataset.samples]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_raw_and_kaggle_layouts_match_imagefolder_labels(tmp_path, layout):
    ref_train, ref_val = _reference(tmp_path)
    root = tmp_path / "data"
    _raw_tree(root)
    make, names = LAYOUTS[layout]
    make(root)
    train, val = inet.imagenet_datasets(root, image_size=16)
    assert train.wnids == WNIDS and train.class_to_idx == {w: i for i, w in enumerate(WNIDS)}
    assert _as_names(train) == ref_train and _as_names(val) == ref_val
    assert val.targets == [y for _, y in ref_val] and len(val) == len(VAL_LABELS)
    assert train.class_names == ([f"name of {w}" for w in WNIDS] if names else WNIDS)
    for i in range(len(val)):  # the planted colour of each val image is its label's colour
        x, y = val[i]
        assert int(x.mean((1, 2)).argmax()) == int(np.argmax(COLORS[y]))
    sub_train, sub_val = inet.imagenet_datasets(root, image_size=16, subset_classes=[WNIDS[2], WNIDS[0]],
                                                subset_per_class=1)
    assert _as_names(sub_val) == [(f"{_val_name(2)}.JPEG", 1), (f"{_val_name(1)}.JPEG", 0)]
    assert len(sub_train) == 2


def test_flat_val_label_errors(tmp_path):
    root = tmp_path / "data"
    _raw_tree(root)
    with pytest.raises(FileNotFoundError, match=r"val: flat val folder \(6 images\) but no labels: put LOC_val"):
        inet.imagenet_datasets(root)
    _loc_csv(root / "LOC_val_solution.csv")
    _jpeg(root / "val" / "ILSVRC2012_val_00000007.JPEG", COLORS[0])
    with pytest.raises(ValueError, match=r"1 val images have no label in .*LOC_val_solution.csv: "
                                         r"\['ILSVRC2012_val_00000007.JPEG'\]"):
        inet.imagenet_datasets(root)
    (root / "val" / "ILSVRC2012_val_00000007.JPEG").unlink()
    (root / "val" / WNIDS[0]).mkdir()  # half-sorted val
    _jpeg(root / "val" / WNIDS[0] / "x.JPEG", COLORS[0])
    with pytest.raises(ValueError, match=r"mixes 1 class folders and 6 loose images"):
        inet.imagenet_datasets(root)


def test_hidden_folders_and_files_are_ignored(root, tmp_path):
    before = [_as_names(d) for d in inet.imagenet_datasets(root, image_size=16)]
    for split in ("train", "val"):
        _jpeg(root / split / ".ipynb_checkpoints" / "a.JPEG", COLORS[0])
        _jpeg(root / split / WNIDS[1] / ".hidden.JPEG", COLORS[0])
        _jpeg(root / split / WNIDS[1] / ".cache" / "b.JPEG", COLORS[0])
    _jpeg(root / "train" / ".cache" / "c.JPEG", COLORS[0])  # only in train
    train, val = inet.imagenet_datasets(root, image_size=16)
    assert [_as_names(train), _as_names(val)] == before and train.wnids == WNIDS
    assert not any("/." in p for p, _ in train.samples + val.samples)
    # flat val: macOS '._' files and hidden folders next to the images
    flat = tmp_path / "flat"
    _raw_tree(flat)
    _loc_csv(flat / "LOC_val_solution.csv")
    ref = [_as_names(d) for d in inet.imagenet_datasets(flat, image_size=16)]
    _jpeg(flat / "val" / f"._{_val_name(1)}.JPEG", COLORS[0])
    _jpeg(flat / "val" / ".Trash" / "d.JPEG", COLORS[0])
    assert [_as_names(d) for d in inet.imagenet_datasets(flat, image_size=16)] == ref


def test_completeness_check_names_the_shortfall(root, tmp_path):
    with pytest.raises(ValueError) as err:
        inet.check_imagenet_complete(root)
    msg = str(err.value)
    assert "not the complete ImageNet" in msg and "train/ has 3 of 1000 class folders (997 missing)" in msg
    assert "12 train images, expected 1281167" in msg and "6 val images, expected 50000" in msg
    with pytest.raises(ValueError, match="3 of 1000 class folders"):
        inet.imagenet_datasets(root, require_complete=True)
    tree = inet.check_imagenet_complete(root, expect_classes=3, expect_val=6, expect_train=12)
    assert list(tree.train) == WNIDS and tree.val_labels == "class folders"
    inet.imagenet_datasets(root, image_size=16, require_complete=False)  # default: no check
    shutil.rmtree(root / "train" / WNIDS[2])
    with pytest.raises(ValueError) as err:
        inet.check_imagenet_complete(root, expect_classes=3, expect_val=6, expect_train=12)
    msg = str(err.value)
    assert "train/ has 2 of 3 class folders (1 missing, e.g. ['n01484850'] seen in val)" in msg
    assert "1 classes in val not in train ['n01484850']" in msg and "8 train images, expected 12" in msg
    assert "val images" not in msg
    # flat val (devkit labels): a val image removed, an empty train class
    flat = tmp_path / "flat"
    _raw_tree(flat)
    _devkit_tarball(flat)
    inet.check_imagenet_complete(flat, expect_classes=3, expect_val=6, expect_train=6)
    (flat / "val" / f"{_val_name(6)}.JPEG").unlink()
    for p in (flat / "train" / WNIDS[0]).iterdir():
        p.unlink()
    with pytest.raises(ValueError) as err:
        inet.imagenet_datasets(flat, require_complete=True)  # default expectations: the full ImageNet
    msg = str(err.value)
    assert "1 empty train class folders ['n01440764']" in msg and "5 val images, expected 50000" in msg
    assert "ILSVRC2012_devkit_t12.tar.gz" in msg


def _fake_extract(log, split):
    def parse(root, file=None, folder=split, **kwargs):
        with open(log, "a") as f:
            f.write(f"{split}\n")
        time.sleep(0.5)
        d = os.path.join(root, folder, WNIDS[0])
        os.makedirs(d)
        if os.environ.get("FAKE_EXTRACT_FAIL") == split:
            raise OSError("disk full")
        Image.new("RGB", (8, 8)).save(os.path.join(d, "x.JPEG"))
    return parse


def _prepare(root):
    inet._prepare_from_archives(root)


def test_archive_extraction_is_locked_and_atomic(tmp_path, monkeypatch):
    root, log = tmp_path / "inet", tmp_path / "log"
    root.mkdir()
    torch.save(({w: (w,) for w in WNIDS}, WNIDS), root / "meta.bin")
    monkeypatch.setattr(inet.tv_imagenet, "parse_train_archive", _fake_extract(log, "train"))
    monkeypatch.setattr(inet.tv_imagenet, "parse_val_archive", _fake_extract(log, "val"))
    # a killed extraction leaves only a hidden partial folder, never a train/ taken as complete
    monkeypatch.setenv("FAKE_EXTRACT_FAIL", "train")
    with pytest.raises(OSError, match="disk full"):
        inet._prepare_from_archives(root)
    assert not (root / "train").exists() and (root / ".train.partial").is_dir()
    monkeypatch.delenv("FAKE_EXTRACT_FAIL")
    log.unlink()
    # several jobs at once: one extracts each split, the others wait for it and reuse it
    ctx = multiprocessing.get_context("fork")
    jobs = [ctx.Process(target=_prepare, args=(root,)) for _ in range(3)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(30)
    assert [j.exitcode for j in jobs] == [0, 0, 0]
    assert sorted(log.read_text().split()) == ["train", "val"]
    assert (root / "train" / WNIDS[0] / "x.JPEG").is_file() and not (root / ".train.partial").exists()
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["meta.bin", "train", "val"]
