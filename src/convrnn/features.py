"""Model features per layer x time step on a stimulus set, optionally reduced by PCA.

Storage: :mod:`convrnn.feature_sets` (torch-free, for the jobs that only read features).

PCA: fitted per layer on the rows (image, step) of a seeded subset of the stimuli, pooling all steps so that one
basis serves every time step (features stay comparable across time). Brain-Score likewise reduces large layers by
PCA before regression; here the basis is fit on the stimulus set itself (no ImageNet pass is available offline).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from convrnn.data.stimuli import normalize
from convrnn.feature_sets import FeatureSet

log = logging.getLogger(__name__)


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


@torch.no_grad()
def _unroll_batch(model, images_uint8: np.ndarray, sl: slice, times: int, image_off: int, layers, device):
    x = normalize(images_uint8[sl]).to(device)
    out = model.unroll(x, times=times, image_off=image_off, record=list(layers))
    feats = {k: v.flatten(2).float().cpu() for k, v in out.features.items()}  # (T, B, D)
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


def extract_features(
    model: torch.nn.Module,
    images_uint8: np.ndarray,
    stimulus_ids: Sequence[str],
    *,
    times: int,
    image_off: int,
    layers: Sequence[str] | None = None,
    batch_size: int = 64,
    pca_components: int = 0,
    pca_fit_images: int = 1000,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> FeatureSet:
    if len(stimulus_ids) != len(images_uint8):
        raise ValueError(f"{len(stimulus_ids)} stimulus ids for {len(images_uint8)} images")
    layers = list(model.layer_names if layers in (None, "all") else layers)
    unknown = [l for l in layers if l not in model.layer_names]
    if unknown:
        raise ValueError(f"features.layers: unknown layer(s) {unknown}; model has {model.layer_names}")
    model = model.to(device).eval()
    n = len(images_uint8)

    # Pass 1 (only with PCA): fit a per-layer basis on a seeded subset of images, all steps pooled.
    bases: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = {}
    if pca_components > 0:
        fit_idx = np.sort(np.random.default_rng(seed).permutation(n)[: min(n, pca_fit_images)])
        fit_images = images_uint8[fit_idx]
        rows: dict[str, list[torch.Tensor]] = {l: [] for l in layers}
        for sl in _batches(len(fit_idx), batch_size):
            feats, _ = _unroll_batch(model, fit_images, sl, times, image_off, layers, device)
            for l in layers:
                rows[l].append(feats[l].reshape(-1, feats[l].shape[-1]))
        for l in layers:
            r = torch.cat(rows[l])
            if r.shape[1] > pca_components:
                bases[l] = _fit_pca(r, pca_components, seed)
        del rows

    # Pass 2: every image, projected.
    out: dict[str, np.ndarray] = {}
    raw_dims: dict[str, int] = {}
    logits = None
    for sl in _batches(n, batch_size):
        feats, lg = _unroll_batch(model, images_uint8, sl, times, image_off, layers, device)
        if logits is None:
            logits = np.empty((times, n, lg.shape[-1]), np.float32)
        logits[:, sl] = lg.numpy()
        for l in layers:
            f = feats[l]
            raw_dims[l] = f.shape[-1]
            if l in bases:
                mean, comps, _ = bases[l]
                f = (f - mean) @ comps
            if l not in out:
                out[l] = np.empty((times, n, f.shape[-1]), np.float32)
            out[l][:, sl] = f.numpy()

    index = pd.DataFrame(
        [
            {
                "layer": l,
                "layer_index": model.layer_names.index(l),
                "model_step": t,
                "n_features": out[l].shape[-1],
                "n_raw_features": raw_dims[l],
                "pca_explained_variance": bases[l][2] if l in bases else 1.0,
            }
            for l in layers
            for t in range(times)
        ]
    )
    return FeatureSet(out, logits, index, list(stimulus_ids))
