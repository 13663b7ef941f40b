"""Features of any folder of images (the ``convrnn features`` command): a run's model or a released checkpoint,
the papers' preprocessing and presentation, chosen layers and steps, optional pooling and PCA.

Preprocessing: ``convrnn.data.brainscore.load_images`` (shorter side resized to the model's image size, centre crop,
RGB), then ImageNet mean/std normalisation (``convrnn.data.stimuli.normalize``), as the DAG's real stimuli. The
presentation: a ConvRNN is unrolled for ``times`` steps with the image on for the first ``image_off`` and gray after
(the papers' neural presentation: 26 steps, 10 on); ``image_off = times`` is a constant presentation. A static model
(feed-forward graph, minimal-unroll control) is recorded once, as its response to the image (``time_course``
``static``), as the DAG records it, unless asked to be unrolled. Extraction is ``extract_features`` itself, so the
numbers are the DAG's for the same images.

Output (docs/data_formats.md, "Features of an image folder"): a Parquet table, one row per image x layer x step; or
(``.safetensors`` out) the DAG's layout: one (T, N, D) tensor per layer plus a Parquet index.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PATH_COLUMNS = ("image_path", "path", "filename", "file")
TABLE_COLUMNS = ["model", "stimulus_id", "image_path", "layer", "layer_index", "time_course", "model_step",
                 "image_on", "n_features", "features"]


# ------------------------------------------------------------------------------------------------ images
def list_images(source: str | os.PathLike) -> pd.DataFrame:
    """``stimulus_id, image_path`` of every JPEG/PNG under a folder (sorted; the id is the path inside the folder),
    or of the rows of a CSV with a path column (``image_path``, ``path``, ``filename`` or ``file``; relative paths
    from the CSV's folder) and an optional ``stimulus_id`` column."""
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{src}: no JPEG or PNG images in this folder")
        table = pd.DataFrame({"stimulus_id": [p.relative_to(src).as_posix() for p in files],
                              "image_path": [str(p) for p in files]})
    elif src.is_file() and src.suffix.lower() == ".csv":
        csv = pd.read_csv(src)
        col = next((c for c in PATH_COLUMNS if c in csv.columns), None)
        if col is None:
            raise ValueError(f"{src}: no image path column (one of {list(PATH_COLUMNS)}); has {list(csv.columns)}")
        if csv.empty:
            raise ValueError(f"{src}: no rows")
        paths = [Path(p) if Path(p).is_absolute() else src.parent / p for p in csv[col].astype(str)]
        ids = csv["stimulus_id"].astype(str).tolist() if "stimulus_id" in csv.columns else [str(p) for p in csv[col]]
        table = pd.DataFrame({"stimulus_id": ids, "image_path": [str(p) for p in paths]})
    elif src.exists():
        raise ValueError(f"{src}: not a folder of images or a .csv of image paths")
    else:
        raise FileNotFoundError(f"{src}: no such folder or CSV")
    dup = table["stimulus_id"][table["stimulus_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{src}: stimulus_id {dup.iloc[0]!r} appears more than once")
    return table


# ------------------------------------------------------------------------------------------------ models
def infer_num_classes(spec: Mapping, weights: str | os.PathLike) -> int:
    """The readout width a weights file was trained with: the parameters whose shape follows ``num_classes`` (found
    by building the model twice on torch's meta device) give it from the file's header."""
    import torch
    from safetensors import SafetensorError, safe_open

    from convrnn.models import build

    with torch.device("meta"):
        one, two = build(spec, num_classes=1).state_dict(), build(spec, num_classes=2).state_dict()
    keys = [k for k in one if one[k].shape != two[k].shape and one[k].dim() >= 1 and one[k].shape[0] == 1]
    try:
        with safe_open(str(weights), "np") as f:
            shapes = {k: f.get_slice(k).get_shape() for k in keys if k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights}: not a readable safetensors file ({e})") from e
    if not shapes:
        raise ValueError(f"{weights}: holds no readout of a {spec['arch']} model")
    return int(next(iter(shapes.values()))[0])


def load_model(model: str, *, checkpoint: str | os.PathLike | None = None, arch: str | None = None,
               overrides: Mapping | None = None, num_classes: int | None = None, image_size: int | None = None):
    """(model, name, image size) for ``model``: a run's model folder (``results/models/<id>``: weights.safetensors,
    the spec from its result.parquet, or ``arch`` for a converted released model, which has none), a run's model id
    (that folder under the working directory), a released TF checkpoint (``model.ckpt`` prefix or its folder; the
    arch is the folder's name) or a zoo name with ``checkpoint``. ``overrides``: build overrides on top (a
    checkpoint's or an ``arch``'s; a run's spec has its own)."""
    from convrnn.models import build, names
    from convrnn.models.weights import load_weights

    overrides = dict(overrides or {})
    if image_size:
        overrides["image_size"] = int(image_size)
    path = Path(model)
    if checkpoint is None and _tf_prefix(path) is not None:
        checkpoint, model = path, (path if path.is_dir() else path.parent).resolve().name
    if checkpoint is not None:
        if model not in names():
            raise ValueError(f"--model {model!r}: not a zoo model, so no TF checkpoint maps onto it "
                             f"(zoo: {', '.join(names())})")
        prefix = _tf_prefix(Path(checkpoint))
        if prefix is None:
            raise FileNotFoundError(f"{checkpoint}: no TF checkpoint (model.ckpt.index) there")
        from convrnn.data.pretrained_catalog import NUM_CLASSES
        from convrnn.models.pretrained import load_pretrained

        overrides.setdefault("image_size", 224)   # the released models' size: per-position kernels depend on it
        net = load_pretrained(build(model, **overrides, num_classes=num_classes or NUM_CLASSES), prefix)
        return net.eval(), model, int(overrides["image_size"])
    folder = path if (path / "weights.safetensors").is_file() else Path("results") / "models" / model
    if not (folder / "weights.safetensors").is_file():
        raise ValueError(f"--model {model!r}: not a run's model folder (with weights.safetensors), a run's model id "
                         f"under ./results/models, or a TF checkpoint; a released model: --model ARCH --checkpoint DIR")
    weights = folder / "weights.safetensors"
    result = folder / "result.parquet"
    if arch:
        spec = {"arch": arch, "overrides": overrides}
    elif result.is_file():
        spec = json.loads(pd.read_parquet(result, columns=["spec"])["spec"].iloc[0])
        spec = {"arch": spec["arch"], "overrides": {**(spec.get("overrides") or {}), **overrides}}
    else:
        raise ValueError(f"{folder}: no result.parquet to read the model's spec from (a converted released model?): "
                         "pass --arch NAME (and --image-size)")
    k = num_classes or infer_num_classes(spec, weights)
    net = load_weights(build(spec, num_classes=k), weights)
    return net, folder.resolve().name, int(spec["overrides"].get("image_size") or 224)


def _tf_prefix(path: Path) -> Path | None:
    """The ``model.ckpt`` prefix of a TF checkpoint at ``path`` (the prefix itself, or a folder holding it)."""
    if path.is_dir() and (path / "model.ckpt.index").is_file():
        return path / "model.ckpt"
    if Path(f"{path}.index").is_file():
        return path
    return None


# ------------------------------------------------------------------------------------------------ extraction
def parse_steps(text: str | None, n_steps: int) -> list[int]:
    """``all`` / None, or a comma list of steps and ranges (``0,5,10-12``), each below ``n_steps``."""
    if text in (None, "", "all"):
        return list(range(n_steps))
    steps = []
    for part in str(text).split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            steps += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        except ValueError:
            raise ValueError(f"--steps {text!r}: not a list of steps and ranges such as 0,5,10-12") from None
    bad = sorted({s for s in steps if not 0 <= s < n_steps})
    if bad:
        raise ValueError(f"--steps: step(s) {bad} outside the {n_steps} recorded step(s) (0..{n_steps - 1})")
    return list(dict.fromkeys(steps))


def image_features(model, images: pd.DataFrame, *, image_size: int, times: int = 26, image_off: int = 10,
                   layers: Sequence[str] | None = None, steps: str | None = None, static: bool = True,
                   pool: str | None = None, pca_components: int = 0, pca_images: pd.DataFrame | None = None,
                   batch_size: int = 64, device="cpu", seed: int = 0, progress: bool = True):
    """A ``FeatureSet`` of ``images`` (``list_images``'s table) with only the chosen ``steps``; images are read and
    processed ``batch_size`` at a time (a progress bar per batch), the PCA basis fitted once first on
    ``pca_images``."""
    from tqdm import tqdm

    from convrnn.data.brainscore import load_images
    from convrnn.features.extract import extract_features, fit_pca_bases
    from convrnn.features.store import FeatureSet

    if not 1 <= image_off <= times:
        raise ValueError(f"--image-off {image_off}: must lie in 1..--times ({times})")
    names = list(model.layer_names)
    layers = names if layers in (None, "all") else list(layers)
    unknown = [layer for layer in layers if layer not in names]
    if unknown:
        raise ValueError(f"--layers: unknown layer(s) {unknown}; {getattr(model, 'name', 'the model')} has {names}")
    static = bool(static and getattr(model, "static", False))
    chosen = parse_steps(steps, 1 if static else times)
    model = model.to(device).eval()
    bases = {}
    if pca_components > 0:
        if pca_images is None or not len(pca_images):
            raise ValueError("--pca needs --pca-images (images that are not the ones described)")
        bases = fit_pca_bases(model, load_images(pca_images, image_size), layers, components=pca_components,
                              times=times, image_off=image_off, static=static, batch_size=batch_size, device=device,
                              seed=seed, pool=pool)
    ids = images["stimulus_id"].tolist()
    out, logits, index = {}, None, None
    for lo in tqdm(range(0, len(images), batch_size), desc="features", unit="batch", disable=not progress):
        chunk = images.iloc[lo:lo + batch_size]
        fs = extract_features(model, load_images(chunk, image_size), ids[lo:lo + batch_size], times=times,
                              image_off=image_off, layers=layers, static=static, batch_size=batch_size,
                              device=device, seed=seed, pool=pool, pca_bases=bases)
        for layer, f in fs.features.items():
            if layer not in out:
                out[layer] = np.empty((len(chosen), len(images), f.shape[-1]), np.float32)
            out[layer][:, lo:lo + len(chunk)] = f[chosen]
        if logits is None:
            logits = np.empty((len(chosen), len(images), fs.logits.shape[-1]), np.float32)
        logits[:, lo:lo + len(chunk)] = fs.logits[chosen]
        index = fs.index
    index = index[index["model_step"].isin(chosen)].reset_index(drop=True)
    return FeatureSet(out, logits, index, ids)


def feature_table(fs, images: pd.DataFrame, model_id: str, image_off: int) -> "pa.Table":  # noqa: F821
    """The long table (``TABLE_COLUMNS``): one row per image x layer x step, the features as a list column."""
    import pyarrow as pa

    parts = []
    n = len(fs.stimulus_ids)
    for layer, arr in fs.features.items():
        rows = fs.index[fs.index["layer"] == layer].reset_index(drop=True)
        for i, r in rows.iterrows():
            values = np.ascontiguousarray(arr[i])                   # (N, D), step i of the chosen ones
            d = values.shape[1]
            static = r["time_course"] == "static"
            parts.append(pa.table({
                "model": pa.array([model_id] * n), "stimulus_id": pa.array(fs.stimulus_ids),
                "image_path": pa.array(images["image_path"].tolist()), "layer": pa.array([layer] * n),
                "layer_index": pa.array(np.full(n, r["layer_index"], np.int32)),
                "time_course": pa.array([r["time_course"]] * n),
                "model_step": pa.array(np.full(n, r["model_step"], np.int32)),
                "image_on": pa.array(np.full(n, static or r["model_step"] < image_off)),
                "n_features": pa.array(np.full(n, d, np.int32)),
                "features": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * d),
                                                     pa.array(values.ravel())),
            }))
    return pa.concat_tables(parts)


def write_features(fs, images: pd.DataFrame, out: str | os.PathLike, model_id: str, image_off: int) -> list[Path]:
    """``out`` .parquet: the long table; ``out`` .safetensors: the DAG's layout, the index beside it (.parquet)."""
    import pyarrow.parquet as pq

    from convrnn.features.store import save_feature_set
    from convrnn.io import atomic_path

    out = Path(out)
    if out.suffix == ".safetensors":
        index = out.with_suffix(".parquet")
        save_feature_set(fs, out, index, model_id)
        return [out, index]
    if out.suffix != ".parquet":
        raise ValueError(f"--out {out}: give a .parquet file (a table) or a .safetensors file (tensors + index)")
    table = feature_table(fs, images, model_id, image_off)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    return [out]
