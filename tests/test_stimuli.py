import numpy as np
import pandas as pd
import pytest
import torch

from convrnn.data import stimuli
from convrnn.data.stimuli import (IMAGENET_MEAN, IMAGENET_STD, META_COLUMNS, StimulusDataset,
                                  generate_stimuli, normalize, save_stimuli)

torch.set_num_threads(1)
SMALL = dict(n_categories=4, objects_per_category=3, images_per_object={"V0": 2, "V3": 4, "V6": 4})


@pytest.fixture(scope="module")
def small_set():
    return generate_stimuli(**SMALL, seed=3)


def test_same_seed_same_bytes_different_seed_different(small_set):
    images, meta = small_set
    again, meta2 = generate_stimuli(**SMALL, seed=3)
    assert images.tobytes() == again.tobytes()
    pd.testing.assert_frame_equal(meta, meta2)
    other, meta3 = generate_stimuli(**SMALL, seed=4)
    assert images.shape == other.shape and images.tobytes() != other.tobytes()
    assert not np.allclose(meta.loc[meta.variation == "V6", "tx"], meta3.loc[meta3.variation == "V6", "tx"])


def test_levels_are_independent_streams():
    """Adding V6 images must not change the V0 ones (each level has its own random stream)."""
    a, ma = generate_stimuli(n_categories=2, objects_per_category=2, images_per_object={"V0": 3}, seed=1)
    b, mb = generate_stimuli(n_categories=2, objects_per_category=2, images_per_object={"V0": 3, "V6": 2}, seed=1)
    assert a.tobytes() == b[mb.variation.to_numpy() == "V0"].tobytes()


def test_schema_dtypes_and_order(small_set):
    images, meta = small_set
    n = 4 * 3 * (2 + 4 + 4)
    assert images.shape == (n, 32, 32, 3) and images.dtype == np.uint8
    assert list(meta.columns[:len(META_COLUMNS)]) == META_COLUMNS and len(meta) == n
    for col in ("category_id", "object_id", "variation_level"):
        assert meta[col].dtype == np.int64, col
    for col in ("tx", "ty", "scale", "rotation_deg"):
        assert meta[col].dtype == np.float64, col
    assert meta.stimulus_id.is_unique
    assert (meta.category_id == meta.object_id // 3).all()
    assert meta.groupby("category_id").category.nunique().eq(1).all()
    assert meta.category.iloc[0] == stimuli.CATEGORIES[0]


def test_labels_balanced(small_set):
    _, meta = small_set
    assert meta.category_id.value_counts().nunique() == 1
    counts = meta.groupby(["variation", "object_id"]).size().unstack(0)
    assert (counts["V0"] == 2).all() and (counts["V3"] == 4).all() and (counts["V6"] == 4).all()


def test_variation_ranges(small_set):
    _, meta = small_set
    v0, v3, v6 = (meta[meta.variation == v] for v in ("V0", "V3", "V6"))
    assert (v0[["tx", "ty", "rotation_deg"]] == 0).all().all() and (v0.scale == 1).all()
    for col, bound3, bound6 in (("rotation_deg", 45, 90), ("tx", 0.25, 0.5), ("ty", 0.25, 0.5)):
        assert v3[col].abs().max() <= bound3 and v6[col].abs().max() <= bound6
        assert v6[col].abs().max() > v3[col].abs().max() > 0
    assert (v6.scale - 1).abs().max() > (v3.scale - 1).abs().max() > 0
    assert v6.scale.between(0.5, 1.5).all() and v3.scale.between(0.75, 1.25).all()


def _blob_centroid(tx, ty, rot, size=32):
    """Render a sprite whose only content is a dot right of centre; return its centroid (row, col)."""
    s = 16
    sprite = torch.zeros(1, 4, s, s)
    sprite[0, :, 7:9, 12:14] = 1.0  # white, opaque, right of centre
    img = stimuli._composite(sprite, np.zeros(1, np.int64), np.array([[tx, ty, 1.0, rot]]),
                             torch.zeros(1, 3, 4, 4), size)[0, :, :, 0].astype(float)
    rows, cols = np.indices(img.shape)
    return (rows * img).sum() / img.sum(), (cols * img).sum() / img.sum()


def test_pose_conventions():
    """tx moves right, ty moves down (units of the half-width), rotation is counter-clockwise."""
    r0, c0 = _blob_centroid(0, 0, 0)
    assert c0 > 16 and abs(r0 - 15.5) < 1
    r, c = _blob_centroid(0.5, 0, 0)
    assert c - c0 == pytest.approx(8, abs=0.5) and r == pytest.approx(r0, abs=0.5)
    r, c = _blob_centroid(0, 0.5, 0)
    assert r - r0 == pytest.approx(8, abs=0.5)
    r, c = _blob_centroid(0, 0, 90)
    assert r < 15 and abs(c - 15.5) < 1  # the dot went from right of centre to above it


def test_objects_differ_within_and_across_categories():
    images, meta = generate_stimuli(n_categories=3, objects_per_category=2, images_per_object={"V0": 1}, seed=0)
    flat = images.reshape(len(images), -1).astype(int)
    assert len({f.tobytes() for f in flat}) == len(flat)


@pytest.mark.parametrize("kwargs, name", [
    (dict(images_per_object={"V9": 2}), "images_per_object"),
    (dict(images_per_object={"V0": -1}), "images_per_object"),
    (dict(image_size=4), "image_size"),
    (dict(n_categories=1), "n_categories"),
    (dict(n_categories=len(stimuli.CATEGORIES) + 1), "n_categories"),
    (dict(objects_per_category=0), "objects_per_category"),
])
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_stimuli(**kwargs)


def test_normalize_matches_imagenet_stats():
    x = np.zeros((2, 8, 8, 3), np.uint8)
    x[1] = 255
    out = normalize(x)
    assert out.shape == (2, 3, 8, 8) and out.dtype == torch.float32
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out[0, :, 0, 0], -mean / std)
    torch.testing.assert_close(out[1, :, 0, 0], (1 - mean) / std)
    with pytest.raises(ValueError, match="images_uint8"):
        normalize(np.zeros((2, 8, 8, 3), np.float32))


@pytest.fixture()
def saved(tmp_path, small_set):
    images, meta = small_set
    paths = tmp_path / "set_images.safetensors", tmp_path / "set_meta.parquet"
    save_stimuli(images, meta, *paths)
    return paths


def test_dataset_returns_normalised_tensors(saved, small_set):
    images, meta = small_set
    ds = StimulusDataset(*saved)
    assert len(ds) == len(images)
    x, y = ds[7]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x, normalize(images[7:8])[0])
    assert y == meta.category_id[7]
    _, obj = StimulusDataset(*saved, label_column="object_id")[7]
    assert obj == meta.object_id[7]


def test_dataset_augmentation_is_reproducible(saved):
    ds = StimulusDataset(*saved, augment=True, seed=1)
    plain = StimulusDataset(*saved)
    a = torch.stack([ds[i][0] for i in range(20)])
    assert a.shape == (20, 3, 32, 32)
    torch.testing.assert_close(a, torch.stack([ds[i][0] for i in range(20)]))
    ds.set_epoch(1)
    assert not torch.equal(a, torch.stack([ds[i][0] for i in range(20)]))
    assert not torch.equal(a, torch.stack([plain[i][0] for i in range(20)]))


def test_mismatched_files_raise_naming_the_file(tmp_path, saved, small_set):
    images, meta = small_set
    other_meta = tmp_path / "other_meta.parquet"
    # Same length, different ids: caught by the id digest in the safetensors header.
    save_stimuli(images, meta.assign(stimulus_id="x" + meta.stimulus_id), tmp_path / "x.safetensors", other_meta)
    with pytest.raises(ValueError, match="other_meta.parquet"):
        StimulusDataset(saved[0], other_meta)
    short = tmp_path / "short_meta.parquet"
    save_stimuli(images[:5], meta[:5], tmp_path / "short.safetensors", short)
    with pytest.raises(ValueError, match="short_meta.parquet"):
        StimulusDataset(saved[0], short)
    with pytest.raises(ValueError, match="set_meta.parquet.*nope"):
        StimulusDataset(*saved, label_column="nope")
    with pytest.raises(ValueError, match="set_meta.parquet.*category"):
        StimulusDataset(*saved, label_column="category")  # strings are not labels
