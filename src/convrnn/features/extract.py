"""Model features per layer x time step on a stimulus set, optionally reduced by PCA.

Storage: :mod:`convrnn.features.store` (torch-free, for the jobs that only read features).

Time: a recurrent model is unrolled biologically over the neural presentation (image on for ``image_off`` steps,
then gray; ``time_course = "unrolled"``, T steps). A static model (feed-forward, or trained as a static map:
``model.static``) can instead be recorded once, as its response to the image (``time_course = "static"``, T = 1);
how those static features are placed on the neural time axis (every bin, or successive layers over successive bins)
is decided downstream (``convrnn.neural.placement``), so changing it re-extracts nothing.

PCA (docs/references.md, Neural metrics): per layer, a basis fitted on images that are never scored (Brain-Score
fits its layer PCA on ImageNet validation images; offline, the generated training images), one row per PCA image at
one seeded random step of the presentation (all steps pooled, so one basis serves every step and features stay
comparable across time), then applied to every step of the scored images.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from convrnn.data.stimuli import normalize
from convrnn.features.store import FeatureSet

log = logging.getLogger(__name__)
TIME_COURSES = ("unrolled", "static")


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


POOLS = ("avg", "max")


def _pooled(v: torch.Tensor, pool: str | None) -> torch.Tensor:
    """(T, B, C, H, W) -> (T, B, C) spatially averaged or maximised (``pool``), else as it is."""
    if pool is None or v.dim() < 5:
        return v
    return v.mean((-2, -1)) if pool == "avg" else v.amax((-2, -1))


@torch.no_grad()
def _record_batch(model, images_uint8: np.ndarray, sl: slice, times: int, image_off: int, layers, device,
                  static: bool, pool: str | None = None):
    x = normalize(images_uint8[sl]).to(device)
    out = (model.static_response(x, record=list(layers)) if static
           else model.unroll(x, times=times, image_off=image_off, record=list(layers)))
    feats = {k: _pooled(v, pool).flatten(2).float().cpu() for k, v in out.features.items()}  # (T, B, D)
    return feats, out.logits.float().cpu()


def _fit_pca(rows: torch.Tensor, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Return (mean (D,), components (D, k), explained variance fraction) of ``rows`` (R, D)."""
    rows = rows.double()
    mean = rows.mean(0)
    centered = rows - mean
    k = min(k, *centered.shape)
    torch.manual_seed(seed)
    _, s, v = torch.svd_lowrank(centered, q=min(k + 10, *centered.shape), niter=4)
    total = centered.pow(2).sum().clamp_min(1e-12)
    explained = float((s[:k] ** 2).sum() / total)
    return mean.float(), v[:, :k].float(), explained


def pca_subset(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The ``n`` images of ``pool`` a PCA basis is fitted on: a seeded draw, kept in pool order (the DAG's
    extract_features and the exported Brain-Score model draw the same ones)."""
    pick = np.random.default_rng(seed).permutation(len(pool))[:n]
    return pool[np.sort(pick)]


def fit_pca_bases(model, pca_images: np.ndarray, layers: Sequence[str], *, components: int, times: int,
                  image_off: int, static: bool, batch_size: int, device, seed: int, pool: str | None = None) -> dict:
    """Per layer wider than ``components``: (mean, components, explained variance) fitted on ``pca_images``, one row
    per image at a seeded random step (the whole presentation pooled). ``pool``: as ``extract_features``."""
    steps = 1 if static else times
    pick = np.random.default_rng([seed, 7]).integers(0, steps, len(pca_images))
    rows: dict[str, list[torch.Tensor]] = {l: [] for l in layers}
    for sl in _batches(len(pca_images), batch_size):
        feats, _ = _record_batch(model, pca_images, sl, times, image_off, layers, device, static, pool)
        idx = torch.as_tensor(pick[sl])
        for l in layers:
            rows[l].append(feats[l][idx, torch.arange(len(idx))])               # (B, D)
    bases = {}
    for l in layers:
        r = torch.cat(rows[l])
        if r.shape[1] > components:
            bases[l] = _fit_pca(r, components, seed)
    return bases


def extract_features(
    model: torch.nn.Module,
    images_uint8: np.ndarray,
    stimulus_ids: Sequence[str],
    *,
    times: int,
    image_off: int,
    layers: Sequence[str] | None = None,
    static: bool = False,
    batch_size: int = 64,
    pca_components: int = 0,
    pca_images: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    pool: str | None = None,
    pca_bases: dict | None = None,
) -> FeatureSet:
    """Features of ``layers`` (default all) on the images. ``static``: record a static model (``model.static``) once
    (T=1) instead of unrolling it; recurrent models are always unrolled. ``pca_images``: uint8 images the PCA basis is
    fitted on (required when ``pca_components > 0``; never the scored images). ``pool``: ``"avg"`` / ``"max"`` over
    each conv map's positions before flattening (D = channels). ``pca_bases``: bases ``fit_pca_bases`` returned
    earlier (an exported model's, or one fitted once for images processed in chunks): applied as they are, nothing
    is fitted."""
    if len(stimulus_ids) != len(images_uint8):
        raise ValueError(f"{len(stimulus_ids)} stimulus ids for {len(images_uint8)} images")
    layers = list(model.layer_names if layers in (None, "all") else layers)
    unknown = [l for l in layers if l not in model.layer_names]
    if unknown:
        raise ValueError(f"features.layers: unknown layer(s) {unknown}; model has {model.layer_names}")
    if pool not in (None, *POOLS):
        raise ValueError(f"pool must be one of {POOLS} or None, got {pool!r}")
    if pca_bases is None and pca_components > 0 and (pca_images is None or not len(pca_images)):
        raise ValueError("features.pca_components > 0 needs PCA images (never the scored stimuli)")
    static = bool(static and getattr(model, "static", False))
    model = model.to(device).eval()
    n = len(images_uint8)
    steps = 1 if static else times

    bases = dict(pca_bases or {})
    if pca_bases is None and pca_components > 0:
        bases = fit_pca_bases(model, pca_images, layers, components=pca_components, times=times, image_off=image_off,
                              static=static, batch_size=batch_size, device=device, seed=seed, pool=pool)

    out: dict[str, np.ndarray] = {}
    raw_dims: dict[str, int] = {}
    logits = None
    for sl in _batches(n, batch_size):
        feats, lg = _record_batch(model, images_uint8, sl, times, image_off, layers, device, static, pool)
        if logits is None:
            logits = np.empty((steps, n, lg.shape[-1]), np.float32)
        logits[:, sl] = lg.numpy()
        for l in layers:
            f = feats[l]
            raw_dims[l] = f.shape[-1]
            if l in bases:
                mean, comps, _ = bases[l]
                f = (f - mean) @ comps
            if l not in out:
                out[l] = np.empty((steps, n, f.shape[-1]), np.float32)
            out[l][:, sl] = f.numpy()

    index = pd.DataFrame(
        [
            {
                "layer": l,
                "layer_index": model.layer_names.index(l),
                "model_step": t,
                "time_course": "static" if static else "unrolled",
                "n_features": out[l].shape[-1],
                "n_raw_features": raw_dims[l],
                "pca_explained_variance": bases[l][2] if l in bases else 1.0,
            }
            for l in layers
            for t in range(steps)
        ]
    )
    return FeatureSet(out, logits, index, list(stimulus_ids))
