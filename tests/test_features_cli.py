"""``convrnn features``: any folder (or CSV) of images through a run's model or a released checkpoint, the same
numbers as ``extract_features`` on the same images, and one line naming a bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from convrnn.cli import main
from convrnn.data.brainscore import load_images
from convrnn.data.stimuli import generate_stimuli
from convrnn.export.images import TABLE_COLUMNS
from convrnn.features.extract import extract_features
from convrnn.features.store import load_feature_set
from convrnn.io import save_tensors, write_parquet
from convrnn.models import build

SPEC = {"arch": "rgc_shallow", "overrides": {"width": 0.0625, "times": 8, "image_off": 6, "image_size": 32}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run's model folder (weights + result.parquet, as train_model writes them) and 20 images of mixed formats
    and sizes in a folder tree."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = build(SPEC, num_classes=8).eval()
    folder = root / "results" / "models" / "rgc_x"
    save_tensors(model.state_dict(), folder / "weights.safetensors")
    write_parquet(pd.DataFrame({"model": ["rgc_x"], "arch": ["rgc_shallow"], "spec": [json.dumps(SPEC)]}),
                  folder / "result.parquet")
    images, meta = generate_stimuli(n_categories=4, objects_per_category=1, images_per_object={"V3": 5},
                                    image_size=48, seed=5, id_prefix="img")
    (root / "images" / "sub").mkdir(parents=True)
    for i, img in enumerate(images):           # JPEG and PNG, one subfolder, non-square ones
        im = Image.fromarray(img).resize((48 + 8 * (i % 3), 48))
        where = root / "images" / ("sub" if i % 4 == 0 else "") / f"{i:02d}.{'jpg' if i % 2 else 'png'}"
        im.save(where)
    return root, model, folder


def _expected(model, paths, **kw):
    imgs = load_images(pd.DataFrame({"image_path": [str(p) for p in paths]}), 32)
    return extract_features(model, imgs, [str(p) for p in paths], times=26, image_off=10, **kw)


def test_twenty_images_through_the_console_script_in_seconds(run, tmp_path):
    root, model, folder = run
    script = Path(sys.executable).parent / "convrnn"
    out = tmp_path / "f.parquet"
    start = time.perf_counter()
    proc = subprocess.run([str(script), "features", "--model", str(folder), "--images", str(root / "images"),
                           "--out", str(out), "--layers", "conv3,conv5", "--steps", "0,4-9", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 60, f"{elapsed:.1f} s"                 # measured ~6 s on 2 CPU cores, torch import included
    table = pd.read_parquet(out)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 20 * 2 * 7 and table["model"].unique().tolist() == ["rgc_x"]
    paths = sorted(p for p in (root / "images").rglob("*") if p.suffix in (".jpg", ".png"))
    assert sorted(table["stimulus_id"].unique()) == sorted(p.relative_to(root / "images").as_posix() for p in paths)
    want = _expected(model, paths, layers=["conv3", "conv5"])
    for layer in ("conv3", "conv5"):
        for step in (0, 4, 5, 9):
            rows = table[(table["layer"] == layer) & (table["model_step"] == step)]
            rows = rows.set_index("image_path").loc[[str(p) for p in paths]]
            got = np.stack(rows["features"].to_numpy())
            np.testing.assert_allclose(got, want.features[layer][step], rtol=1e-6, atol=1e-7)
            assert (rows["n_features"] == got.shape[1]).all()
            assert rows["image_on"].all() == (step < 10)


def test_csv_pool_pca_and_tensor_output(run, tmp_path, capsys):
    root, model, folder = run
    paths = sorted((root / "images").glob("*.png"))
    pd.DataFrame({"stimulus_id": [f"s{i}" for i in range(len(paths))],
                  "image_path": [os.path.relpath(p, tmp_path) for p in paths]}).to_csv(tmp_path / "list.csv")
    out = tmp_path / "f.safetensors"
    code = main(["features", "--model", str(folder), "--images", str(tmp_path / "list.csv"), "--out", str(out),
                 "--layers", "conv2", "--pool", "avg", "--pca", "3", "--pca-images", str(root / "images" / "sub"),
                 "--constant", "--times", "6", "--quiet", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    fs = load_feature_set(out, out.with_suffix(".parquet"), model="rgc_x")
    assert fs.stimulus_ids == [f"s{i}" for i in range(len(paths))]
    pca = sorted((root / "images" / "sub").glob("*"))
    imgs = load_images(pd.DataFrame({"image_path": [str(p) for p in paths]}), 32)
    want = extract_features(model, imgs, fs.stimulus_ids, times=6, image_off=6, layers=["conv2"], pool="avg",
                            pca_components=3, pca_images=load_images(pd.DataFrame({"image_path": pca}), 32))
    assert fs.features["conv2"].shape == (6, len(paths), 3)
    np.testing.assert_allclose(fs.features["conv2"], want.features["conv2"], rtol=1e-5, atol=1e-6)


def test_a_released_checkpoint(run, tmp_path, capsys):
    from test_pretrained import random_checkpoint, ugrnn_reference_shapes

    from convrnn.models.pretrained import load_pretrained

    root, _, _ = run
    random_checkpoint(tmp_path / "ugrnn_intermediate" / "model.ckpt", ugrnn_reference_shapes(num_classes=10), seed=1)
    out = tmp_path / "f.parquet"
    code = main(["features", "--model", "ugrnn_intermediate", "--checkpoint", str(tmp_path / "ugrnn_intermediate"),
                 "--overrides", '{"width": 0.125}', "--num-classes", "10", "--image-size", "32",
                 "--images", str(root / "images" / "sub"), "--out", str(out), "--layers", "conv8", "--steps", "12",
                 "--quiet", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    net = load_pretrained(build("ugrnn_intermediate", width=0.125, num_classes=10, image_size=32),
                          tmp_path / "ugrnn_intermediate" / "model.ckpt").eval()
    paths = sorted((root / "images" / "sub").glob("*"))
    table = pd.read_parquet(out).set_index("image_path").loc[[str(p) for p in paths]]
    want = _expected(net, paths, layers=["conv8"]).features["conv8"][12]
    np.testing.assert_allclose(np.stack(table["features"].to_numpy()), want, rtol=1e-5, atol=1e-6)
    # the checkpoint's folder alone names the arch (the download layout <arch>/model.ckpt)
    code = main(["features", "--model", str(tmp_path / "ugrnn_intermediate"), "--overrides", '{"width": 0.125}',
                 "--num-classes", "10", "--image-size", "32", "--images", str(root / "images" / "sub"),
                 "--out", str(tmp_path / "g.parquet"), "--layers", "conv8", "--steps", "12", "--quiet"])
    assert code == 0 and pd.read_parquet(tmp_path / "g.parquet")["features"].equals(pd.read_parquet(out)["features"])


@pytest.mark.parametrize("case, named", [
    ("unreadable", "broken.png: cannot read image"),
    ("layer", "--layers: unknown layer(s) ['conv9']"),
    ("model", "--model 'nosuch'"),
    ("step", "--steps: step(s) [30]"),
    ("folder", "no such folder or CSV"),
])
def test_bad_input_is_one_line_naming_it(run, tmp_path, capsys, case, named):
    root, _, folder = run
    images = root / "images"
    args = {"model": str(folder), "images": str(images), "layers": "conv3", "steps": "all"}
    if case == "unreadable":
        images = tmp_path / "imgs"
        images.mkdir()
        Image.new("RGB", (8, 8)).save(images / "ok.png")
        (images / "broken.png").write_bytes(b"not an image")
        args["images"] = str(images)
    else:
        args.update({"layer": {"layers": "conv3,conv9"}, "model": {"model": "nosuch"}, "step": {"steps": "0,30"},
                     "folder": {"images": str(tmp_path / "absent")}}[case])
    code = main(["features", *[x for k, v in args.items() for x in (f"--{k}", v)], "--out",
                 str(tmp_path / "x.parquet"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and named in err, err
    assert err.startswith("convrnn features: error:")
    assert not (tmp_path / "x.parquet").exists()
