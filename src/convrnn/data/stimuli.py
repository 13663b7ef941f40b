"""Procedural HvM-like object images (Majaj, Hong et al. 2015 design), generated offline from a seed.

Design (after HvM): categories x objects x variation levels. Each category is a family of 2-D shapes
with its own symmetry / Fourier signature (``SHAPE_FAMILIES``: ellipse, triangle, square, star, cross,
flower, teardrop, gear, lens, arrow), so category is learnable from shape alone; objects in a category
differ in a family parameter (e.g. star depth, arm width), aspect ratio, a low-order contour wobble,
colour, shading direction and an internal stripe pattern. Every object is rendered once as an RGBA
sprite and then pasted, with one batched ``affine_grid`` + ``grid_sample`` call, at a random pose onto
a low-pass noise background. Anti-aliasing is paid once per object, not per image: sprites are drawn
at 4x and box-filtered to the size an object has at ``scale=1``, so bilinear sampling minifies by at
most 2x (at ``scale=0.5``).

Variation levels (HvM names; ranges chosen here, HvM's exact 3-D ranges are not reproduced):

=====  ==============  =================  =========================================
level  rotation_deg    scale              tx, ty (units of the image half-width)
=====  ==============  =================  =========================================
V0     0               1                  0
V3     U(-45, 45)      U(0.75, 1.25)      U(-0.25, 0.25)
V6     U(-90, 90)      U(0.5, 1.5)        U(-0.5, 0.5)
=====  ==============  =================  =========================================

Geometry: at ``scale=1`` the object's outermost point lies ``OBJECT_RADIUS`` (0.6) image half-widths
from its centre. ``tx`` is positive to the right, ``ty`` positive downwards (image rows), and
``rotation_deg`` is counter-clockwise as displayed.

Randomness: object appearance depends only on ``object_seed`` (so training and neural stimulus sets
made with different ``seed`` show the same 64 objects, as in HvM); poses and backgrounds depend on
``seed`` and the variation level, so adding V6 images never changes the V0 ones.
"""
from __future__ import annotations

import colorsys
import hashlib
import os
from typing import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# level -> (max |rotation| in degrees, max |scale - 1|, max |translation|)
VARIATION_RANGES: dict[str, tuple[float, float, float]] = {
    "V0": (0.0, 0.0, 0.0),
    "V3": (45.0, 0.25, 0.25),
    "V6": (90.0, 0.5, 0.5),
}
OBJECT_RADIUS = 0.6
_SPRITE_SUPERSAMPLE = 4  # sprites are drawn at 4x and box-filtered: anti-aliased edges
_BATCH = 512  # images per grid_sample call (bounds memory at large image sizes)
_FILL = 0.9  # the shape's outermost point sits at 90 % of its sprite's half-width
SAVED_COLUMNS = ["stimulus_id", "object", "object_id", "category"]
META_COLUMNS = ["stimulus_id", "category", "category_id", "object", "object_id", "variation",
                "tx", "ty", "scale", "rotation_deg"]


# ----------------------------------------------------------------------------------------- shapes
# Each family maps polar angle phi (radians, counter-clockwise, 0 = right) and an object parameter
# u in [0, 1] to a contour radius r(phi); the family fixes the symmetry (the category's Fourier
# signature), u and a per-object contour wobble make the objects.
def _polygon(phi, m, pinch):
    """Regular m-gon with unit circumradius; ``pinch`` > 0 pulls the edges' middles inwards."""
    sector = np.mod(phi, 2 * np.pi / m) - np.pi / m
    return (1 - pinch) * np.cos(np.pi / m) / np.cos(sector) + pinch * np.cos(np.pi / m)


def _star(phi, m, inner):
    """Straight edges between tips (r=1 at angles 2*pi*k/m) and valleys (r=inner halfway between)."""
    half = np.pi / m
    t = half - np.abs(np.mod(phi, 2 * half) - half)  # angle from the nearest tip, in [0, half]
    x2, y2 = inner * np.cos(half), inner * np.sin(half)
    return y2 / (np.cos(t) * y2 - np.sin(t) * (x2 - 1))


def _cross(phi, arm):
    def bar(p):  # radius of the rectangle [-1, 1] x [-arm, arm]
        return np.minimum(1 / np.maximum(np.abs(np.cos(p)), 1e-9), arm / np.maximum(np.abs(np.sin(p)), 1e-9))
    return np.maximum(bar(phi), bar(phi + np.pi / 2))


def _superformula(phi, m, n1, n2, n3):  # Gielis 2003
    return (np.abs(np.cos(m * phi / 4)) ** n2 + np.abs(np.sin(m * phi / 4)) ** n3) ** (-1 / n1)


SHAPE_FAMILIES = {
    "ellipse": lambda p, u: 1 / np.sqrt(np.cos(p) ** 2 + (np.sin(p) / (0.45 + 0.2 * u)) ** 2),
    "triangle": lambda p, u: _polygon(p - np.pi / 2, 3, 0.3 * u),
    "square": lambda p, u: _polygon(p - np.pi / 4, 4, 0.3 * u),
    "star": lambda p, u: _star(p - np.pi / 2, 5, 0.38 + 0.15 * u),
    "cross": lambda p, u: _cross(p, 0.22 + 0.13 * u),
    "flower": lambda p, u: 1 - (0.25 + 0.15 * u) * (1 - np.abs(np.cos(3 * p))),
    "teardrop": lambda p, u: _superformula(p, 1, 0.4 + 0.2 * u, 0.5, 0.5),
    "gear": lambda p, u: 1 - (0.12 + 0.08 * u) * (1 + np.tanh(3 * np.cos(10 * p))) / 2,
    "lens": lambda p, u: _superformula(p, 2, 0.8 + 0.4 * u, 1, 1),
    "arrow": lambda p, u: _star(p, 3, 0.3 + 0.1 * u),
}
CATEGORIES = tuple(SHAPE_FAMILIES)


def _object_sprite(category: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One object as a premultiplied RGBA sprite (4, size, size) in [0, 1]; all draws from ``rng``.
    Drawn at ``_SPRITE_SUPERSAMPLE`` x ``size`` and box-filtered down."""
    u = rng.uniform()
    aspect = 1.0 if category == "ellipse" else rng.uniform(0.8, 1.0)
    wobble_amp, wobble_phase = rng.uniform(0, 0.06, 2), rng.uniform(0, 2 * np.pi, 2)
    hsv = (rng.uniform(), rng.uniform(0.3, 0.8), rng.uniform(0.55, 0.95))
    light = rng.uniform(0, 2 * np.pi)
    stripe_freq, stripe_ori = rng.uniform(1.5, 3.5), rng.uniform(0, np.pi)  # cycles per sprite width
    stripe_phase = rng.uniform(0, 2 * np.pi)

    fine = size * _SPRITE_SUPERSAMPLE
    c = (np.arange(fine) + 0.5) / fine * 2 - 1  # pixel centres in [-1, 1] (align_corners=False)
    x, y = np.meshgrid(c, c)  # y grows downwards (image rows)
    phi = np.arctan2(-y / aspect, x)
    rho = np.hypot(x, y / aspect) / _FILL
    contour = lambda p: SHAPE_FAMILIES[category](p, u) * (
        1 + sum(a * np.cos(k * p + ph) for k, a, ph in zip((2, 3), wobble_amp, wobble_phase)))
    grid = np.linspace(0, 2 * np.pi, 721)
    r = contour(phi) / contour(grid).max()  # outermost point at rho = 1
    alpha = np.clip((r - rho) * _FILL * fine / 2 + 0.5, 0, 1)  # ~1 fine pixel soft edge

    colour = np.array(colorsys.hsv_to_rgb(*hsv))[:, None, None]
    shade = 0.75 + 0.25 * (x * np.cos(light) - y * np.sin(light))
    along = x * np.cos(stripe_ori) + y * np.sin(stripe_ori)
    stripes = 1 + 0.12 * np.cos(np.pi * stripe_freq * along + stripe_phase)
    rim = 1 - 0.35 * np.clip(rho / np.maximum(r, 1e-6), 0, 1) ** 6  # darker towards the outline: a 3-D look
    rgb = np.clip(colour * (shade * stripes * rim), 0, 1)
    rgba = np.concatenate([rgb * alpha, alpha[None]])
    return rgba.reshape(4, size, _SPRITE_SUPERSAMPLE, size, _SPRITE_SUPERSAMPLE).mean((2, 4)).astype(np.float32)


# --------------------------------------------------------------------------------------- generator
def check_generator_args(n_categories, objects_per_category, images_per_object, image_size):
    """Raise ValueError (starting with the argument's name) unless ``generate_stimuli`` can make this set."""
    if not isinstance(n_categories, (int, np.integer)) or not 2 <= n_categories <= len(CATEGORIES):
        raise ValueError(f"n_categories must be an int in [2, {len(CATEGORIES)}], got {n_categories!r}")
    if not isinstance(objects_per_category, (int, np.integer)) or objects_per_category < 1:
        raise ValueError(f"objects_per_category must be an int >= 1, got {objects_per_category!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not isinstance(images_per_object, Mapping) or not images_per_object:
        raise ValueError(f"images_per_object must be a non-empty dict like {{'V0': 2}}, got {images_per_object!r}")
    for level, n in images_per_object.items():
        if level not in VARIATION_RANGES:
            raise ValueError(f"images_per_object: unknown variation level {level!r}; "
                             f"expected one of {sorted(VARIATION_RANGES)}")
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"images_per_object[{level!r}] must be an int >= 0, got {n!r}")
    if sum(images_per_object.values()) == 0:
        raise ValueError("images_per_object: asks for 0 images in total")


def _background_seeds(rng: np.random.Generator, n: int) -> torch.Tensor:
    """Low-resolution noise (n, 3, 9, 9) for low-pass textured backgrounds: a coarse octave (4x4 cells,
    upsampled) plus a finer one, mostly grey with a weak colour tint. ``_composite`` upsamples it."""
    mean = rng.uniform(0.3, 0.7, (n, 1, 1, 1))
    coarse = 0.22 * (rng.normal(0, 1, (n, 1, 4, 4)) + rng.normal(0, 0.25, (n, 3, 4, 4)))
    fine = 0.10 * (rng.normal(0, 1, (n, 1, 9, 9)) + rng.normal(0, 0.25, (n, 3, 9, 9)))
    coarse = F.interpolate(torch.from_numpy(coarse).float(), size=(9, 9), mode="bicubic", align_corners=False)
    return coarse + torch.from_numpy(fine + mean).float()


def generate_stimuli(*, n_categories: int = 8, objects_per_category: int = 4,
                     images_per_object: Mapping[str, int] = {"V0": 2, "V3": 8, "V6": 8},  # noqa: B006 (read only)
                     image_size: int = 32, seed: int = 0, id_prefix: str = "s",
                     object_seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Render an HvM-like stimulus set.

    Returns ``images`` uint8 (N, H, W, 3) and ``meta`` with one row per image in the same order
    (variation level, then object, then image), columns :data:`META_COLUMNS` plus ``variation_level``
    (int 0/3/6). ``stimulus_id`` is ``f"{id_prefix}-{variation}-o{object_id:03d}-{k:03d}"``, so give
    sets that will be used together different prefixes. ``category`` is the shape family's name,
    ``object`` is ``f"{category}{index_in_category:02d}"``, ``object_id`` = category_id *
    objects_per_category + index_in_category. Categories and objects are exactly balanced.
    """
    check_generator_args(n_categories, objects_per_category, images_per_object, image_size)
    sprite_size = max(8, round(OBJECT_RADIUS / _FILL * image_size))  # a sprite's width in pixels at scale 1
    n_obj = n_categories * objects_per_category
    sprites = torch.from_numpy(np.stack([
        _object_sprite(CATEGORIES[c], np.random.default_rng([object_seed, 0, c, o]), sprite_size)
        for c in range(n_categories) for o in range(objects_per_category)]))

    rows, poses, backgrounds = [], [], []
    for level, k in images_per_object.items():
        if k == 0:
            continue
        rng = np.random.default_rng([seed, 1, int(level[1:])])
        n = n_obj * k
        max_rot, max_dscale, max_shift = VARIATION_RANGES[level]
        pose = np.column_stack([rng.uniform(-max_shift, max_shift, (n, 2)),
                                1 + rng.uniform(-max_dscale, max_dscale, n),
                                rng.uniform(-max_rot, max_rot, n)])
        poses.append(pose)
        backgrounds.append(_background_seeds(rng, n))
        obj = np.repeat(np.arange(n_obj), k)
        rows.append(pd.DataFrame({
            "stimulus_id": [f"{id_prefix}-{level}-o{o:03d}-{i:03d}"
                            for o, i in zip(obj, np.tile(np.arange(k), n_obj))],
            "category": [CATEGORIES[o // objects_per_category] for o in obj],
            "category_id": obj // objects_per_category,
            "object": [f"{CATEGORIES[o // objects_per_category]}{o % objects_per_category:02d}" for o in obj],
            "object_id": obj,
            "variation": level,
            "tx": pose[:, 0], "ty": pose[:, 1], "scale": pose[:, 2], "rotation_deg": pose[:, 3],
            "variation_level": int(level[1:]),
        }))
    meta = pd.concat(rows, ignore_index=True)
    meta["category_id"] = meta["category_id"].astype(np.int64)
    meta["object_id"] = meta["object_id"].astype(np.int64)
    images = _composite(sprites, meta["object_id"].to_numpy(), np.concatenate(poses),
                        torch.cat(backgrounds), image_size)
    return images, meta


def _composite(sprites, object_ids, poses, backgrounds, image_size) -> np.ndarray:
    """Paste ``sprites[object_ids]`` at ``poses`` (tx, ty, scale, rotation_deg) onto the upsampled
    low-resolution background noise."""
    pose = torch.from_numpy(poses).float()
    tx, ty, scale, rot = pose.T
    # affine_grid maps output coordinates p to sprite coordinates q = R^-1 (p - t) / extent. With y
    # pointing down, a counter-clockwise rotation on screen by `rot` is the matrix R(-rot).
    extent = scale * OBJECT_RADIUS / _FILL
    a = torch.deg2rad(rot)
    cos, sin = torch.cos(a) / extent, torch.sin(a) / extent
    theta = torch.stack([torch.stack([cos, -sin, -(cos * tx - sin * ty)], 1),
                         torch.stack([sin, cos, -(sin * tx + cos * ty)], 1)], 1)
    out = np.empty((len(pose), image_size, image_size, 3), np.uint8)
    idx = torch.from_numpy(np.array(object_ids, dtype=np.int64))  # a copy: pandas arrays are read-only
    for i in range(0, len(pose), _BATCH):
        j = slice(i, i + _BATCH)
        grid = F.affine_grid(theta[j], [len(theta[j]), 4, image_size, image_size], align_corners=False)
        obj = F.grid_sample(sprites[idx[j]], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        bg = F.interpolate(backgrounds[j], size=(image_size, image_size), mode="bilinear", align_corners=False)
        img = torch.addcmul(obj[:, :3], 1 - obj[:, 3:], bg)  # premultiplied alpha "over"
        img = img.clamp_(0, 1).mul_(255).round_()
        out[j] = img.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


# ------------------------------------------------------------------------------------ persistence
def _ids_digest(ids) -> str:
    return hashlib.sha1("\n".join(map(str, ids)).encode()).hexdigest()


def save_stimuli(images: np.ndarray, meta: pd.DataFrame, images_path: str | os.PathLike,
                 meta_path: str | os.PathLike) -> None:
    """Write ``images`` (key ``images``) to safetensors and ``meta`` to Parquet, atomically.

    The safetensors header records the row count and a sha1 of the ``stimulus_id`` sequence, so
    :class:`StimulusDataset` can tell when the two files come from different runs.
    """
    from convrnn.io import save_tensors, write_parquet

    # Generated sets carry every META_COLUMNS; converted real sets (HvM, Kar2019) only what the consumers need.
    check_image_set(images, meta, SAVED_COLUMNS)
    save_tensors({"images": images}, images_path,
                 metadata={"n_images": len(images), "stimulus_ids_sha1": _ids_digest(meta["stimulus_id"])})
    write_parquet(meta, meta_path)


def check_image_set(images, meta: pd.DataFrame, required_columns) -> None:
    """An image array and its metadata belong together: uint8 (N, H, W, 3), N unique ids, required columns."""
    _check_images(images, "images")
    missing = [c for c in required_columns if c not in meta.columns]
    if missing:
        raise ValueError(f"meta: missing column(s) {missing}")
    if len(meta) != len(images):
        raise ValueError(f"meta has {len(meta)} rows but images has {len(images)}")
    if meta["stimulus_id"].duplicated().any():
        raise ValueError("meta.stimulus_id has duplicates")


def _check_images(images, name: str) -> None:
    if images.dtype not in (np.uint8, torch.uint8) or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name}: expected uint8 (N, H, W, 3), got {images.dtype} {tuple(images.shape)}")


def normalize(images_uint8) -> torch.Tensor:
    """uint8 (N, H, W, 3) numpy/torch -> float32 (N, 3, H, W), scaled to [0, 1] and ImageNet-standardised."""
    _check_images(images_uint8, "images_uint8")
    x = torch.as_tensor(images_uint8).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


class StimulusDataset(torch.utils.data.Dataset):
    """(normalised image (3, H, W) float32, integer label) pairs from :func:`save_stimuli` files.

    ``augment=True`` adds a random horizontal flip and a shift of up to ``image_size // 8`` pixels
    (edge-replicated). The draws are a function of ``(seed, epoch, index)`` only (call
    :meth:`set_epoch` each epoch), so they are reproducible and independent of DataLoader workers.
    """

    def __init__(self, images_path: str | os.PathLike, meta_path: str | os.PathLike,
                 label_column: str = "category_id", augment: bool = False, seed: int = 0):
        from convrnn.io import load_tensors, read_parquet, tensor_metadata

        self.meta = read_parquet(meta_path, required=["stimulus_id", label_column])
        self.images = load_tensors(images_path, keys=["images"])["images"]
        header = tensor_metadata(images_path)
        _check_images(self.images, f"{images_path}: tensor 'images'")
        if len(self.images) != len(self.meta):
            raise ValueError(f"{meta_path}: {len(self.meta)} rows, but {images_path} "
                             f"holds {len(self.images)} images")
        if not len(self.images):
            raise ValueError(f"{images_path}: an empty stimulus set (no images)")
        digest = header.get("stimulus_ids_sha1")
        if digest is not None and digest != _ids_digest(self.meta["stimulus_id"]):
            raise ValueError(f"{meta_path}: stimulus_id sequence does not match the one recorded in {images_path}")
        labels = self.meta[label_column]
        if not pd.api.types.is_integer_dtype(labels):
            raise ValueError(f"{meta_path}: label column {label_column!r} must be integer, got {labels.dtype}")
        self.labels = labels.to_numpy(np.int64)
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        img = self.images[index]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            size = img.shape[0]
            pad = max(1, size // 8)
            dy, dx = rng.integers(0, 2 * pad + 1, 2)
            img = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")[dy:dy + size, dx:dx + img.shape[1]]
            if rng.uniform() < 0.5:
                img = img[:, ::-1]
        return normalize(np.ascontiguousarray(img)[None])[0], int(self.labels[index])


def load_stimuli(images_path: str | os.PathLike, meta_path: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """The ``(images uint8 (N, H, W, 3), meta)`` pair written by :func:`save_stimuli`, checked to belong together."""
    ds = StimulusDataset(images_path, meta_path, label_column="object_id")
    return np.asarray(ds.images), ds.meta
